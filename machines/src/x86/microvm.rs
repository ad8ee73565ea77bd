//! `-M microvm` (x86-64, KVM only): QEMU's/Firecracker's minimal PC without PCI or firmware.
//!
//! Memory map (guest physical): RAM from 0 (below 3 GiB; the rest above 4 GiB), e820 with the
//! legacy hole 0x9fc00-0x100000 reserved (the MP table sits at 0x9fc00); eight virtio-mmio slots
//! at 0xfeb00000 + 0x200*i on GSIs 5+i; the in-kernel IOAPIC (0xfec00000) and LAPICs
//! (0xfee00000). Port I/O: 16550 UART at 0x3f8 (IRQ 4), i8042 at 0x60/0x64 (0xFE = reset),
//! isa-debug-exit at 0xf4 (size 4, on by default for test guests; `-device isa-debug-exit,
//! iobase=..,iosize=..` moves it), PIT in the kernel.
//!
//! Devices: each `-drive` (virtio-blk), then each `-device virtio-rng-device`, takes the lowest
//! free virtio-mmio slot; its interrupt is the slot's GSI on the in-kernel irqchip (level, as
//! the transport holds it until InterruptACK). There is no firmware table for them, so, as on
//! QEMU's microvm, the kernel command line gets `virtio_mmio.device=512@0xADDR:GSI` per device
//! (Linux registers them in that order, so the first -drive is /dev/vda).
//!
//! Boot (see `linux.rs`, `boot32.rs`): an ELF with a PVH note (vmlinux) or a multiboot kernel
//! in 32-bit protected mode, paging off, EBX = the boot information at 0x6000; otherwise a
//! bzImage through the Linux 64-bit boot protocol, an ELF64 at its entry, or a flat binary
//! loaded at 0x100000, started in 64-bit long mode with the first 4 GiB identity-mapped (2 MiB
//! pages), rsp = 0x80000 and rsi = the zero page at 0x7000.
//! Application processors wait for INIT/SIPI in the kernel's LAPIC, as on real hardware.
//!
//! Host console input (stdin) reaches the 16550 through a console thread running beside the
//! vCPU threads; it also turns Ctrl-A X into a VM stop that kicks the vCPUs out of KVM_RUN.
//!
//! A reset (triple fault, i8042 0xFE, KVM reset event) rebuilds the whole VM from the
//! configuration, as a power cycle would.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use mimic_accel::kvm::{self, KvmError, KvmVcpu, KvmVm, LongModeEntry, ProtectedModeEntry};
use mimic_accel::{AccelError, Vcpu, VcpuExit};
use mimic_hw::address_space::MemRegionSpec;
use mimic_hw::chardev::SharedWriter;
use mimic_hw::device::shared;
use mimic_hw::devices::debug_exit::{DebugExit, DEBUG_EXIT_IOBASE, DEBUG_EXIT_IOSIZE};
use mimic_hw::devices::i8042::{I8042, I8042_BASE, I8042_SIZE};
use mimic_hw::devices::virtio::blk::VirtioBlk;
use mimic_hw::devices::virtio::console::VirtioConsole;
use mimic_hw::devices::virtio::mmio::EmptySlot;
use mimic_hw::devices::virtio::rng::VirtioRng;
use mimic_hw::devices::virtio::{GuestRam, LateRam, MmioTransport};
use mimic_hw::devices::uart16550::{Uart16550, UART_REGS};
use mimic_hw::{AddressSpace, AddressSpaceError, Bus, BusError, IrqLine, IrqTrigger, PowerControl, PowerEvent};
use thiserror::Error;

use super::linux::{self, BootError, BootSpec, E820Entry, E820_RAM, E820_RESERVED};
use super::mptable;
use crate::memmap::MemMapEntry;
use crate::{ConsolePump, DeviceSpec, DriveSpec, SharedConsoleInput};

