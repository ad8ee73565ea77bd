//! The RISC-V hart: architectural state beyond the register file, and the `GuestCpu` impl the
//! TCG run loop drives.

use std::sync::Arc;

use mimic_hw::clock::Clock;
use mimic_hw::irq::PendingBits;
use mimic_hw::AddressSpace;
use mimic_translator::env::Env;

/// Privilege levels, numbered as in `mstatus.MPP`.
pub const PRV_U: u8 = 0;
pub const PRV_S: u8 = 1;
pub const PRV_M: u8 = 3;

/// A trap recorded by a helper or the softmmu, delivered by `GuestCpu::deliver_exception`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingTrap {
    /// Exception cause code (`mcause` without the interrupt bit).
    pub cause: u64,
    pub tval: u64,
}

/// Machine- and supervisor-level CSR state. Registers that are views of others (`sstatus`,
/// `sie`, `sip`) are not stored.
#[derive(Clone, Debug)]
pub struct Csrs {
    pub mstatus: u64,
    pub misa: u64,
    pub medeleg: u64,
    pub mideleg: u64,
    pub mie: u64,
    /// Software-writable pending bits (SSIP, STIP, SEIP as written by M-mode); the hardware-driven
    /// bits come from `RiscvCpu::hw_irqs` and are OR-ed in on read.
    pub mip: u64,
    pub mtvec: u64,
    pub mscratch: u64,
    pub mepc: u64,
    pub mcause: u64,
    pub mtval: u64,
    pub mcounteren: u64,
    pub menvcfg: u64,
    pub mcountinhibit: u64,
    pub stvec: u64,
    pub sscratch: u64,
    pub sepc: u64,
    pub scause: u64,
    pub stval: u64,
    pub satp: u64,
    pub scounteren: u64,
    pub senvcfg: u64,
    pub pmpcfg: [u8; 64],
    pub pmpaddr: [u64; 64],
    /// Accrued floating-point exception flags (`fflags`, 5 bits).
    pub fflags: u8,
    /// Dynamic rounding mode (`frm`, 3 bits).
    pub frm: u8,
}

impl Default for Csrs {
    fn default() -> Self {
        Self {
            mstatus: 0, misa: 0, medeleg: 0, mideleg: 0, mie: 0, mip: 0, mtvec: 0, mscratch: 0, mepc: 0,
            mcause: 0, mtval: 0, mcounteren: 0, menvcfg: 0, mcountinhibit: 0, stvec: 0, sscratch: 0,
            sepc: 0, scause: 0, stval: 0, satp: 0, scounteren: 0, senvcfg: 0,
            pmpcfg: [0; 64], pmpaddr: [0; 64], fflags: 0, frm: 0,
        }
    }
}

#[repr(C)]
pub struct RiscvCpu {
    /// Must stay the first field: helpers cast `*mut Env` to `*mut RiscvCpu`.
    pub env: Env,
    pub priv_mode: u8,
    pub hart_id: u64,
    pub csr: Csrs,
    pub pending_trap: Option<PendingTrap>,
    /// Set by `wfi`; cleared when an interrupt becomes pending.
    pub waiting: bool,
    /// Instructions retired before the current budget period (`instret`/`cycle` base).
    pub retired_base: u64,
    pub mem: Arc<AddressSpace>,
    /// Interrupt pending bits driven by devices (MSIP, MTIP, MEIP, SEIP).
    pub hw_irqs: Arc<PendingBits>,
    pub clock: Arc<Clock>,
}

impl RiscvCpu {
    /// # Safety
    /// `env` must point at the `env` field of a live `RiscvCpu` (true for every `Env` the TCG run
    /// loop hands to generated code or helpers of this frontend).
    pub unsafe fn from_env<'a>(env: *mut Env) -> &'a mut RiscvCpu {
        // SAFETY: `env` is the first field of a `#[repr(C)]` RiscvCpu (caller's contract).
        unsafe { &mut *(env as *mut RiscvCpu) }
    }

    pub fn x(&self, r: usize) -> u64 {
        self.env.regs[r]
    }

    pub fn set_x(&mut self, r: usize, v: u64) {
        if r != 0 {
            self.env.regs[r] = v;
        }
    }

    pub fn f(&self, r: usize) -> u64 {
        self.env.regs[super::regs::F0 as usize + r]
    }
}
