//! Bit manipulation: Zba (address generation), Zbb (basic bit manipulation) and Zbs (single-bit
//! operations), RV64 forms.

use mimic_translator::ir::{BinOp, UnOp, Width};

use super::decode::fields::*;
use super::decode::Pattern;
use super::translate::Ctx;

const F7: u32 = 0xfe00_707f;
const F6: u32 = 0xfc00_707f;
/// The whole immediate field fixed (unary ops encoded in the I-type immediate).
const F12: u32 = 0xfff0_707f;

macro_rules! pat {
    ($name:literal, $mask:expr, $bits:expr, $h:ident) => {
        Pattern { name: $name, mask: $mask, bits: $bits, handler: $h }
    };
}

pub static TABLE: &[Pattern] = &[
    // Zba
    pat!("add.uw", F7, 0x0800_003b, trans_add_uw),
    pat!("sh1add", F7, 0x2000_2033, trans_shadd),
    pat!("sh2add", F7, 0x2000_4033, trans_shadd),
    pat!("sh3add", F7, 0x2000_6033, trans_shadd),
    pat!("sh1add.uw", F7, 0x2000_203b, trans_shadd_uw),
    pat!("sh2add.uw", F7, 0x2000_403b, trans_shadd_uw),
    pat!("sh3add.uw", F7, 0x2000_603b, trans_shadd_uw),
    pat!("slli.uw", F6, 0x0800_101b, trans_slli_uw),
    // Zbb
    pat!("andn", F7, 0x4000_7033, trans_andn),
    pat!("orn", F7, 0x4000_6033, trans_orn),
    pat!("xnor", F7, 0x4000_4033, trans_xnor),
    pat!("clz", F12, 0x6000_1013, trans_clz),
    pat!("ctz", F12, 0x6010_1013, trans_ctz),
    pat!("cpop", F12, 0x6020_1013, trans_cpop),
    pat!("sext.b", F12, 0x6040_1013, trans_sext_b),
    pat!("sext.h", F12, 0x6050_1013, trans_sext_h),
    pat!("clzw", F12, 0x6000_101b, trans_clzw),
    pat!("ctzw", F12, 0x6010_101b, trans_ctzw),
    pat!("cpopw", F12, 0x6020_101b, trans_cpopw),
    pat!("zext.h", F12, 0x0800_403b, trans_zext_h),
    pat!("max", F7, 0x0a00_6033, trans_max),
    pat!("maxu", F7, 0x0a00_7033, trans_maxu),
    pat!("min", F7, 0x0a00_4033, trans_min),
    pat!("minu", F7, 0x0a00_5033, trans_minu),
    pat!("rol", F7, 0x6000_1033, trans_rol),
    pat!("ror", F7, 0x6000_5033, trans_ror),
    pat!("rolw", F7, 0x6000_103b, trans_rolw),
    pat!("rorw", F7, 0x6000_503b, trans_rorw),
    pat!("rori", F6, 0x6000_5013, trans_rori),
    pat!("roriw", F7, 0x6000_501b, trans_roriw),
    pat!("orc.b", F12, 0x2870_5013, trans_orc_b),
    pat!("rev8", F12, 0x6b80_5013, trans_rev8),
    // Zbs
    pat!("bclr", F7, 0x4800_1033, trans_bclr),
    pat!("bext", F7, 0x4800_5033, trans_bext),
    pat!("binv", F7, 0x6800_1033, trans_binv),
    pat!("bset", F7, 0x2800_1033, trans_bset),
    pat!("bclri", F6, 0x4800_1013, trans_bclri),
    pat!("bexti", F6, 0x4800_5013, trans_bexti),
    pat!("binvi", F6, 0x6800_1013, trans_binvi),
    pat!("bseti", F6, 0x2800_1013, trans_bseti),
];

/// `rd = f(ctx, rs1, rs2)`, nothing at all for rd = x0 (none of these can trap).
fn rr(
    ctx: &mut Ctx,
    i: u32,
    f: impl FnOnce(&mut Ctx, mimic_translator::ir::Temp, mimic_translator::ir::Temp) -> mimic_translator::ir::Temp,
) -> bool {
    if rd(i) != 0 {
        let a = ctx.gpr(rs1(i));
        let b = ctx.gpr(rs2(i));
        let v = f(ctx, a, b);
        ctx.set_gpr(rd(i), v);
    }
    true
}

