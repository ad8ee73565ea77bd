//! The A extension: LR/SC and AMOs. This is a single-threaded TCG per hart, so an AMO is a plain
//! load (with `rmw`: write permission, store-fault reporting) and a store. SC succeeds when its
//! address is the reserved one and memory still holds the value LR saw (QEMU's scheme), and it
//! always clears the reservation. aq/rl need no work here.

use mimic_translator::ir::{BinOp, Cond, MemOp, MemSize, Reg, Width};

use super::decode::fields::*;
use super::decode::Pattern;
use super::regs;
use super::translate::Ctx;

/// funct5, funct3 and opcode; aq/rl (bits 26:25) are free.
const AMO: u32 = 0xf800_707f;
/// LR also fixes rs2 = 0.
const LR: u32 = 0xf9f0_707f;

macro_rules! pat {
    ($name:literal, $mask:expr, $f5:expr, $f3:expr, $h:ident) => {
        Pattern { name: $name, mask: $mask, bits: ($f5 << 27) | ($f3 << 12) | 0x2f, handler: $h }
    };
}

pub static TABLE: &[Pattern] = &[
    pat!("lr.w", LR, 0b00010, 2, trans_lr),
    pat!("sc.w", AMO, 0b00011, 2, trans_sc),
    pat!("amoswap.w", AMO, 0b00001, 2, trans_amo),
    pat!("amoadd.w", AMO, 0b00000, 2, trans_amo),
    pat!("amoxor.w", AMO, 0b00100, 2, trans_amo),
    pat!("amoand.w", AMO, 0b01100, 2, trans_amo),
    pat!("amoor.w", AMO, 0b01000, 2, trans_amo),
    pat!("amomin.w", AMO, 0b10000, 2, trans_amo),
    pat!("amomax.w", AMO, 0b10100, 2, trans_amo),
    pat!("amominu.w", AMO, 0b11000, 2, trans_amo),
    pat!("amomaxu.w", AMO, 0b11100, 2, trans_amo),
    pat!("lr.d", LR, 0b00010, 3, trans_lr),
    pat!("sc.d", AMO, 0b00011, 3, trans_sc),
    pat!("amoswap.d", AMO, 0b00001, 3, trans_amo),
    pat!("amoadd.d", AMO, 0b00000, 3, trans_amo),
    pat!("amoxor.d", AMO, 0b00100, 3, trans_amo),
    pat!("amoand.d", AMO, 0b01100, 3, trans_amo),
    pat!("amoor.d", AMO, 0b01000, 3, trans_amo),
    pat!("amomin.d", AMO, 0b10000, 3, trans_amo),
    pat!("amomax.d", AMO, 0b10100, 3, trans_amo),
    pat!("amominu.d", AMO, 0b11000, 3, trans_amo),
    pat!("amomaxu.d", AMO, 0b11100, 3, trans_amo),
];

/// Access of an atomic: `.w` values are sign-extended, misalignment always traps.
fn atomic_mem(ctx: &Ctx, i: u32, rmw: bool) -> MemOp {
    let size = if funct3(i) == 2 { MemSize::B4 } else { MemSize::B8 };
    MemOp { align: true, rmw, ..ctx.mem(size, true) }
}

fn clear_reservation(ctx: &mut Ctx) {
    let none = ctx.konst(u64::MAX);
    ctx.b.set_reg(Reg(regs::RESV_ADDR), none);
}

fn trans_lr(ctx: &mut Ctx, i: u32) -> bool {
    let addr = ctx.gpr(rs1(i));
    let mem = atomic_mem(ctx, i, false);
    let v = ctx.b.load(addr, mem);
    ctx.b.set_reg(Reg(regs::RESV_ADDR), addr);
    ctx.b.set_reg(Reg(regs::RESV_VAL), v);
    ctx.set_gpr(rd(i), v);
    true
}

fn trans_sc(ctx: &mut Ctx, i: u32) -> bool {
    let fail = ctx.b.new_label();
    let done = ctx.b.new_label();
    let addr = ctx.gpr(rs1(i));
    let src = ctx.gpr(rs2(i));
    let resv = ctx.b.get_reg(Reg(regs::RESV_ADDR));
    let other = ctx.b.cmp(Cond::Ne, addr, resv);
    ctx.b.br_cond(other, fail);
    let cur = ctx.b.load(addr, atomic_mem(ctx, i, true));
    let seen = ctx.b.get_reg(Reg(regs::RESV_VAL));
    let changed = ctx.b.cmp(Cond::Ne, cur, seen);
    ctx.b.br_cond(changed, fail);
    ctx.b.store(addr, src, atomic_mem(ctx, i, false));
    let ok = ctx.konst(0);
    ctx.set_gpr(rd(i), ok);
    clear_reservation(ctx);
    ctx.b.br(done);
    // Temps from before the label are dead here: only constants are needed.
    ctx.b.label(fail);
    let bad = ctx.konst(1);
    ctx.set_gpr(rd(i), bad);
    clear_reservation(ctx);
    ctx.b.label(done);
    true
}

