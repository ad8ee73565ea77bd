//! Machines (boards) as data: each board is a memory-map table plus the code that instantiates
//! its devices from `hw/`, loads firmware and kernels, and drives its vCPUs through `accel/`.
//!
//! `src/` turns the command line into a [`MachineConfig`]; [`create`] picks the board.

pub mod loader;
pub mod memmap;
pub mod riscv;
pub mod x86;

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mimic_hw::chardev::SharedWriter;
use thiserror::Error;

pub use memmap::MemMapEntry;

#[derive(Debug, Error)]
pub enum MachineError {
    #[error("unknown machine '{0}' (use -machine help to list them)")]
    UnknownMachine(String),
    #[error("machine '{machine}': {reason}")]
    Unsupported { machine: &'static str, reason: String },
    #[error("machine '{machine}' needs {what}")]
    Missing { machine: &'static str, what: String },
    #[error(transparent)]
    Loader(#[from] loader::LoaderError),
    #[error("guest memory: {0}")]
    Memory(#[from] mimic_hw::AddressSpaceError),
    #[error(transparent)]
    Accel(#[from] mimic_accel::AccelError),
}

/// Which firmware `-bios` asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Bios {
    /// The machine's default firmware.
    #[default]
    Default,
    /// `-bios none`: start the kernel directly.
    None,
    Path(PathBuf),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AccelKind {
    #[default]
    Tcg,
    Kvm,
}

/// `-d` items (QEMU's names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogItems {
    pub in_asm: bool,
    pub op: bool,
    pub out_asm: bool,
    pub int: bool,
    pub exec: bool,
    pub cpu: bool,
    pub guest_errors: bool,
}

/// What the host console sends a machine (the stdin reader thread in `src/` produces these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleInput {
    Byte(u8),
    /// The user asked to quit (Ctrl-A X).
    Quit,
}

pub type SharedConsoleInput = Arc<Mutex<Receiver<ConsoleInput>>>;

/// Moves host console input into a board's console device from the run loop's poll: Ctrl-A X
/// becomes a power-off request, bytes the device has no room for yet wait for the next poll.
pub struct ConsolePump {
    input: Option<SharedConsoleInput>,
    pending: Vec<u8>,
    power: Arc<mimic_hw::PowerControl>,
}

impl ConsolePump {
    pub fn new(input: Option<SharedConsoleInput>, power: Arc<mimic_hw::PowerControl>) -> Self {
        Self { input, pending: Vec::new(), power }
    }

    /// Drain what the host sent; `deliver` offers the waiting bytes to the device and returns how
    /// many it took.
    pub fn pump(&mut self, deliver: impl FnOnce(&[u8]) -> usize) {
        if let Some(rx) = &self.input {
            let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
            while let Ok(ev) = rx.try_recv() {
                Self::accept(&mut self.pending, &self.power, ev);
            }
        }
        if !self.pending.is_empty() {
            let taken = deliver(&self.pending).min(self.pending.len());
            self.pending.drain(..taken);
        }
    }

    /// [`Self::pump`] for a console thread of its own (boards whose vCPUs run on other threads):
    /// first wait up to `timeout` for host input, or, while the device still has bytes to take,
    /// a millisecond for it to make room (it does not say when it has).
    pub fn pump_wait(&mut self, timeout: Duration, deliver: impl FnOnce(&[u8]) -> usize) {
        const RETRY: Duration = Duration::from_millis(1);
        if !self.pending.is_empty() {
            std::thread::sleep(RETRY.min(timeout));
        } else if let Some(rx) = &self.input {
            let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
            match rx.recv_timeout(timeout) {
                Ok(ev) => Self::accept(&mut self.pending, &self.power, ev),
                Err(RecvTimeoutError::Timeout) => {}
                // Host input ended (stdin closed): nothing will come, but the caller still
                // polls its own conditions at this pace.
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(timeout),
            }
        } else {
            std::thread::sleep(timeout);
        }
        self.pump(deliver);
    }

    fn accept(pending: &mut Vec<u8>, power: &mimic_hw::PowerControl, ev: ConsoleInput) {
        match ev {
            ConsoleInput::Byte(b) => pending.push(b),
            ConsoleInput::Quit => power.request(mimic_hw::PowerEvent::Shutdown { exit_code: 0 }),
        }
    }
}

/// `-drive file=PATH,format=raw,if=virtio[,readonly=on]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriveSpec {
    pub path: PathBuf,
    pub read_only: bool,
}

/// `-device NAME[,props]` for the devices boards know how to add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceSpec {
    VirtioRng,
    /// `-device virtio-serial-device`: a virtio console (one port, `hvc0` in Linux) on the
    /// machine's console output.
    VirtioConsole,
    /// `-device isa-debug-exit[,iobase=N][,iosize=N]` (x86 port I/O).
    IsaDebugExit { iobase: u16, iosize: u16 },
}

/// Everything the command line says about the machine to build. Cloning it gives the same
/// machine again (for a guest reset): the console, log and stdin are shared, not reopened.
#[derive(Clone)]
pub struct MachineConfig {
    pub machine: String,
    /// Guest RAM in bytes; `None` for the board's default.
    pub memory: Option<u64>,
    pub smp: u32,
    pub cpu: Option<String>,
    pub bios: Bios,
    pub kernel: Option<PathBuf>,
    pub initrd: Option<PathBuf>,
    pub append: Option<String>,
    pub accel: AccelKind,
    pub log: LogItems,
    /// Where `-d` output goes (`-D file`, default stderr).
    pub log_sink: SharedWriter,
    /// Guest console output (stdout with `-nographic`).
    pub console: SharedWriter,
    /// Host console input for the guest's serial port, if stdin is attached (shared so that a
    /// machine rebuilt after a guest reset keeps reading the same stdin).
    pub console_input: Option<SharedConsoleInput>,
    pub drives: Vec<DriveSpec>,
    pub devices: Vec<DeviceSpec>,
    /// `-machine dumpdtb=FILE`: write the generated device tree there; as on QEMU the process
    /// then exits instead of running the machine.
    pub dumpdtb: Option<PathBuf>,
    pub no_reboot: bool,
    /// Print accelerator statistics (compile time, blocks) to stderr at exit.
    pub stats: bool,
}

impl MachineConfig {
    pub fn new(machine: &str) -> Self {
        Self {
            machine: machine.to_string(),
            memory: None,
            smp: 1,
            cpu: None,
            bios: Bios::Default,
            kernel: None,
            initrd: None,
            append: None,
            accel: AccelKind::Tcg,
            log: LogItems::default(),
            log_sink: SharedWriter::new(Box::new(std::io::stderr())),
            console: SharedWriter::new(Box::new(std::io::stdout())),
            console_input: None,
            drives: Vec::new(),
            devices: Vec::new(),
            dumpdtb: None,
            no_reboot: false,
            stats: false,
        }
    }
}

/// How a machine run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// The guest powered off; the process exits with this status.
    Exit(i32),
    /// The guest asked for a reset: build the machine again (unless `-no-reboot`).
    Reset,
}

