//! The run loop's view of the translator's two tiers, the IR interpreter and the Cranelift JIT,
//! gathered in one place so the rest of `tcg` names them uniformly.

pub use mimic_translator::interp::{goto_count, interpret};
pub use mimic_translator::jit::{Jit, JitConfig, JitError};
