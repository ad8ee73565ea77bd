//! The run loop's view of the translator's two tiers, the IR interpreter and the Cranelift JIT,
//! gathered in one place so the rest of `tcg` names them uniformly.

pub use mimic_translator::interp::interpret;

/// Exit slots a block needs (its `Goto`s, then its `GotoPtr`s; the name is the run loop's).
pub fn goto_count(block: &mimic_translator::ir::Block) -> usize {
    mimic_translator::interp::exit_slot_count(block)
}
pub use mimic_translator::jit::{Jit, JitConfig, JitError};
