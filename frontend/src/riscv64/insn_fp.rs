//! F and D extension instructions: loads/stores, arithmetic, conversions, moves, compares.

use super::decode::Pattern;

/// Decoder table for the LOAD-FP, STORE-FP, FMADD.. and OP-FP opcodes.
pub static TABLE: &[Pattern] = &[];
