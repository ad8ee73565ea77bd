//! `-M virt`: QEMU's generic RISC-V board, with QEMU's memory map so firmware and kernels built for
//! it run unchanged — CLINT, PLIC, NS16550A UART, virtio-mmio slots, the `sifive_test` finisher, a
//! goldfish RTC, and a device tree generated from this description.
//!
//! Boot follows QEMU: the firmware (OpenSBI `fw_dynamic` by default) at the start of DRAM, the
//! kernel at the next 2 MiB boundary, the initrd and the device tree high in DRAM, and the
//! fw_dynamic hand-off a0 = hart id, a1 = FDT, a2 = `fw_dynamic_info`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use mimic_accel::tcg::{TcgOptions, TcgVcpu};
use mimic_frontend::riscv64::translate::RiscvFrontend;
use mimic_frontend::riscv64::RiscvCpu;
use mimic_hw::address_space::MemRegionSpec;
use mimic_hw::clock::Clock;
use mimic_hw::devices::clint::{Clint, CLINT_SIZE};
use mimic_hw::devices::goldfish_rtc::{GoldfishRtc, GOLDFISH_RTC_SIZE};
use mimic_hw::devices::plic::{self, Plic, VIRT_NUM_SOURCES, VIRT_PLIC_SIZE};
use mimic_hw::devices::sifive_test::{SifiveTest, SIFIVE_TEST_SIZE};
use mimic_hw::devices::uart16550::Uart16550;
use mimic_hw::devices::virtio::blk::VirtioBlk;
use mimic_hw::devices::virtio::console::VirtioConsole;
use mimic_hw::devices::virtio::mmio::EmptySlot;
use mimic_hw::devices::virtio::rng::VirtioRng;
use mimic_hw::devices::virtio::{GuestRam, LateRam, MmioTransport};
use mimic_hw::irq::PendingBits;
use mimic_hw::{AddressSpace, PowerControl};

use super::fdt::{self, FdtConfig};
use crate::loader;
use crate::memmap::{self, MemMapEntry};
use crate::{Bios, ConsolePump, DeviceSpec, Machine, MachineConfig, MachineError, RunOutcome};

const NAME: &str = "virt";

pub const MEMMAP: &[MemMapEntry] = &[
    MemMapEntry { name: "test", base: 0x10_0000, size: SIFIVE_TEST_SIZE },
    MemMapEntry { name: "rtc", base: 0x10_1000, size: GOLDFISH_RTC_SIZE },
    MemMapEntry { name: "clint", base: 0x200_0000, size: CLINT_SIZE },
    MemMapEntry { name: "plic", base: 0xc00_0000, size: VIRT_PLIC_SIZE },
    MemMapEntry { name: "uart0", base: 0x1000_0000, size: 0x100 },
    MemMapEntry { name: "virtio", base: 0x1000_1000, size: 0x1000 * VIRTIO_SLOTS as u64 },
    MemMapEntry { name: "dram", base: 0x8000_0000, size: 128 << 20 },
];

pub const VIRTIO_SLOTS: u32 = 8;
/// QEMU's limit for the board (`VIRT_CPUS_MAX`); the CLINT and PLIC maps have room for it.
pub const MAX_HARTS: u32 = 512;
const UART0_IRQ: u32 = 10;
const RTC_IRQ: u32 = 11;
/// virtio slot `i` interrupts on PLIC source `VIRTIO_IRQ + i`.
const VIRTIO_IRQ: u32 = 1;
const TIMEBASE_HZ: u64 = 10_000_000;
const UART_CLOCK_HZ: u32 = 3_686_400;

const MSIP_BIT: u32 = 3;
const MTIP_BIT: u32 = 7;
const SEIP_BIT: u32 = 9;
const MEIP_BIT: u32 = 11;

/// Where Debian's `opensbi` package installs the firmware QEMU uses by default.
pub const DEFAULT_BIOS: &str = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin";

