//! Accelerators: the one interface machines drive vCPUs through, and its implementations
//! (TCG now, KVM later).

use thiserror::Error;

pub mod kvm;
pub mod tcg;

/// Why a [`Vcpu::run`] returned: the machine's `hw::PowerControl` had an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VcpuExit {
    /// Power off; the process should exit with `exit_code`.
    Shutdown { exit_code: i32 },
    /// The machine asked for a reset; the board resets devices and CPU state and runs again.
    Reset,
}

#[derive(Debug, Error)]
pub enum AccelError {
    #[error("JIT backend: {0}")]
    Jit(String),
    #[error("accelerator setup: {0}")]
    Setup(String),
}

/// One virtual CPU, whatever executes it.
pub trait Vcpu {
    /// Run guest code until the machine's power control reports an event.
    fn run(&mut self) -> Result<VcpuExit, AccelError>;
}