pub const MAX_SMP: u32 = 32;
pub const DEFAULT_MEMORY: u64 = 256 << 20;
/// Guest RAM below this stays low; the rest goes above 4 GiB.
const LOW_RAM_MAX: u64 = 0xc000_0000;
const HIGH_RAM_BASE: u64 = 1 << 32;
const LEGACY_HOLE: u64 = 0x10_0000;

pub const VIRTIO_MMIO_BASE: u64 = 0xfeb0_0000;
pub const VIRTIO_MMIO_SLOT: u64 = 0x200;
pub const VIRTIO_MMIO_SLOTS: u64 = 8;
pub const VIRTIO_GSI_BASE: u32 = 5;

pub const MEMMAP: &[MemMapEntry] = &[
    MemMapEntry { name: "ram", base: 0, size: DEFAULT_MEMORY },
    MemMapEntry { name: "virtio-mmio", base: VIRTIO_MMIO_BASE, size: VIRTIO_MMIO_SLOT * VIRTIO_MMIO_SLOTS },
    MemMapEntry { name: "ioapic", base: mptable::IOAPIC_ADDR as u64, size: 0x1000 },
    MemMapEntry { name: "lapic", base: mptable::LAPIC_ADDR as u64, size: 0x1000 },
    MemMapEntry { name: "ram-high", base: HIGH_RAM_BASE, size: 0 },
];

/// Port I/O map: (name, port, size).
pub const PIOMAP: &[(&str, u64, u64)] = &[("i8042", I8042_BASE, I8042_SIZE), ("isa-debug-exit", DEBUG_EXIT_IOBASE, DEBUG_EXIT_IOSIZE), ("serial", 0x3f8, UART_REGS)];
pub const SERIAL_GSI: u32 = 4;

/// The command line a Linux kernel gets without `-append`.
pub const DEFAULT_CMDLINE: &str = "console=ttyS0 reboot=k panic=-1 pci=off nomodules i8042.noaux i8042.nomux i8042.dumbkbd";