const FW_DYNAMIC_MAGIC: u64 = 0x4942_534f; // "OSBI"
const FW_DYNAMIC_VERSION: u64 = 2;
const FW_DYNAMIC_NEXT_MODE_S: u64 = 1;

pub const ISA: &str = "rv64imafdc_zicsr_zifencei_zba_zbb_zbs_sstc";
pub const ISA_EXTENSIONS: &[&str] = &["i", "m", "a", "f", "d", "c", "zicsr", "zifencei", "zba", "zbb", "zbs", "sstc"];

pub struct Virt {
    vcpu: super::RiscvVcpu,
    stats: bool,
}

/// Where each boot image went.
struct BootLayout {
    entry: u64,
    fdt_addr: u64,
    fw_info_addr: u64,
}

fn align_up(v: u64, a: u64) -> u64 {
    v.div_ceil(a) * a
}

/// Load the kernel: an ELF (relocated to `at` as QEMU does if it is linked elsewhere), a RISC-V
/// Linux Image, or a flat binary. Returns `(entry, end)`.
fn load_kernel(mem: &AddressSpace, path: &Path, at: u64, dram_base: u64) -> Result<(u64, u64), MachineError> {
    let mut image = loader::ImageFile::open(path)?;
    if loader::is_elf(image.head()) {
        let l = loader::load_riscv_elf(mem, path, &image.into_bytes()?)?;
        return Ok((l.entry, l.high));
    }
    if loader::is_riscv_image(image.head()) {
        let img = loader::load_riscv_image(mem, &mut image, dram_base)?;
        return Ok((img.load_addr, img.end));
    }
    let end = loader::load_flat(mem, &mut image, at)?;
    Ok((at, end))
}

/// Where the initrd goes after a kernel entered at `kernel_entry` (loaded at `kernel_at` when it
/// has no entry of its own) and ending at `kernel_end`: far enough above the kernel that
/// decompression cannot clobber it (QEMU's rule: half of RAM, at most 128 MiB, past the kernel
/// start), and never below the kernel's end. The entry comes from the image (any value an ELF
/// header holds): None when the placement would pass the end of the address space.
#[doc(hidden)] // public for the fuzz targets
pub fn initrd_start(kernel_entry: Option<u64>, kernel_at: u64, kernel_end: u64, ram_size: u64) -> Option<u64> {
    let after_entry = kernel_entry.unwrap_or(kernel_at).checked_add((ram_size / 2).min(128 << 20))?;
    Some(after_entry.checked_next_multiple_of(0x1000)?.max(kernel_end.checked_next_multiple_of(0x1000)?))
}

