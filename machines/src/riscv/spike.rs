//! `-M spike`: the board of the Spike reference simulator, as QEMU models it — RAM at 0x8000_0000,
//! a CLINT, and HTIF found through the guest ELF's `tohost`/`fromhost` symbols. Instruction-level
//! test suites (`-bios none -kernel test.elf`) run here and exit with the status they report.

use std::sync::{Arc, Mutex};

use mimic_accel::tcg::{TcgOptions, TcgVcpu};
use mimic_frontend::riscv64::translate::RiscvFrontend;
use mimic_frontend::riscv64::RiscvCpu;
use mimic_hw::address_space::MemRegionSpec;
use mimic_hw::clock::Clock;
use mimic_hw::devices::clint::{Clint, CLINT_SIZE};
use mimic_hw::devices::htif::Htif;
use mimic_hw::irq::PendingBits;
use mimic_hw::{AddressSpace, PowerControl};

use crate::loader;
use crate::memmap::{self, MemMapEntry};
use crate::{Bios, ConsolePump, Machine, MachineConfig, MachineError, RunOutcome};

pub const MEMMAP: &[MemMapEntry] = &[
    MemMapEntry { name: "clint", base: 0x0200_0000, size: CLINT_SIZE },
    MemMapEntry { name: "dram", base: 0x8000_0000, size: 128 << 20 },
];

/// mtime frequency of QEMU's spike.
const TIMEBASE_HZ: u64 = 10_000_000;

/// Interrupt pending bits the CLINT drives (mip.MSIP, mip.MTIP).
const MSIP_BIT: u32 = 3;
const MTIP_BIT: u32 = 7;

pub struct Spike {
    vcpu: super::RiscvVcpu,
    stats: bool,
}

impl Spike {
    pub fn new(config: MachineConfig) -> Result<Self, MachineError> {
        const NAME: &str = "spike";
        super::check_tcg_config(NAME, &config, 1)?;
        if config.initrd.is_some() || config.append.is_some() {
            return Err(MachineError::Unsupported { machine: NAME, reason: "-initrd/-append need a device tree (use -M virt)".into() });
        }
        let dram = memmap::entry(MEMMAP, "dram");
        let ram_size = config.memory.unwrap_or(dram.size);
        let mut mem = AddressSpace::new(&[MemRegionSpec::ram("dram", dram.base, ram_size)])?;

        let image = match (&config.bios, &config.kernel) {
            (Bios::None, Some(k)) => k.clone(),
            (Bios::Path(b), None) => b.clone(),
            (Bios::Path(_), Some(_)) => {
                return Err(MachineError::Unsupported { machine: NAME, reason: "firmware plus -kernel needs a device tree; use -bios none -kernel FILE".into() })
            }
            (Bios::Default, _) => {
                return Err(MachineError::Unsupported { machine: NAME, reason: "booting through OpenSBI is not supported on spike yet; use -bios none -kernel FILE".into() })
            }
            (Bios::None, None) => return Err(MachineError::Missing { machine: NAME, what: "-kernel FILE (with -bios none)".into() }),
        };
        let mut file = loader::ImageFile::open(&image)?;
        let (entry, tohost, fromhost) = if loader::is_elf(file.head()) {
            let l = loader::load_riscv_elf(&mem, &image, &file.into_bytes()?)?;
            (l.entry, l.tohost, l.fromhost)
        } else {
            loader::load_flat(&mem, &mut file, dram.base)?;
            (dram.base, None, None)
        };

        let power = Arc::new(PowerControl::new());
        let clock = Arc::new(Clock::new(TIMEBASE_HZ));
        let irqs = PendingBits::new();
        let clint = Arc::new(Mutex::new(Clint::new(clock.clone(), vec![(irqs.line(MSIP_BIT), irqs.line(MTIP_BIT))])));
        let c = memmap::entry(MEMMAP, "clint");
        mem.add_mmio(c.base, c.size, clint.clone())?;
        let mut htif = None;
        if let Some(tohost) = tohost {
            let Some(w) = htif_window(tohost, fromhost) else {
                return Err(MachineError::Unsupported {
                    machine: NAME,
                    reason: format!("'{}': tohost/fromhost symbols {tohost:#x}/{fromhost:x?} describe no HTIF window", image.display()),
                });
            };
            let console = Box::new(config.console.clone());
            let h = Arc::new(Mutex::new(Htif::new(tohost, w.fromhost, console, power.clone())));
            mem.add_mmio_overlay(w.base, w.size, h.clone())?;
            htif = Some(h);
        } else {
            log::warn!("'{}' has no 'tohost' symbol: the guest cannot report its result or print", image.display());
        }

        let mem = Arc::new(mem);
        let mut cpu = RiscvCpu::new(0, mem.clone(), irqs, clock);
        cpu.reset(entry);
        // Spike's boot ROM hands over a0 = hart id and a1 = the device tree (none here).
        cpu.set_x(10, 0);
        cpu.set_x(11, 0);

        let poll_clint = clint.clone();
        // Host input goes to HTIF's console (spike has no UART); Ctrl-A X quits as on every board.
        let mut console_pump = ConsolePump::new(config.console_input.clone(), power.clone());
        let opts = TcgOptions {
            log: crate::riscv::log_mask(&config.log),
            log_sink: Box::new(config.log_sink.clone()),
            poll: Some(Box::new(move || {
                console_pump.pump(|bytes| match &htif {
                    Some(h) => {
                        h.lock().unwrap_or_else(|p| p.into_inner()).push_input(bytes);
                        bytes.len()
                    }
                    None => bytes.len(),
                });
                let mut clint = poll_clint.lock().unwrap_or_else(|p| p.into_inner());
                clint.poll();
                clint.next_deadline_ns()
            })),
            // benches/spike.sh, best of 3, baseline off -> on: the same run times (sieve 1.13 s,
            // sha256 0.70, matmul 0.34, mix 0.65), compile share 1.7-1.9% -> 1.0-1.4%.
            baseline: Some(mimic_accel::tcg::DEFAULT_BASELINE_THRESHOLD),
            ..TcgOptions::default()
        };
        let vcpu = TcgVcpu::new(cpu, RiscvFrontend, mem, power, opts)?;
        Ok(Self { vcpu, stats: config.stats })
    }
}

