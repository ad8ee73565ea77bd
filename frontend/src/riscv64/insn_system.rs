//! System instructions: CSR access, ecall/ebreak, trap return, wfi, fences, sfence.vma.

use super::decode::Pattern;

/// Decoder table for the system opcode and MISC-MEM fences.
pub static TABLE: &[Pattern] = &[];
