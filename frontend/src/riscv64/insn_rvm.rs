//! The M extension: integer multiply and divide. IR division is total with RISC-V's results
//! (x/0 = -1, MIN/-1 = MIN, x%0 = x, MIN%-1 = 0), so no checks are emitted; `*W` forms compute on
//! 32-bit operands (the IR's `W32` ops have the same corner-case rules at 32 bits) and
//! sign-extend the 32-bit result.

use mimic_translator::ir::{BinOp, Width};

use super::decode::fields::*;
use super::decode::Pattern;
use super::translate::Ctx;

const F7: u32 = 0xfe00_707f;

macro_rules! pat {
    ($name:literal, $bits:expr, $h:ident) => {
        Pattern { name: $name, mask: F7, bits: $bits, handler: $h }
    };
}

pub static TABLE: &[Pattern] = &[
    pat!("mul", 0x0200_0033, trans_mul),
    pat!("mulh", 0x0200_1033, trans_mulh),
    pat!("mulhsu", 0x0200_2033, trans_mulhsu),
    pat!("mulhu", 0x0200_3033, trans_mulhu),
    pat!("div", 0x0200_4033, trans_div),
    pat!("divu", 0x0200_5033, trans_divu),
    pat!("rem", 0x0200_6033, trans_rem),
    pat!("remu", 0x0200_7033, trans_remu),
    pat!("mulw", 0x0200_003b, trans_mulw),
    pat!("divw", 0x0200_403b, trans_divw),
    pat!("divuw", 0x0200_503b, trans_divuw),
    pat!("remw", 0x0200_603b, trans_remw),
    pat!("remuw", 0x0200_703b, trans_remuw),
];

fn op64(ctx: &mut Ctx, i: u32, op: BinOp) -> bool {
    if rd(i) == 0 {
        return true;
    }
    let a = ctx.gpr(rs1(i));
    let b = ctx.gpr(rs2(i));
    let v = ctx.b.bin64(op, a, b);
    ctx.set_gpr(rd(i), v);
    true
}

fn op32(ctx: &mut Ctx, i: u32, op: BinOp) -> bool {
    if rd(i) == 0 {
        return true;
    }
    let a = ctx.gpr(rs1(i));
    let b = ctx.gpr(rs2(i));
    let w = ctx.b.bin(op, Width::W32, a, b);
    let v = ctx.sext32(w);
    ctx.set_gpr(rd(i), v);
    true
}

fn trans_mul(ctx: &mut Ctx, i: u32) -> bool {
    op64(ctx, i, BinOp::Mul)
}
fn trans_mulh(ctx: &mut Ctx, i: u32) -> bool {
    op64(ctx, i, BinOp::MulHs)
}
fn trans_mulhsu(ctx: &mut Ctx, i: u32) -> bool {
    op64(ctx, i, BinOp::MulHsu)
}
fn trans_mulhu(ctx: &mut Ctx, i: u32) -> bool {
    op64(ctx, i, BinOp::MulHu)
}
fn trans_div(ctx: &mut Ctx, i: u32) -> bool {
    op64(ctx, i, BinOp::Div)
}
fn trans_divu(ctx: &mut Ctx, i: u32) -> bool {
    op64(ctx, i, BinOp::DivU)
}
fn trans_rem(ctx: &mut Ctx, i: u32) -> bool {
    op64(ctx, i, BinOp::Rem)
}
fn trans_remu(ctx: &mut Ctx, i: u32) -> bool {
    op64(ctx, i, BinOp::RemU)
}
fn trans_mulw(ctx: &mut Ctx, i: u32) -> bool {
    op32(ctx, i, BinOp::Mul)
}
fn trans_divw(ctx: &mut Ctx, i: u32) -> bool {
    op32(ctx, i, BinOp::Div)
}
fn trans_divuw(ctx: &mut Ctx, i: u32) -> bool {
    op32(ctx, i, BinOp::DivU)
}
fn trans_remw(ctx: &mut Ctx, i: u32) -> bool {
    op32(ctx, i, BinOp::Rem)
}
fn trans_remuw(ctx: &mut Ctx, i: u32) -> bool {
    op32(ctx, i, BinOp::RemU)
}

#[cfg(test)]
mod tests {
    use super::super::decode::tests::{name_of, translate_one};
    use mimic_translator::ir::{BinOp, Op, UnOp, Width};

    #[test]
    fn assembler_encodings_decode() {
        for (w, n) in [
            (0x02b50533u32, "mul"),
            (0x02b51533, "mulh"),
            (0x02b52533, "mulhsu"),
            (0x02b53533, "mulhu"),
            (0x02b54533, "div"),
            (0x02b55533, "divu"),
            (0x02b56533, "rem"),
            (0x02b57533, "remu"),
            (0x02b5053b, "mulw"),
            (0x02b5453b, "divw"),
            (0x02b5553b, "divuw"),
            (0x02b5653b, "remw"),
            (0x02b5753b, "remuw"),
        ] {
            assert_eq!(name_of(w), Some(n), "{w:08x}");
        }
    }

    #[test]
    fn divw_is_32_bit_division_then_sign_extension() {
        let ctx = translate_one(0x02b5453b); // divw a0, a0, a1
        let ops = &ctx.b.block().ops;
        let div = ops.iter().position(|o| matches!(o, Op::Bin { op: BinOp::Div, width: Width::W32, .. })).unwrap();
        assert!(matches!(ops[div + 1], Op::Un { op: UnOp::Sext32, .. }));
    }
}