/// Where HTIF goes for an image's `tohost`/`fromhost` symbols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HtifWindow {
    pub fromhost: u64,
    /// The overlay window covering both words.
    pub base: u64,
    pub size: u64,
}

/// The HTIF window for the `tohost`/`fromhost` symbols of a guest ELF. They are untrusted
/// values: None when no window can hold both words (an address at the top of the address space).
#[doc(hidden)] // public for the fuzz targets
pub fn htif_window(tohost: u64, fromhost: Option<u64>) -> Option<HtifWindow> {
    // Without `fromhost`, QEMU places it right after `tohost`.
    let fromhost = match fromhost {
        Some(f) => f,
        None => tohost.checked_add(8)?,
    };
    let base = tohost.min(fromhost);
    let size = Htif::window_size(tohost, fromhost)?;
    base.checked_add(size)?;
    Some(HtifWindow { fromhost, base, size })
}

impl Machine for Spike {
    fn run(&mut self) -> Result<RunOutcome, MachineError> {
        super::run_tcg(&mut self.vcpu, self.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htif_window_from_untrusted_symbols() {
        assert_eq!(htif_window(0x8000_1000, None), Some(HtifWindow { fromhost: 0x8000_1008, base: 0x8000_1000, size: 16 }));
        assert_eq!(htif_window(0x8000_1040, Some(0x8000_1000)), Some(HtifWindow { fromhost: 0x8000_1000, base: 0x8000_1000, size: 0x48 }));
        // Symbols at the top of the address space (found by the riscv_loader fuzz target).
        assert_eq!(htif_window(u64::MAX - 3, None), None);
        assert_eq!(htif_window(0, Some(u64::MAX)), None);
        assert_eq!(htif_window(u64::MAX - 7, Some(u64::MAX - 15)), None);
    }

    #[test]
    fn memmap_is_disjoint_and_complete() {
        memmap::check_disjoint(MEMMAP).unwrap();
        for name in ["clint", "dram"] {
            memmap::entry(MEMMAP, name);
        }
    }
}
