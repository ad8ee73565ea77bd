//! Table-driven decoder: each extension file exports a table of [`Pattern`]s; a 32-bit instruction
//! is handled by the first pattern whose fixed bits match. Compressed instructions are expanded to
//! their 32-bit equivalents first (`rvc.rs`).
//!
//! Lookup goes through an index built once: one bucket per (major opcode, funct3) pair, holding the
//! patterns that can match such an instruction, most specific mask first. A decode is then a short
//! scan of a handful of candidates instead of a walk over every table.

use std::sync::OnceLock;

use super::translate::Ctx;
use super::{insn_rva, insn_rvi, insn_rvm, insn_zb, rvc};

/// A handler translates one instruction; `false` means the encoding is reserved or illegal in the
/// current state, and the decoder raises the illegal-instruction trap.
pub type Handler = fn(&mut Ctx, u32) -> bool;

pub struct Pattern {
    pub name: &'static str,
    pub mask: u32,
    pub bits: u32,
    pub handler: Handler,
}

impl Pattern {
    pub fn matches(&self, insn: u32) -> bool {
        insn & self.mask == self.bits
    }
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
    /// 6-bit shift amount of RV64 immediate shifts (bits 25:20).
    pub fn shamt(i: u32) -> u32 {
        (i >> 20) & 63
    }
}

/// Tables owned by other parts of the frontend (privileged and floating-point instructions).
fn system_table() -> &'static [Pattern] {
    super::insn_system::TABLE
}

fn fp_table() -> &'static [Pattern] {
    super::insn_fp::TABLE
}

/// Every pattern table the decoder consults, in priority order.
pub fn tables() -> [&'static [Pattern]; 6] {
    [insn_rvi::TABLE, insn_rvm::TABLE, insn_rva::TABLE, insn_zb::TABLE, system_table(), fp_table()]
}

const OPC_FUNCT3_MASK: u32 = 0x707f;

fn bucket_of(insn: u32) -> usize {
    ((insn & 0x7f) | ((insn >> 5) & 0x380)) as usize
}

fn index() -> &'static [Vec<&'static Pattern>] {
    static INDEX: OnceLock<Vec<Vec<&'static Pattern>>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut buckets: Vec<Vec<&'static Pattern>> = vec![Vec::new(); 1024];
        for table in tables() {
            for p in table {
                // A pattern that leaves opcode or funct3 bits open belongs to every bucket its
                // fixed bits agree with.
                for (b, bucket) in buckets.iter_mut().enumerate() {
                    let key = (b as u32 & 0x7f) | ((b as u32 & 0x380) << 5);
                    if key & p.mask & OPC_FUNCT3_MASK == p.bits & OPC_FUNCT3_MASK {
                        bucket.push(p);
                    }
                }
            }
        }
        for bucket in buckets.iter_mut() {
            // Stable: among equally specific patterns table order decides.
            bucket.sort_by_key(|p| std::cmp::Reverse(p.mask.count_ones()));
        }
        buckets
    })
}

/// `raw` as a 32-bit instruction (compressed ones expanded); `None` for reserved encodings.
pub fn expand(raw: u32) -> Option<u32> {
    if raw & 3 == 3 {
        Some(raw)
    } else {
        rvc::expand(raw as u16)
    }
}

/// `beq`..`bgeu` (and `c.beqz`/`c.bnez`, expanded).
pub fn is_conditional_branch(insn: u32) -> bool {
    insn & 0x7f == 0x63 && decode(insn).is_some()
}

/// Instructions whose only effect is a computed integer register write: they never trap, touch
/// memory or state, or end a block, and their handlers always succeed (see
/// `translate::IfConversion`).
const PURE_INTEGER: &[&str] = &[
    "lui", "auipc", "addi", "slti", "sltiu", "xori", "ori", "andi", "slli", "srli", "srai", "add", "sub", "sll", "slt",
    "sltu", "xor", "srl", "sra", "or", "and", "addiw", "slliw", "srliw", "sraiw", "addw", "subw", "sllw", "srlw",
    "sraw", "mul", "mulh", "mulhsu", "mulhu", "div", "divu", "rem", "remu", "mulw", "divw", "divuw", "remw", "remuw",
];

pub fn is_pure_integer(insn: u32) -> bool {
    decode(insn).is_some_and(|p| PURE_INTEGER.contains(&p.name))
}

/// The pattern that handles the 32-bit instruction `insn`, if any.
pub fn decode(insn: u32) -> Option<&'static Pattern> {
    index()[bucket_of(insn)].iter().copied().find(|p| p.matches(insn))
}

