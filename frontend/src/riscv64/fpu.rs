//! Floating-point helpers (F and D) on Berkeley SoftFloat with RISC-V NaN rules.

use mimic_translator::helpers::HelperInfo;

pub static HELPERS: &[HelperInfo] = &[];