fn trans_amo(ctx: &mut Ctx, i: u32) -> bool {
    let w = funct3(i) == 2;
    let addr = ctx.gpr(rs1(i));
    let src = ctx.gpr(rs2(i));
    let old = ctx.b.load(addr, atomic_mem(ctx, i, true));
    // `.w` min/max compare 32-bit values: W32 ops look at the low words only; the store keeps
    // only the low word anyway.
    let width = if w { Width::W32 } else { Width::W64 };
    let new = match i >> 27 {
        0b00001 => src,
        0b00000 => ctx.b.bin64(BinOp::Add, old, src),
        0b00100 => ctx.b.bin64(BinOp::Xor, old, src),
        0b01100 => ctx.b.bin64(BinOp::And, old, src),
        0b01000 => ctx.b.bin64(BinOp::Or, old, src),
        0b10000 => ctx.b.bin(BinOp::Min, width, old, src),
        0b10100 => ctx.b.bin(BinOp::Max, width, old, src),
        0b11000 => ctx.b.bin(BinOp::MinU, width, old, src),
        0b11100 => ctx.b.bin(BinOp::MaxU, width, old, src),
        _ => return false,
    };
    ctx.b.store(addr, new, atomic_mem(ctx, i, false));
    ctx.set_gpr(rd(i), old);
    true
}

#[cfg(test)]
mod tests {
    use super::super::decode::tests::{is_illegal, name_of, translate_one};
    use super::*;
    use mimic_translator::ir::Op;

    #[test]
    fn assembler_encodings_decode() {
        for (w, n) in [
            (0x1005252fu32, "lr.w"),
            (0x1405352f, "lr.d"), // lr.d.aq
            (0x18b5252f, "sc.w"),
            (0x1eb5352f, "sc.d"), // sc.d.aqrl
            (0x08b5252f, "amoswap.w"),
            (0x00b5352f, "amoadd.d"),
            (0x20b5252f, "amoxor.w"),
            (0x60b5352f, "amoand.d"),
            (0x40b5252f, "amoor.w"),
            (0x80b5352f, "amomin.d"),
            (0xa0b5252f, "amomax.w"),
            (0xc0b5352f, "amominu.d"),
            (0xe0b5252f, "amomaxu.w"),
        ] {
            assert_eq!(name_of(w), Some(n), "{w:08x}");
        }
    }

    #[test]
    fn lr_with_rs2_and_bad_width_are_illegal() {
        assert!(is_illegal(0x10b5252f)); // lr.w with rs2 = a1
        assert!(is_illegal(0x00b5052f)); // amoadd with funct3 = 0
        assert!(is_illegal(0x38b5252f)); // funct5 00111: unused
    }

    #[test]
    fn lr_records_the_reservation_with_an_aligned_load() {
        let ctx = translate_one(0x1005252f);
        let ops = &ctx.b.block().ops;
        assert!(ops.iter().any(|o| matches!(o, Op::Load { mem, .. } if mem.align && mem.signed && !mem.rmw)));
        assert!(ops.iter().any(|o| matches!(o, Op::SetReg { reg, .. } if *reg == Reg(regs::RESV_ADDR))));
        assert!(ops.iter().any(|o| matches!(o, Op::SetReg { reg, .. } if *reg == Reg(regs::RESV_VAL))));
    }

    #[test]
    fn sc_checks_address_and_value_and_clears_the_reservation_on_both_paths() {
        let ctx = translate_one(0x18b5252f);
        let ops = &ctx.b.block().ops;
        let clears = ops.iter().filter(|o| matches!(o, Op::SetReg { reg, .. } if *reg == Reg(regs::RESV_ADDR))).count();
        assert_eq!(clears, 2);
        assert_eq!(ops.iter().filter(|o| matches!(o, Op::BrCond { .. })).count(), 2);
        assert!(ops.iter().any(|o| matches!(o, Op::Load { mem, .. } if mem.rmw && mem.align)));
        assert!(ops.iter().any(|o| matches!(o, Op::Store { mem, .. } if mem.align)));
    }

    #[test]
    fn amominu_w_compares_32_bit_values() {
        let ctx = translate_one(0xc0b5252f);
        let ops = &ctx.b.block().ops;
        assert!(ops.iter().any(|o| matches!(o, Op::Bin { op: BinOp::MinU, width: Width::W32, .. })));
        assert!(ops.iter().any(|o| matches!(o, Op::Load { mem, .. } if mem.rmw && mem.size == MemSize::B4)));
    }
}