fn r1(
    ctx: &mut Ctx,
    i: u32,
    f: impl FnOnce(&mut Ctx, mimic_translator::ir::Temp) -> mimic_translator::ir::Temp,
) -> bool {
    if rd(i) != 0 {
        let a = ctx.gpr(rs1(i));
        let v = f(ctx, a);
        ctx.set_gpr(rd(i), v);
    }
    true
}

fn bin(ctx: &mut Ctx, i: u32, op: BinOp) -> bool {
    rr(ctx, i, |c, a, b| c.bin64(op, a, b))
}

fn un(ctx: &mut Ctx, i: u32, op: UnOp, width: Width) -> bool {
    r1(ctx, i, |c, a| c.un(op, width, a))
}

/// `shNadd`: shift amount from funct3 (1, 2 or 3).
fn sh_of(i: u32) -> u64 {
    (funct3(i) >> 1) as u64
}

fn trans_add_uw(ctx: &mut Ctx, i: u32) -> bool {
    rr(ctx, i, |c, a, b| {
        let z = c.un(UnOp::Zext32, Width::W64, a);
        c.bin64(BinOp::Add, z, b)
    })
}
fn trans_shadd(ctx: &mut Ctx, i: u32) -> bool {
    let sh = sh_of(i);
    rr(ctx, i, |c, a, b| {
        let s = c.bin_imm(BinOp::Shl, a, sh);
        c.bin64(BinOp::Add, s, b)
    })
}
fn trans_shadd_uw(ctx: &mut Ctx, i: u32) -> bool {
    let sh = sh_of(i);
    rr(ctx, i, |c, a, b| {
        let z = c.un(UnOp::Zext32, Width::W64, a);
        let s = c.bin_imm(BinOp::Shl, z, sh);
        c.bin64(BinOp::Add, s, b)
    })
}
fn trans_slli_uw(ctx: &mut Ctx, i: u32) -> bool {
    let sh = shamt(i) as u64;
    r1(ctx, i, |c, a| {
        let z = c.un(UnOp::Zext32, Width::W64, a);
        c.bin_imm(BinOp::Shl, z, sh)
    })
}
fn trans_andn(ctx: &mut Ctx, i: u32) -> bool {
    bin(ctx, i, BinOp::AndNot)
}
fn trans_orn(ctx: &mut Ctx, i: u32) -> bool {
    bin(ctx, i, BinOp::OrNot)
}
fn trans_xnor(ctx: &mut Ctx, i: u32) -> bool {
    bin(ctx, i, BinOp::XorNot)
}
fn trans_clz(ctx: &mut Ctx, i: u32) -> bool {
    un(ctx, i, UnOp::Clz, Width::W64)
}
fn trans_ctz(ctx: &mut Ctx, i: u32) -> bool {
    un(ctx, i, UnOp::Ctz, Width::W64)
}
fn trans_cpop(ctx: &mut Ctx, i: u32) -> bool {
    un(ctx, i, UnOp::Popcnt, Width::W64)
}
fn trans_sext_b(ctx: &mut Ctx, i: u32) -> bool {
    un(ctx, i, UnOp::Sext8, Width::W64)
}
fn trans_sext_h(ctx: &mut Ctx, i: u32) -> bool {
    un(ctx, i, UnOp::Sext16, Width::W64)
}
// The W32 counts are of the low word and at most 32: no sign extension needed.
fn trans_clzw(ctx: &mut Ctx, i: u32) -> bool {
    un(ctx, i, UnOp::Clz, Width::W32)
}
fn trans_ctzw(ctx: &mut Ctx, i: u32) -> bool {
    un(ctx, i, UnOp::Ctz, Width::W32)
}
fn trans_cpopw(ctx: &mut Ctx, i: u32) -> bool {
    un(ctx, i, UnOp::Popcnt, Width::W32)
}
fn trans_zext_h(ctx: &mut Ctx, i: u32) -> bool {
    un(ctx, i, UnOp::Zext16, Width::W64)
}
fn trans_max(ctx: &mut Ctx, i: u32) -> bool {
    bin(ctx, i, BinOp::Max)
}
fn trans_maxu(ctx: &mut Ctx, i: u32) -> bool {
    bin(ctx, i, BinOp::MaxU)
}
fn trans_min(ctx: &mut Ctx, i: u32) -> bool {
    bin(ctx, i, BinOp::Min)
}
fn trans_minu(ctx: &mut Ctx, i: u32) -> bool {
    bin(ctx, i, BinOp::MinU)
}
fn trans_rol(ctx: &mut Ctx, i: u32) -> bool {
    bin(ctx, i, BinOp::Rotl)
}
fn trans_ror(ctx: &mut Ctx, i: u32) -> bool {
    bin(ctx, i, BinOp::Rotr)
}
fn rot_w(ctx: &mut Ctx, i: u32, op: BinOp) -> bool {
    rr(ctx, i, |c, a, b| {
        let r = c.b.bin(op, Width::W32, a, b);
        c.sext32(r)
    })
}
fn trans_rolw(ctx: &mut Ctx, i: u32) -> bool {
    rot_w(ctx, i, BinOp::Rotl)
}
fn trans_rorw(ctx: &mut Ctx, i: u32) -> bool {
    rot_w(ctx, i, BinOp::Rotr)
}
fn trans_rori(ctx: &mut Ctx, i: u32) -> bool {
    let sh = shamt(i) as u64;
    r1(ctx, i, |c, a| c.bin_imm(BinOp::Rotr, a, sh))
}
fn trans_roriw(ctx: &mut Ctx, i: u32) -> bool {
    let sh = shamt(i) as u64;
    r1(ctx, i, |c, a| {
        let k = c.konst(sh);
        let r = c.b.bin(BinOp::Rotr, Width::W32, a, k);
        c.sext32(r)
    })
}
fn trans_orc_b(ctx: &mut Ctx, i: u32) -> bool {
    // High bit of each byte of ((x & 0x7f..) + 0x7f..) | x is set iff that byte is non-zero;
    // multiplying the isolated bits (moved to bit 0 of each byte) by 0xff fills the bytes. No
    // carries cross bytes in either step.
    r1(ctx, i, |c, a| {
        let low7 = c.bin_imm(BinOp::And, a, 0x7f7f_7f7f_7f7f_7f7f);
        let sum = c.bin_imm(BinOp::Add, low7, 0x7f7f_7f7f_7f7f_7f7f);
        let any = c.bin64(BinOp::Or, sum, a);
        let high = c.bin_imm(BinOp::And, any, 0x8080_8080_8080_8080);
        let ones = c.bin_imm(BinOp::Shr, high, 7);
        c.bin_imm(BinOp::Mul, ones, 0xff)
    })
}
fn trans_rev8(ctx: &mut Ctx, i: u32) -> bool {
    un(ctx, i, UnOp::Bswap, Width::W64)
}