impl Virt {
    pub fn new(mut config: MachineConfig) -> Result<Self, MachineError> {
        super::check_tcg_config(NAME, &config, MAX_HARTS)?;
        let dram = memmap::entry(MEMMAP, "dram");
        let ram_size = config.memory.unwrap_or(dram.size);
        let mut mem = AddressSpace::new(&[MemRegionSpec::ram("dram", dram.base, ram_size)])?;

        let power = Arc::new(PowerControl::new());
        let clock = Arc::new(Clock::new(TIMEBASE_HZ));
        // Each hart's interrupt-pending bits, which the CLINT and PLIC drive.
        let hart_irqs: Vec<Arc<PendingBits>> = (0..config.smp).map(|_| PendingBits::new()).collect();

        let clint_lines = hart_irqs.iter().map(|irqs| (irqs.line(MSIP_BIT), irqs.line(MTIP_BIT))).collect();
        let clint = Arc::new(Mutex::new(Clint::new(clock.clone(), clint_lines)));
        let e = memmap::entry(MEMMAP, "clint");
        mem.add_mmio(e.base, e.size, clint.clone())?;

        // Context 2h is hart h's M-mode external interrupt, context 2h+1 its S-mode one.
        let plic_contexts = hart_irqs.iter().flat_map(|irqs| [irqs.line(MEIP_BIT), irqs.line(SEIP_BIT)]).collect();
        let plic = Arc::new(Mutex::new(Plic::new(VIRT_NUM_SOURCES, plic_contexts)));
        let e = memmap::entry(MEMMAP, "plic");
        mem.add_mmio(e.base, e.size, plic.clone())?;

        // The UART and a virtio console (if any) write to the same host console.
        let console = config.console.clone();
        let uart = Arc::new(Mutex::new(Uart16550::new(Box::new(console.clone()), plic::input_line(&plic, UART0_IRQ))));
        let e = memmap::entry(MEMMAP, "uart0");
        mem.add_mmio(e.base, e.size, uart.clone())?;

        let e = memmap::entry(MEMMAP, "test");
        mem.add_mmio(e.base, e.size, Arc::new(Mutex::new(SifiveTest::new(power.clone()))))?;
        let e = memmap::entry(MEMMAP, "rtc");
        let rtc = Arc::new(Mutex::new(GoldfishRtc::new(plic::input_line(&plic, RTC_IRQ))));
        mem.add_mmio(e.base, e.size, rtc.clone())?;

        let virtio = memmap::entry(MEMMAP, "virtio");
        let slots: Vec<(MemMapEntry, u32)> = (0..VIRTIO_SLOTS)
            .map(|i| (MemMapEntry { name: "virtio_mmio", base: virtio.base + 0x1000 * i as u64, size: 0x1000 }, VIRTIO_IRQ + i))
            .collect();
        // Devices take the highest free slot first: Linux probes the device tree backwards, so the
        // first -drive becomes /dev/vda, as on QEMU.
        let late_ram = LateRam::new();
        let dma: Arc<dyn GuestRam> = late_ram.clone();
        let mut free = slots.iter().rev();
        let mut next_slot = |what: &str| {
            free.next().copied().ok_or_else(|| MachineError::Unsupported { machine: NAME, reason: format!("no free virtio-mmio slot for {what}") })
        };
        for d in &config.drives {
            let (win, irq) = next_slot("a drive")?;
            let blk = VirtioBlk::open(&d.path, d.read_only)
                .map_err(|e| MachineError::Unsupported { machine: NAME, reason: format!("-drive: cannot open '{}': {e}", d.path.display()) })?;
            let t = MmioTransport::new(blk, dma.clone(), plic::input_line(&plic, irq));
            mem.add_mmio(win.base, win.size, Arc::new(Mutex::new(t)))?;
        }
        for dev in &config.devices {
            match dev {
                DeviceSpec::VirtioRng => {
                    let (win, irq) = next_slot("virtio-rng")?;
                    let rng = VirtioRng::new().map_err(|e| MachineError::Unsupported { machine: NAME, reason: format!("virtio-rng: {e}") })?;
                    let t = MmioTransport::new(rng, dma.clone(), plic::input_line(&plic, irq));
                    mem.add_mmio(win.base, win.size, Arc::new(Mutex::new(t)))?;
                }
                DeviceSpec::VirtioConsole => {
                    let (win, irq) = next_slot("virtio-console")?;
                    let dev = VirtioConsole::new(Box::new(console.clone()));
                    let t = MmioTransport::new(dev, dma.clone(), plic::input_line(&plic, irq));
                    mem.add_mmio(win.base, win.size, Arc::new(Mutex::new(t)))?;
                }
                DeviceSpec::IsaDebugExit { .. } => {
                    return Err(MachineError::Unsupported { machine: NAME, reason: "isa-debug-exit is an x86 port I/O device (use -M microvm)".into() })
                }
            }
        }
        for (win, _) in slots.iter() {
            if !mem.mmio_bus().contains(win.base) {
                mem.add_mmio(win.base, win.size, Arc::new(Mutex::new(EmptySlot)))?;
            }
        }
        let mem = Arc::new(mem);
        late_ram.bind(&(mem.clone() as Arc<dyn GuestRam>));
        let boot = Self::load_images(&mem, &config, ram_size, &slots)?;

        // Every hart starts at the same entry, as on QEMU: the firmware (or the kernel) elects
        // the boot hart itself.
        let cpus = hart_irqs
            .into_iter()
            .enumerate()
            .map(|(hart, irqs)| {
                let mut cpu = RiscvCpu::new(hart as u64, mem.clone(), irqs, clock.clone());
                cpu.reset(boot.entry);
                cpu.set_x(10, hart as u64); // a0: hart id
                cpu.set_x(11, boot.fdt_addr); // a1: device tree
                cpu.set_x(12, boot.fw_info_addr); // a2: fw_dynamic_info (ignored by a kernel started directly)
                cpu
            })
            .collect();

        let poll_clint = clint.clone();
        let poll_uart = uart.clone();
        let poll_rtc = rtc.clone();
        let mut console_pump = ConsolePump::new(config.console_input.take(), power.clone());
        let opts = TcgOptions {
            log: super::log_mask(&config.log),
            log_sink: Box::new(config.log_sink.clone()),
            poll: Some(Box::new(move || {
                console_pump.pump(|bytes| poll_uart.lock().unwrap_or_else(|p| p.into_inner()).enqueue_input(bytes));
                let mut rtc = poll_rtc.lock().unwrap_or_else(|p| p.into_inner());
                rtc.poll();
                let mut clint = poll_clint.lock().unwrap_or_else(|p| p.into_inner());
                clint.poll();
                // Console input must be noticed promptly even when no timer is armed.
                let input_wait = 2_000_000;
                let deadline = [clint.next_deadline_ns(), rtc.next_deadline_ns()].into_iter().flatten().min();
                Some(deadline.map_or(input_wait, |d| d.min(input_wait)))
            })),
            // The host usually has a core to spare for Cranelift while the guest keeps running.
            background_compile: true,
            regions: true,
            jit_threshold: mimic_accel::tcg::BACKGROUND_JIT_THRESHOLD,
            baseline: Some(mimic_accel::tcg::DEFAULT_BASELINE_THRESHOLD),
            ..TcgOptions::default()
        };
        let vcpu = TcgVcpu::new_smp(cpus, RiscvFrontend, mem, power, opts)?;
        Ok(Self { vcpu, stats: config.stats })
    }

