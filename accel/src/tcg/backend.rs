//! The run loop's view of the translator's tiers, the IR interpreter, the baseline emitter and the
//! Cranelift JIT, gathered in one place so the rest of `tcg` names them uniformly.

pub use mimic_translator::interp::{exit_slot_count, interpret};
pub use mimic_translator::baseline::{Baseline, BaselineError};
pub use mimic_translator::jit::{Jit, JitConfig, JitError};

/// A baseline compile's outcome in the JIT's terms, so both tiers' results take one path in the
/// run loop (a full code region is a `Memory` error there too: it asks for a flush).
pub fn baseline_result(
    r: Result<mimic_translator::jit::Compiled, BaselineError>,
) -> Result<mimic_translator::jit::Compiled, JitError> {
    r.map_err(|e| match e {
        BaselineError::Verify(v) => JitError::Verify(v),
        BaselineError::Memory(m) => JitError::Memory(m),
        BaselineError::Asm(a) => JitError::Module(format!("baseline: {a}")),
    })
}