/// `1 << (b & 63)`.
fn bit_of(ctx: &mut Ctx, b: mimic_translator::ir::Temp) -> mimic_translator::ir::Temp {
    let one = ctx.konst(1);
    ctx.bin64(BinOp::Shl, one, b)
}
fn trans_bclr(ctx: &mut Ctx, i: u32) -> bool {
    rr(ctx, i, |c, a, b| {
        let m = bit_of(c, b);
        c.bin64(BinOp::AndNot, a, m)
    })
}
fn trans_bext(ctx: &mut Ctx, i: u32) -> bool {
    rr(ctx, i, |c, a, b| {
        let s = c.bin64(BinOp::Shr, a, b);
        c.bin_imm(BinOp::And, s, 1)
    })
}
fn trans_binv(ctx: &mut Ctx, i: u32) -> bool {
    rr(ctx, i, |c, a, b| {
        let m = bit_of(c, b);
        c.bin64(BinOp::Xor, a, m)
    })
}
fn trans_bset(ctx: &mut Ctx, i: u32) -> bool {
    rr(ctx, i, |c, a, b| {
        let m = bit_of(c, b);
        c.bin64(BinOp::Or, a, m)
    })
}
fn trans_bclri(ctx: &mut Ctx, i: u32) -> bool {
    let m = !(1u64 << shamt(i));
    r1(ctx, i, |c, a| c.bin_imm(BinOp::And, a, m))
}
fn trans_bexti(ctx: &mut Ctx, i: u32) -> bool {
    let sh = shamt(i) as u64;
    r1(ctx, i, |c, a| {
        let s = c.bin_imm(BinOp::Shr, a, sh);
        c.bin_imm(BinOp::And, s, 1)
    })
}
fn trans_binvi(ctx: &mut Ctx, i: u32) -> bool {
    let m = 1u64 << shamt(i);
    r1(ctx, i, |c, a| c.bin_imm(BinOp::Xor, a, m))
}
fn trans_bseti(ctx: &mut Ctx, i: u32) -> bool {
    let m = 1u64 << shamt(i);
    r1(ctx, i, |c, a| c.bin_imm(BinOp::Or, a, m))
}