#[derive(Debug, Error)]
pub enum MicrovmError {
    #[error("microvm: {0}")]
    Config(String),
    #[error(transparent)]
    Kvm(#[from] KvmError),
    #[error(transparent)]
    Boot(#[from] BootError),
    #[error("guest memory: {0}")]
    Memory(#[from] AddressSpaceError),
    #[error("port I/O map: {0}")]
    Pio(#[from] BusError),
    #[error(transparent)]
    Accel(#[from] AccelError),
}

impl From<MicrovmError> for crate::MachineError {
    fn from(e: MicrovmError) -> Self {
        match e {
            MicrovmError::Accel(a) => crate::MachineError::Accel(a),
            other => crate::MachineError::Unsupported { machine: "microvm", reason: other.to_string() },
        }
    }
}

pub struct MicrovmConfig {
    /// Guest RAM in bytes.
    pub memory: u64,
    pub smp: u32,
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    pub cmdline: Option<String>,
    pub console: Box<dyn Write + Send>,
    /// `-drive` images: virtio-blk devices in the first free virtio-mmio slots.
    pub drives: Vec<DriveSpec>,
    /// `-device`s: virtio-rng in the next free slots; isa-debug-exit at its port.
    pub devices: Vec<DeviceSpec>,
    /// Host console input for the 16550 (and Ctrl-A X), read by a console thread while the
    /// vCPUs run.
    pub console_input: Option<SharedConsoleInput>,
}

impl MicrovmConfig {
    /// 256 MiB, one vCPU, no initrd, the default command line, no drives or devices.
    pub fn new(kernel: PathBuf, console: Box<dyn Write + Send>) -> Self {
        Self {
            memory: DEFAULT_MEMORY,
            smp: 1,
            kernel,
            initrd: None,
            cmdline: None,
            console,
            drives: Vec::new(),
            devices: Vec::new(),
            console_input: None,
        }
    }
}

/// A device's IRQ line to a GSI of a VM that is created after the device (the VM is built
/// from the address space holding the device). Nothing runs before it is bound, so no level
/// change is lost.
struct LateIrq {
    gsi: u32,
    line: OnceLock<IrqLine>,
}

impl IrqTrigger for LateIrq {
    fn set_level(&self, level: bool) {
        match self.line.get() {
            Some(l) => l.set(level),
            None => log::warn!("microvm: GSI {} set to {level} before the VM exists", self.gsi),
        }
    }
}

/// One power cycle's worth of machine.
struct Instance {
    mem: Arc<AddressSpace>,
    vm: KvmVm,
    vcpus: Vec<KvmVcpu>,
    /// The 16550 host input goes to.
    uart: Arc<Mutex<Uart16550>>,
    power: Arc<PowerControl>,
}

/// What a power cycle rebuilds the machine from.
struct Setup {
    memory: u64,
    smp: u32,
    kernel_path: PathBuf,
    kernel: Vec<u8>,
    initrd: Option<(PathBuf, Vec<u8>)>,
    cmdline: String,
    /// Survives resets: each rebuilt UART writes through it.
    console: SharedWriter,
    /// What each populated virtio-mmio slot holds, by slot index.
    virtio: Vec<VirtioSlot>,
    /// isa-debug-exit (port, size).
    debug_exit: (u64, u64),
    console_input: Option<SharedConsoleInput>,
}

/// The device behind one virtio-mmio slot (opened again on every power cycle).
#[derive(Clone, Debug, PartialEq, Eq)]
enum VirtioSlot {
    Blk(DriveSpec),
    Rng,
    Console,
}

/// Slot `i`'s window base and GSI.
pub fn virtio_slot(i: u64) -> (u64, u32) {
    (VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_SLOT, VIRTIO_GSI_BASE + i as u32)
}

/// The kernel command-line words announcing the first `n` slots to Linux, as QEMU's microvm
/// writes them (`virtio_mmio.device=<size>@<base>:<irq>`).
pub fn virtio_cmdline(n: usize) -> String {
    (0..n as u64)
        .map(|i| {
            let (base, gsi) = virtio_slot(i);
            format!("virtio_mmio.device={VIRTIO_MMIO_SLOT}@{base:#x}:{gsi}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub struct Microvm {
    setup: Setup,
    inst: Instance,
}

/// The e820 map for `memory` bytes of RAM laid out as [`ram_regions`] does.
pub fn e820(memory: u64) -> Vec<E820Entry> {
    let low = memory.min(LOW_RAM_MAX);
    let mut v = vec![
        E820Entry { addr: 0, size: mptable::MPTABLE_ADDR, kind: E820_RAM },
        E820Entry { addr: mptable::MPTABLE_ADDR, size: LEGACY_HOLE - mptable::MPTABLE_ADDR, kind: E820_RESERVED },
    ];
    if low > LEGACY_HOLE {
        v.push(E820Entry { addr: LEGACY_HOLE, size: low - LEGACY_HOLE, kind: E820_RAM });
    }
    if memory > low {
        v.push(E820Entry { addr: HIGH_RAM_BASE, size: memory - low, kind: E820_RAM });
    }
    v
}

fn ram_regions(memory: u64) -> Vec<MemRegionSpec> {
    let low = memory.min(LOW_RAM_MAX);
    let mut v = vec![MemRegionSpec::ram("ram", 0, low)];
    if memory > low {
        v.push(MemRegionSpec::ram("ram-high", HIGH_RAM_BASE, memory - low));
    }
    v
}

fn read(path: &Path) -> Result<Vec<u8>, MicrovmError> {
    std::fs::read(path).map_err(|source| BootError::Read { path: path.display().to_string(), source }.into())
}

impl Microvm {
    /// Check the configuration, read the kernel (and initrd), and build the VM.
    /// Build from the command line's configuration: `-accel kvm` is required, `-append` is the
    /// kernel command line, `-bios` does not apply (the VMM loads the kernel itself).
    pub fn from_config(mut config: crate::MachineConfig) -> Result<Self, crate::MachineError> {
        use crate::{AccelKind, Bios, MachineError};
        const NAME: &str = "microvm";
        if config.accel != AccelKind::Kvm {
            return Err(MachineError::Unsupported { machine: NAME, reason: "x86-64 guests need -accel kvm (x86 TCG is not implemented yet)".into() });
        }
        if let Some(cpu) = config.cpu.as_deref().filter(|c| !matches!(*c, "host" | "max")) {
            return Err(MachineError::Unsupported { machine: NAME, reason: format!("-cpu '{cpu}' is not supported (host)") });
        }
        if config.bios != Bios::Default && config.bios != Bios::None {
            return Err(MachineError::Unsupported { machine: NAME, reason: "-bios is not used: the kernel is loaded directly".into() });
        }
        let kernel = config.kernel.take().ok_or(MachineError::Missing { machine: NAME, what: "-kernel FILE".into() })?;
        let cfg = MicrovmConfig {
            memory: config.memory.unwrap_or(DEFAULT_MEMORY),
            smp: config.smp,
            kernel,
            initrd: config.initrd.take(),
            cmdline: config.append.take(),
            console: Box::new(config.console.clone()),
            drives: std::mem::take(&mut config.drives),
            devices: std::mem::take(&mut config.devices),
            console_input: config.console_input.clone(),
        };
        Ok(Self::new(cfg)?)
    }

    pub fn new(cfg: MicrovmConfig) -> Result<Self, MicrovmError> {
        if kvm::running_as_root() {
            // Printed, not logged: it must be seen whatever the log level.
            eprintln!("mimic: warning: running as root: KVM needs only read/write access to /dev/kvm; run Mimic as an unprivileged user in group 'kvm'");
        }
        if cfg.smp == 0 || cfg.smp > MAX_SMP {
            return Err(MicrovmError::Config(format!("-smp {} is out of range (1..={MAX_SMP})", cfg.smp)));
        }
        if cfg.memory < 2 << 20 || cfg.memory > 1 << 40 {
            return Err(MicrovmError::Config(format!("-m {} MiB is out of range (2 MiB..1 TiB)", cfg.memory >> 20)));
        }
        let kernel = read(&cfg.kernel)?;
        let initrd = match &cfg.initrd {
            Some(p) => Some((p.clone(), read(p)?)),
            None => None,
        };
        let mut virtio: Vec<VirtioSlot> = cfg.drives.iter().cloned().map(VirtioSlot::Blk).collect();
        let mut debug_exit = (DEBUG_EXIT_IOBASE, DEBUG_EXIT_IOSIZE);
        for d in &cfg.devices {
            match d {
                DeviceSpec::VirtioRng => virtio.push(VirtioSlot::Rng),
                DeviceSpec::VirtioConsole => virtio.push(VirtioSlot::Console),
                &DeviceSpec::IsaDebugExit { iobase, iosize } => {
                    if !(1..=4).contains(&iosize) {
                        return Err(MicrovmError::Config(format!("isa-debug-exit: iosize {iosize} is out of range (1..=4)")));
                    }
                    debug_exit = (u64::from(iobase), u64::from(iosize));
                }
            }
        }
        if virtio.len() as u64 > VIRTIO_MMIO_SLOTS {
            return Err(MicrovmError::Config(format!("{} virtio devices (-drive, virtio-rng, virtio-serial) but only {VIRTIO_MMIO_SLOTS} virtio-mmio slots", virtio.len())));
        }
        let mut cmdline = match (&cfg.cmdline, linux::detect(&kernel)) {
            (Some(c), _) => c.clone(),
            (None, linux::KernelKind::Flat) => String::new(),
            (None, _) => DEFAULT_CMDLINE.to_string(),
        };
        if !virtio.is_empty() {
            if !cmdline.is_empty() {
                cmdline.push(' ');
            }
            cmdline.push_str(&virtio_cmdline(virtio.len()));
        }
        let console = SharedWriter::new(cfg.console);
        let setup = Setup {
            memory: cfg.memory,
            smp: cfg.smp,
            kernel_path: cfg.kernel,
            kernel,
            initrd,
            cmdline,
            console,
            virtio,
            debug_exit,
            console_input: cfg.console_input,
        };
        let inst = setup.build()?;
        Ok(Self { setup, inst })
    }
}

impl Setup {
    fn build(&self) -> Result<Instance, MicrovmError> {
        let mut mem = AddressSpace::new(&ram_regions(self.memory))?;
        let low_ram_end = self.memory.min(LOW_RAM_MAX);
        let spec = BootSpec {
            path: &self.kernel_path,
            kernel: &self.kernel,
            initrd: self.initrd.as_ref().map(|(p, d)| (p.as_path(), d.as_slice())),
            cmdline: &self.cmdline,
            e820: &e820(self.memory),
            low_ram_end,
        };
        let entry = linux::load_kernel(&mem, &spec)?;
        mptable::write(&mem, self.smp)?;
        // The transports live in the address space the VM is built from, and their IRQ lines
        // go to the VM's irqchip: both ends are bound once everything exists.
        let late_ram = LateRam::new();
        let dma: Arc<dyn GuestRam> = late_ram.clone();
        let mut irqs = Vec::new();
        for i in 0..VIRTIO_MMIO_SLOTS {
            let (base, gsi) = virtio_slot(i);
            let mut irq = || {
                let l = Arc::new(LateIrq { gsi, line: OnceLock::new() });
                irqs.push(l.clone());
                IrqLine::new(l)
            };
            match self.virtio.get(i as usize) {
                Some(VirtioSlot::Blk(d)) => {
                    let blk = VirtioBlk::open(&d.path, d.read_only)
                        .map_err(|e| MicrovmError::Config(format!("-drive: cannot open '{}': {e}", d.path.display())))?;
                    mem.add_mmio(base, VIRTIO_MMIO_SLOT, shared(MmioTransport::new(blk, dma.clone(), irq())))?;
                }
                Some(VirtioSlot::Rng) => {
                    let rng = VirtioRng::new().map_err(|e| MicrovmError::Config(format!("virtio-rng: {e}")))?;
                    mem.add_mmio(base, VIRTIO_MMIO_SLOT, shared(MmioTransport::new(rng, dma.clone(), irq())))?;
                }
                Some(VirtioSlot::Console) => {
                    let con = VirtioConsole::new(Box::new(self.console.clone()));
                    mem.add_mmio(base, VIRTIO_MMIO_SLOT, shared(MmioTransport::new(con, dma.clone(), irq())))?;
                }
                None => mem.add_mmio(base, VIRTIO_MMIO_SLOT, shared(EmptySlot))?,
            }
        }
        let mem = Arc::new(mem);
        late_ram.bind(&(mem.clone() as Arc<dyn GuestRam>));
        let vm = KvmVm::new(mem.clone())?;
        if self.smp as usize > vm.max_vcpus() {
            return Err(MicrovmError::Config(format!("-smp {} exceeds this host's KVM limit of {}", self.smp, vm.max_vcpus())));
        }
        for l in irqs {
            let _ = l.line.set(vm.irq_line(l.gsi));
        }

        let power = Arc::new(PowerControl::new());
        let mut pio = Bus::new();
        pio.insert(I8042_BASE, I8042_SIZE, shared(I8042::new(power.clone())))?;
        let uart = shared(Uart16550::new(Box::new(self.console.clone()), vm.irq_line(SERIAL_GSI)));
        pio.insert(0x3f8, UART_REGS, uart.clone())?;
        let (port, size) = self.debug_exit;
        pio.insert(port, size, shared(DebugExit::new(power.clone())))
            .map_err(|e| MicrovmError::Config(format!("isa-debug-exit at port {port:#x}: {e}")))?;
        let pio = Arc::new(pio);

        let mut vcpus = Vec::with_capacity(self.smp as usize);
        for id in 0..self.smp {
            let vcpu = vm.create_vcpu(id, self.smp, pio.clone(), power.clone())?;
            if id == 0 {
                match entry.entry32 {
                    Some(r) => vcpu.setup_protected_mode(ProtectedModeEntry { eip: entry.rip as u32, esp: entry.rsp as u32, eax: r.eax, ebx: r.ebx })?,
                    None => vcpu.setup_long_mode(LongModeEntry { rip: entry.rip, rsp: entry.rsp, rsi: entry.boot_params })?,
                }
            }
            vcpus.push(vcpu);
        }
        log::info!("microvm: {} MiB, {} vCPU(s), entry {:#x}", self.memory >> 20, self.smp, entry.rip);
        Ok(Instance { mem, vm, vcpus, uart, power })
    }
}

impl Microvm {

    /// Run one power cycle: every vCPU on its own thread until the machine powers off or resets,
    /// and, with host console input, a console thread feeding it to the 16550.
    pub fn run_once(&mut self) -> Result<VcpuExit, MicrovmError> {
        let inst = &mut self.inst;
        let done = AtomicBool::new(false);
        let results: Vec<Result<VcpuExit, AccelError>> = std::thread::scope(|s| {
            if let Some(input) = self.setup.console_input.clone() {
                let (uart, power, stop, done) = (inst.uart.clone(), inst.power.clone(), inst.vm.stop().clone(), &done);
                let console = std::thread::Builder::new()
                    .name("console".into())
                    .spawn_scoped(s, move || console_thread(input, &uart, &power, &stop, done));
                if let Err(e) = console {
                    log::error!("microvm: cannot start the console thread (no serial input): {e}");
                }
            }
            let handles: Vec<_> = inst
                .vcpus
                .iter_mut()
                .map(|v| std::thread::Builder::new().name(format!("vcpu{}", v.id())).spawn_scoped(s, move || v.run()))
                .collect();
            let results = handles
                .into_iter()
                .map(|h| match h {
                    Ok(h) => h.join().unwrap_or_else(|_| Err(AccelError::Setup("vCPU thread panicked".into()))),
                    Err(e) => Err(AccelError::Setup(format!("cannot start a vCPU thread: {e}"))),
                })
                .collect();
            done.store(true, Ordering::Release);
            results
        });
        for r in results {
            r?;
        }
        Ok(inst.vm.stop().exit().unwrap_or(VcpuExit::Shutdown { exit_code: 0 }))
    }

    /// Run until the guest powers off (resets rebuild the VM); the process exit code.
    pub fn run(&mut self) -> Result<i32, MicrovmError> {
        loop {
            match self.run_once()? {
                VcpuExit::Shutdown { exit_code } => return Ok(exit_code),
                VcpuExit::Reset => {
                    log::info!("microvm: reset");
                    self.inst = self.setup.build()?;
                }
            }
        }
    }

    /// Stops the current power cycle from any thread (watchdogs, the monitor): `run_once`
    /// returns the exit given to `VmStop::stop`.
    pub fn stop_handle(&self) -> Arc<kvm::VmStop> {
        self.inst.vm.stop().clone()
    }

    /// Host address ranges `(start, len)` of guest RAM (benchmarks measure VMM overhead as the
    /// process RSS minus the resident part of these).
    pub fn guest_ram_host_ranges(&self) -> Vec<(usize, usize)> {
        self.inst.mem.regions().iter().filter_map(|r| self.inst.mem.ram_ref(r.base).map(|rr| (rr.host as usize, rr.len as usize))).collect()
    }

    /// Every vCPU's registers and counters (see `KvmVcpu::state_dump`), after `run_once`.
    pub fn vcpu_state_dump(&self) -> String {
        self.inst.vcpus.iter().map(|v| v.state_dump()).collect()
    }

    /// Exits, port and MMIO exits served so far by vCPU 0 (benchmarks, diagnostics).
    pub fn vcpu0_stats(&self) -> Option<kvm::VcpuStats> {
        self.inst.vcpus.first().map(|v| v.stats())
    }
}

/// How long the console thread waits for host input before it looks whether the VM stopped.
const CONSOLE_POLL: Duration = Duration::from_millis(20);

/// The console thread of one power cycle: host input into the 16550 (which raises its IRQ
/// through KVM_IRQ_LINE from here), and power requests raised on this thread (Ctrl-A X) turned
/// into a VM stop, which kicks the vCPUs out of KVM_RUN: a guest that never exits to the VMM
/// would not notice the request otherwise.
fn console_thread(input: SharedConsoleInput, uart: &Mutex<Uart16550>, power: &Arc<PowerControl>, stop: &kvm::VmStop, done: &AtomicBool) {
    let mut pump = ConsolePump::new(Some(input), power.clone());
    while !done.load(Ordering::Acquire) && stop.exit().is_none() {
        pump.pump_wait(CONSOLE_POLL, |bytes| uart.lock().unwrap_or_else(|p| p.into_inner()).enqueue_input(bytes));
        if let Some(ev) = power.take() {
            stop.stop(match ev {
                PowerEvent::Shutdown { exit_code } => VcpuExit::Shutdown { exit_code },
                PowerEvent::Reset => VcpuExit::Reset,
            });
        }
    }
}

impl crate::Machine for Microvm {
    fn run(&mut self) -> Result<crate::RunOutcome, crate::MachineError> {
        Ok(self.run_once()?.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memmap;

    #[test]
    fn memmap_is_disjoint_and_complete() {
        memmap::check_disjoint(MEMMAP).unwrap();
        for name in ["ram", "virtio-mmio", "ioapic", "lapic"] {
            memmap::entry(MEMMAP, name);
        }
        let mut bus = Bus::new();
        for &(_, base, size) in PIOMAP {
            bus.insert(base, size, shared(EmptySlot)).unwrap();
        }
        assert!(VIRTIO_GSI_BASE + VIRTIO_MMIO_SLOTS as u32 <= 16 && VIRTIO_GSI_BASE > SERIAL_GSI);
    }

    #[test]
    fn e820_reserves_the_legacy_hole_and_splits_at_3g() {
        let m = e820(256 << 20);
        assert_eq!(m[0], E820Entry { addr: 0, size: 0x9fc00, kind: E820_RAM });
        assert_eq!(m[1], E820Entry { addr: 0x9fc00, size: 0x100000 - 0x9fc00, kind: E820_RESERVED });
        assert_eq!(m[2], E820Entry { addr: 0x100000, size: (256 << 20) - 0x100000, kind: E820_RAM });
        assert_eq!(m.len(), 3);
        let m = e820(4 << 30);
        assert_eq!(m[3], E820Entry { addr: 1 << 32, size: (4 << 30) - LOW_RAM_MAX, kind: E820_RAM });
        let r = ram_regions(4 << 30);
        assert_eq!((r[1].base, r[1].size), (1 << 32, 1 << 30));
    }


    #[test]
    fn virtio_slots_are_announced_on_the_command_line() {
        assert_eq!(virtio_cmdline(0), "");
        assert_eq!(virtio_cmdline(2), "virtio_mmio.device=512@0xfeb00000:5 virtio_mmio.device=512@0xfeb00200:6");
        assert_eq!(virtio_slot(7), (0xfeb0_0e00, 12));
    }

    #[test]
    fn rejects_bad_config_before_touching_kvm() {
        let cfg = |smp, memory| MicrovmConfig { memory, smp, ..MicrovmConfig::new("/nonexistent".into(), Box::new(std::io::sink())) };
        assert!(matches!(Microvm::new(cfg(0, 64 << 20)), Err(MicrovmError::Config(_))));
        assert!(matches!(Microvm::new(cfg(MAX_SMP + 1, 64 << 20)), Err(MicrovmError::Config(_))));
        assert!(matches!(Microvm::new(cfg(1, 1 << 20)), Err(MicrovmError::Config(_))));
        assert!(matches!(Microvm::new(cfg(1, 64 << 20)), Err(MicrovmError::Boot(BootError::Read { .. }))));
    }
}