/// Translate the instruction `raw` (16 or 32 bits, as fetched; `ctx.raw`/`insn_len` already set).
/// Reserved and unknown encodings become the illegal-instruction trap.
pub fn translate_insn(ctx: &mut Ctx, raw: u32) {
    let Some(insn) = expand(raw) else {
        ctx.raise_illegal();
        return;
    };
    let Some(p) = decode(insn) else {
        ctx.raise_illegal();
        return;
    };
    let mark = ctx.b.op_count();
    if !(p.handler)(ctx, insn) {
        ctx.b.truncate(mark);
        ctx.invalidate_regs();
        ctx.ended = false;
        ctx.raise_illegal();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use mimic_translator::ir::Op;

    /// Translate one instruction at 0x1000 and return the context.
    pub fn translate_one(raw: u32) -> Ctx {
        let mut ctx = Ctx::new(0x1000, 3);
        ctx.raw = raw;
        ctx.insn_len = if raw & 3 == 3 { 4 } else { 2 };
        ctx.b.insn_start(0x1000, ctx.insn_len);
        translate_insn(&mut ctx, raw);
        ctx
    }

    /// Whether the translation of `raw` is the illegal-instruction trap.
    pub fn is_illegal(raw: u32) -> bool {
        let ctx = translate_one(raw);
        let ops = &ctx.b.block().ops;
        let raises = ops.iter().any(|o| matches!(o, Op::Call { helper, .. } if *helper == super::super::helpers::id(super::super::helpers::H_RAISE)));
        let illegal_const = ops
            .iter()
            .any(|o| matches!(o, Op::Const { value, .. } if *value == super::super::translate::cause::ILLEGAL_INSN));
        let tval = ops.iter().any(|o| matches!(o, Op::Const { value, .. } if *value == raw as u64));
        raises && illegal_const && tval
    }

    pub fn name_of(insn: u32) -> Option<&'static str> {
        decode(insn).map(|p| p.name)
    }

    #[test]
    fn every_own_pattern_decodes_to_itself() {
        for table in [insn_rvi::TABLE, insn_rvm::TABLE, insn_rva::TABLE, insn_zb::TABLE] {
            for p in table {
                assert_eq!(p.bits & !p.mask, 0, "{}: fixed bits outside the mask", p.name);
                assert_eq!(name_of(p.bits), Some(p.name), "pattern {}", p.name);
            }
        }
    }

    #[test]
    fn pure_integer_instructions_are_patterns_of_the_decoder() {
        let names: Vec<&str> = tables().iter().flat_map(|t| t.iter().map(|p| p.name)).collect();
        for n in PURE_INTEGER {
            assert!(names.contains(n), "{n} is not a pattern");
        }
        assert!(is_pure_integer(0x01f6_86b3), "add a3,a3,t6");
        assert!(expand(0x0585).is_some_and(is_pure_integer), "c.addi a1,1");
        assert!(!is_pure_integer(0x0006_b603), "ld");
        assert!(!is_pure_integer(0x0400_006f), "jal");
        assert!(!is_pure_integer(0x3400_2573), "csrr");
        assert!(is_conditional_branch(0x0078_7463) && !is_conditional_branch(0x01f6_86b3));
        assert!(expand(0xc119).is_some_and(is_conditional_branch), "c.beqz a0");
    }

    #[test]
    fn own_patterns_do_not_overlap() {
        let all: Vec<&Pattern> =
            [insn_rvi::TABLE, insn_rvm::TABLE, insn_rva::TABLE, insn_zb::TABLE].into_iter().flatten().collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                let common = a.mask & b.mask;
                assert_ne!(a.bits & common, b.bits & common, "{} overlaps {}", a.name, b.name);
            }
        }
    }

    #[test]
    fn other_tables_are_consulted() {
        assert_eq!(name_of(0x0000_0073), Some("ecall"));
        assert_eq!(name_of(0x3020_0073), Some("mret"));
        assert_eq!(name_of(0x3400_2573), Some("csrrs")); // csrr a0, mscratch
        assert_eq!(name_of(0x0ff0_000f), Some("fence"));
        // c.ebreak expands to ebreak
        assert_eq!(super::rvc::expand(0x9002).and_then(name_of), Some("ebreak"));
    }

    #[test]
    fn index_finds_exactly_what_a_linear_scan_finds() {
        let mut x = 0x1234_5678_9abc_def0u64;
        for _ in 0..200_000 {
            // xorshift: cheap reproducible pseudo-random encodings
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let insn = (x as u32) | 3;
            let linear: Vec<&str> =
                tables().into_iter().flatten().filter(|p| p.matches(insn)).map(|p| p.name).collect();
            match decode(insn) {
                Some(p) => assert!(linear.contains(&p.name), "{insn:08x}: {} not in {linear:?}", p.name),
                None => assert!(linear.is_empty(), "{insn:08x}: index missed {linear:?}"),
            }
        }
    }

    #[test]
    fn unknown_encodings_are_illegal() {
        assert!(is_illegal(0xffff_ffff));
        assert!(is_illegal(0x0000_0000));
        assert!(is_illegal(0x0000_007f)); // opcode nobody uses
    }
}
