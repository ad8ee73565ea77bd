//! Helper functions: guest semantics too large or too rare to express in IR (CSR access, floating
//! point, traps) are Rust functions the IR calls through [`crate::ir::Op::Call`].
//!
//! Every helper has the same C signature, so the interpreter and the JIT call them alike.
//! A helper may read and write `Env::regs` and the rest of its guest CPU; generated code therefore
//! treats a call as reading and clobbering the whole register file.

use crate::env::Env;

pub const MAX_HELPER_ARGS: usize = 4;

/// `fn(env, a0, a1, a2, a3) -> result`; unused arguments are 0.
pub type HelperFn = unsafe extern "C" fn(env: *mut Env, a0: u64, a1: u64, a2: u64, a3: u64) -> u64;

#[derive(Clone, Copy)]
pub struct HelperInfo {
    pub name: &'static str,
    pub func: HelperFn,
    /// Arguments the helper takes (the IR verifier checks calls against it).
    pub nargs: u8,
    /// The helper may record a guest exception (setting `Env::exception_pending`); generated code
    /// stores the instruction's PC before the call and checks the flag after it.
    pub may_raise: bool,
}

impl std::fmt::Debug for HelperInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.name, self.nargs)
    }
}

/// The helpers a frontend offers; `HelperId(i)` is `table[i]`.
pub type HelperTable = &'static [HelperInfo];