    fn load_images(mem: &AddressSpace, config: &MachineConfig, ram_size: u64, slots: &[(MemMapEntry, u32)]) -> Result<BootLayout, MachineError> {
        let dram = memmap::entry(MEMMAP, "dram");
        let ram_end = dram.base + ram_size;
        // Firmware at the start of DRAM; the kernel at the next 2 MiB boundary after it.
        let (firmware, fw_entry_end) = match &config.bios {
            Bios::None => (None, dram.base),
            Bios::Default => {
                let p = PathBuf::from(DEFAULT_BIOS);
                if !p.exists() {
                    return Err(MachineError::Missing {
                        machine: NAME,
                        what: format!("firmware {DEFAULT_BIOS} (install Debian's 'opensbi' package, or use -bios none / -bios FILE)"),
                    });
                }
                let (entry, end) = load_kernel(mem, &p, dram.base, dram.base)?;
                (Some(entry), end)
            }
            Bios::Path(p) => {
                let (entry, end) = load_kernel(mem, p, dram.base, dram.base)?;
                (Some(entry), end)
            }
        };
        let kernel_at = if firmware.is_some() { align_up(fw_entry_end, 2 << 20) } else { dram.base };
        let (kernel_entry, kernel_end) = match &config.kernel {
            Some(k) => {
                let (entry, end) = load_kernel(mem, k, kernel_at, dram.base)?;
                (Some(entry), end)
            }
            None => (None, kernel_at),
        };
        if firmware.is_none() && kernel_entry.is_none() {
            return Err(MachineError::Missing { machine: NAME, what: "-kernel FILE or firmware (-bios)".into() });
        }
        let initrd = match &config.initrd {
            Some(path) => {
                let mut image = loader::ImageFile::open(path)?;
                let Some(start) = initrd_start(kernel_entry, kernel_at, kernel_end, ram_size) else {
                    return Err(MachineError::Unsupported { machine: NAME, reason: "no room for the initrd above the kernel".into() });
                };
                let end = loader::load_flat(mem, &mut image, start)?;
                Some((start, end))
            }
            None => None,
        };
        let bootargs = config.append.clone();
        let fdt_cfg = FdtConfig {
            harts: config.smp,
            ram_base: dram.base,
            ram_size,
            timebase_hz: TIMEBASE_HZ,
            isa: ISA,
            isa_extensions: ISA_EXTENSIONS,
            mmu_type: "riscv,sv48",
            bootargs: bootargs.as_deref(),
            initrd,
            rng_seed: fdt::host_rng_seed(),
            clint: memmap::entry(MEMMAP, "clint"),
            plic: memmap::entry(MEMMAP, "plic"),
            plic_ndev: VIRT_NUM_SOURCES - 1,
            uart: memmap::entry(MEMMAP, "uart0"),
            uart_irq: UART0_IRQ,
            uart_clock_hz: UART_CLOCK_HZ,
            virtio: slots.to_vec(),
            test: memmap::entry(MEMMAP, "test"),
            rtc: memmap::entry(MEMMAP, "rtc"),
            rtc_irq: RTC_IRQ,
        };
        let dtb = fdt::build(&fdt_cfg).map_err(|e| MachineError::Unsupported { machine: NAME, reason: format!("device tree: {e}") })?;
        if let Some(path) = &config.dumpdtb {
            std::fs::write(path, &dtb).map_err(|e| MachineError::Unsupported { machine: NAME, reason: format!("dumpdtb: cannot write '{}': {e}", path.display()) })?;
        }
        // The FDT at the top of DRAM (below 4 GiB for 32-bit-clean firmware), 2 MiB aligned as QEMU does;
        // fw_dynamic_info just below it.
        let top = ram_end.min(0x1_0000_0000);
        let fdt_addr = (top - dtb.len() as u64) & !((2 << 20) - 1);
        if fdt_addr < kernel_end || initrd.is_some_and(|(_, e)| fdt_addr < e) {
            return Err(MachineError::Unsupported { machine: NAME, reason: format!("-m {} MiB is too small for these images", ram_size >> 20) });
        }
        mem.load(fdt_addr, &dtb)?;
        let fw_info_addr = fdt_addr - 0x1000;
        let next = kernel_entry.unwrap_or(0);
        let info: Vec<u8> = [FW_DYNAMIC_MAGIC, FW_DYNAMIC_VERSION, next, FW_DYNAMIC_NEXT_MODE_S, 0, 0].iter().flat_map(|v| v.to_le_bytes()).collect();
        mem.load(fw_info_addr, &info)?;
        Ok(BootLayout { entry: firmware.or(kernel_entry).unwrap_or(dram.base), fdt_addr, fw_info_addr })
    }
}

impl Machine for Virt {
    fn run(&mut self) -> Result<RunOutcome, MachineError> {
        super::run_tcg(&mut self.vcpu, self.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memmap_is_disjoint() {
        memmap::check_disjoint(MEMMAP).unwrap();
    }

    #[test]
    fn initrd_placement_from_untrusted_entries() {
        let base = 0x8000_0000;
        assert_eq!(initrd_start(Some(base + 0x20_0000), base, base + 0x40_1234, 1 << 30), Some(base + 0x20_0000 + (128 << 20)));
        assert_eq!(initrd_start(None, base, base + 0x10_0001, 0x10_0000), Some(base + 0x10_1000), "above the kernel end");
        // An ELF entry at the top of the address space (found by the riscv_loader fuzz target).
        assert_eq!(initrd_start(Some(u64::MAX), base, base + 0x1000, 1 << 30), None);
        assert_eq!(initrd_start(Some(u64::MAX - (64 << 20) - 10), base, base + 0x1000, 128 << 20), None);
    }
}
