//! System helpers called from IR: exceptions, CSR access, trap return, `wfi`, fences.
//! (Floating-point helpers are in `fpu.rs`.)

use mimic_translator::env::Env;
use mimic_translator::helpers::HelperInfo;
use mimic_translator::ir::HelperId;

use super::cpu::{PendingTrap, RiscvCpu};

/// Index of each helper in [`HELPERS`].
pub const H_RAISE: usize = 0;

pub fn id(index: usize) -> HelperId {
    super::sys_helper(index)
}

/// `raise(cause, tval)`: record a synchronous exception at `Env::pc`.
unsafe extern "C" fn helper_raise(env: *mut Env, cause: u64, tval: u64, _: u64, _: u64) -> u64 {
    // SAFETY: the run loop only passes Envs embedded in a RiscvCpu to this frontend's helpers.
    let cpu = unsafe { RiscvCpu::from_env(env) };
    cpu.pending_trap = Some(PendingTrap { cause, tval });
    cpu.env.exception_pending = 1;
    0
}

pub static HELPERS: &[HelperInfo] = &[HelperInfo { name: "raise", func: helper_raise, nargs: 2, may_raise: true }];