#[cfg(test)]
mod tests {
    use super::super::decode::tests::{is_illegal, name_of, translate_one};
    use mimic_translator::ir::{BinOp, Op, UnOp, Width};

    /// Encodings from riscv64-unknown-elf-as -march=rv64gc_zba_zbb_zbs.
    #[test]
    fn assembler_encodings_decode() {
        for (w, n) in [
            (0x08c5853b, "add.uw"),
            (0x20c5a533, "sh1add"),
            (0x20c5c533, "sh2add"),
            (0x20c5e533, "sh3add"),
            (0x20c5a53b, "sh1add.uw"),
            (0x20c5c53b, "sh2add.uw"),
            (0x20c5e53b, "sh3add.uw"),
            (0x0bf5951b, "slli.uw"),
            (0x40c5f533, "andn"),
            (0x40c5e533, "orn"),
            (0x40c5c533, "xnor"),
            (0x60059513, "clz"),
            (0x60159513, "ctz"),
            (0x60259513, "cpop"),
            (0x60459513, "sext.b"),
            (0x60559513, "sext.h"),
            (0x6005951b, "clzw"),
            (0x6015951b, "ctzw"),
            (0x6025951b, "cpopw"),
            (0x0805c53b, "zext.h"),
            (0x0ac5e533, "max"),
            (0x0ac5f533, "maxu"),
            (0x0ac5c533, "min"),
            (0x0ac5d533, "minu"),
            (0x60c59533, "rol"),
            (0x60c5d533, "ror"),
            (0x60c5953b, "rolw"),
            (0x60c5d53b, "rorw"),
            (0x63f5d513, "rori"),
            (0x61f5d51b, "roriw"),
            (0x2875d513, "orc.b"),
            (0x6b85d513, "rev8"),
            (0x48c59533, "bclr"),
            (0x48c5d533, "bext"),
            (0x68c59533, "binv"),
            (0x28c59533, "bset"),
            (0x4bf59513, "bclri"),
            (0x4bf5d513, "bexti"),
            (0x6bf59513, "binvi"),
            (0x2bf59513, "bseti"),
        ] {
            assert_eq!(name_of(w), Some(n), "{w:08x}");
        }
    }

    #[test]
    fn roriw_with_shamt_5_set_is_illegal() {
        assert!(is_illegal(0x61f5d51b | 1 << 25));
    }

    #[test]
    fn orc_b_uses_no_helper() {
        let ctx = translate_one(0x2875d513);
        let ops = &ctx.b.block().ops;
        assert!(!ops.iter().any(|o| matches!(o, Op::Call { .. })));
        assert!(ops.iter().any(|o| matches!(o, Op::Bin { op: BinOp::Mul, .. })));
    }

    #[test]
    fn rorw_sign_extends_a_32_bit_rotate() {
        let ctx = translate_one(0x60c5d53b);
        let ops = &ctx.b.block().ops;
        let r = ops.iter().position(|o| matches!(o, Op::Bin { op: BinOp::Rotr, width: Width::W32, .. })).unwrap();
        assert!(matches!(ops[r + 1], Op::Un { op: UnOp::Sext32, .. }));
    }

    #[test]
    fn bseti_folds_the_mask() {
        let ctx = translate_one(0x2bf59513); // bseti a0, a1, 63
        let ops = &ctx.b.block().ops;
        assert!(ops.iter().any(|o| matches!(o, Op::Const { value, .. } if *value == 1 << 63)));
        assert_eq!(ops.iter().filter(|o| matches!(o, Op::Bin { .. })).count(), 1);
    }
}
