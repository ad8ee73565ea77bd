//! Mimic's translator: the guest-independent IR ([`ir`]), its verifier and printer, the IR
//! interpreter (the cold tier), the single-pass baseline code emitter ([`baseline`], the quick
//! tier) and the Cranelift JIT (the hot tier), plus the ABI generated code
//! shares with helpers and the run loop ([`env`], [`helpers`], [`guest`]).

pub mod baseline;
pub mod env;
pub mod guest;
pub mod helpers;
pub mod ir;
pub mod interp;
pub mod jit;
pub mod opt;
pub mod page_group;
pub mod print;
mod small;
pub mod verify;
