//! RISC-V rv64gc: CPU state, decoder and translation to IR, helpers, privileged architecture.
//!
//! Files, by job:
//! - `cpu.rs`: [`cpu::RiscvCpu`] (the `Env` plus CSRs and hart state) and its `GuestCpu` impl.
//! - `decode.rs`: the table-driven decoder; `insn_*.rs` hold one handler per instruction, grouped
//!   by extension, each exporting its pattern table; `rvc.rs` expands compressed instructions.
//! - `translate.rs`: [`translate::Ctx`], the per-block translation state handlers use.
//! - `csr.rs`, `trap.rs`, `mmu.rs`, `pmp.rs`: the privileged architecture.
//! - `helpers.rs` (system) and `fpu.rs` (F/D, on Berkeley SoftFloat with RISC-V NaN rules): the
//!   helper functions IR calls.

pub mod cpu;
pub mod csr;
pub mod decode;
pub mod disas;
pub mod fpu;
pub mod helpers;
pub mod insn_fp;
pub mod insn_rva;
pub mod insn_rvi;
pub mod insn_rvm;
pub mod insn_system;
pub mod insn_zb;
pub mod mmu;
pub mod pmp;
pub mod rvc;
pub mod translate;
pub mod trap;

pub use cpu::RiscvCpu;

use std::sync::OnceLock;

use mimic_translator::helpers::HelperInfo;
use mimic_translator::ir::HelperId;

/// Register-file slots (`Env::regs`): x0..x31, f0..f31, then the LR/SC reservation.
pub mod regs {
    pub const X0: u16 = 0;
    pub const F0: u16 = 32;
    /// Address reserved by the last LR (all ones: no reservation).
    pub const RESV_ADDR: u16 = 64;
    /// Value LR loaded, compared again by SC (QEMU's approach for a single-threaded TCG).
    pub const RESV_VAL: u16 = 65;
    /// Instructions charged to the budget but skipped by if-converted branches in this budget
    /// period (see `translate::IfConversion`); `instret` subtracts them.
    pub const SKIPPED: u16 = 66;
}

/// The whole helper table: system helpers first, then floating point. `HelperId`s of each part
/// are offsets into its own array, shifted by [`sys_helper`]/[`fp_helper`].
pub fn helper_table() -> &'static [HelperInfo] {
    static TABLE: OnceLock<Vec<HelperInfo>> = OnceLock::new();
    TABLE.get_or_init(|| helpers::HELPERS.iter().chain(fpu::HELPERS.iter()).copied().collect())
}

pub fn sys_helper(index: usize) -> HelperId {
    HelperId(index as u16)
}

pub fn fp_helper(index: usize) -> HelperId {
    HelperId((helpers::HELPERS.len() + index) as u16)
}
