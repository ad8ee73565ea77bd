//! Table-driven decoder: each extension file exports a table of [`Pattern`]s; a 32-bit instruction
//! is handled by the first pattern whose fixed bits match. Compressed instructions are expanded to
//! their 32-bit equivalents first (`rvc.rs`).

use super::translate::Ctx;

/// A handler translates one instruction; `false` means the encoding is reserved or illegal in the
/// current state, and the decoder raises the illegal-instruction trap.
pub type Handler = fn(&mut Ctx, u32) -> bool;

pub struct Pattern {
    pub name: &'static str,
    pub mask: u32,
    pub bits: u32,
    pub handler: Handler,
}

/// Field extractors shared by all handlers.
pub mod fields {
    pub fn rd(i: u32) -> u32 {
        (i >> 7) & 31
    }
    pub fn rs1(i: u32) -> u32 {
        (i >> 15) & 31
    }
    pub fn rs2(i: u32) -> u32 {
        (i >> 20) & 31
    }
    pub fn rs3(i: u32) -> u32 {
        i >> 27
    }
    pub fn funct3(i: u32) -> u32 {
        (i >> 12) & 7
    }
    pub fn imm_i(i: u32) -> i64 {
        (i as i32 >> 20) as i64
    }
    pub fn imm_s(i: u32) -> i64 {
        (((i as i32 >> 25) << 5) | ((i >> 7) & 31) as i32) as i64
    }
    pub fn imm_b(i: u32) -> i64 {
        let v = ((i >> 31) & 1) << 12 | ((i >> 7) & 1) << 11 | ((i >> 25) & 0x3f) << 5 | ((i >> 8) & 0xf) << 1;
        ((v << 19) as i32 >> 19) as i64
    }
    pub fn imm_u(i: u32) -> i64 {
        (i & 0xffff_f000) as i32 as i64
    }
    pub fn imm_j(i: u32) -> i64 {
        let v = ((i >> 31) & 1) << 20 | ((i >> 12) & 0xff) << 12 | ((i >> 20) & 1) << 11 | ((i >> 21) & 0x3ff) << 1;
        ((v << 11) as i32 >> 11) as i64
    }
}