impl From<mimic_accel::VcpuExit> for RunOutcome {
    fn from(exit: mimic_accel::VcpuExit) -> Self {
        match exit {
            mimic_accel::VcpuExit::Shutdown { exit_code } => Self::Exit(exit_code),
            mimic_accel::VcpuExit::Reset => Self::Reset,
        }
    }
}

pub trait Machine {
    fn run(&mut self) -> Result<RunOutcome, MachineError>;
}

/// Board names with a one-line description, for `-machine help`.
pub const MACHINES: &[(&str, &str)] = &[
    ("spike", "RISC-V Spike board (HTIF, CLINT): instruction-level test suites"),
    ("virt", "RISC-V VirtIO board (QEMU's memory map): OpenSBI and Linux"),
    ("microvm", "x86-64 microvm (KVM): virtio-mmio, 16550 UART, isa-debug-exit"),
];

/// The boards that describe themselves to the guest with a device tree (what `-machine
/// dumpdtb=FILE` writes). Mimic's `spike` has HTIF and no tree; `microvm` uses the x86 boot
/// protocol and an MP table.
const DEVICE_TREE_BOARDS: &[&str] = &["virt"];

pub fn create(config: MachineConfig) -> Result<Box<dyn Machine>, MachineError> {
    if config.dumpdtb.is_some() && !DEVICE_TREE_BOARDS.contains(&config.machine.as_str()) {
        if let Some(&(machine, _)) = MACHINES.iter().find(|(name, _)| *name == config.machine) {
            return Err(MachineError::Unsupported { machine, reason: "dumpdtb: this board has no device tree".into() });
        }
    }
    match config.machine.as_str() {
        "spike" => Ok(Box::new(riscv::spike::Spike::new(config)?)),
        "virt" => Ok(Box::new(riscv::virt::Virt::new(config)?)),
        "microvm" => Ok(Box::new(x86::microvm::Microvm::from_config(config)?)),
        other => Err(MachineError::UnknownMachine(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boards_without_a_device_tree_refuse_dumpdtb() {
        for board in ["spike", "microvm"] {
            let mut c = MachineConfig::new(board);
            c.dumpdtb = Some(PathBuf::from("/nonexistent/tree.dtb"));
            let err = create(c).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("no device tree"), "{board}: {err}");
        }
    }

    #[test]
    fn console_pump_keeps_what_the_device_cannot_take_and_quits_on_ctrl_a_x() {
        let (tx, rx) = std::sync::mpsc::channel();
        let power = Arc::new(mimic_hw::PowerControl::new());
        let mut pump = ConsolePump::new(Some(Arc::new(Mutex::new(rx))), power.clone());
        for b in b"hello" {
            tx.send(ConsoleInput::Byte(*b)).unwrap();
        }
        let mut got = Vec::new();
        pump.pump(|b| {
            got.extend_from_slice(&b[..3]);
            3
        });
        pump.pump(|b| {
            got.extend_from_slice(b);
            b.len()
        });
        assert_eq!(got, b"hello");
        assert!(!power.is_pending());
        tx.send(ConsoleInput::Quit).unwrap();
        pump.pump(|b| b.len());
        assert_eq!(power.take(), Some(mimic_hw::PowerEvent::Shutdown { exit_code: 0 }));
    }

    #[test]
    fn console_pump_wait_blocks_for_input_and_survives_the_end_of_it() {
        let (tx, rx) = std::sync::mpsc::channel();
        let power = Arc::new(mimic_hw::PowerControl::new());
        let mut pump = ConsolePump::new(Some(Arc::new(Mutex::new(rx))), power);
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            tx.send(ConsoleInput::Byte(b'k')).unwrap();
        });
        let mut got = Vec::new();
        while got.is_empty() {
            pump.pump_wait(Duration::from_secs(5), |b| {
                got.extend_from_slice(b);
                b.len()
            });
        }
        assert_eq!(got, b"k");
        sender.join().unwrap();
        // The sender is gone: the wait returns after the timeout instead of spinning.
        let t0 = std::time::Instant::now();
        pump.pump_wait(Duration::from_millis(30), |b| b.len());
        assert!(t0.elapsed() >= Duration::from_millis(30));
    }
}
