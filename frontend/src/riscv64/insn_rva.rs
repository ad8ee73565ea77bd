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
    // Temps from before the label are dead here: re-read rs1 (rd is not written yet).
    ctx.b.label(fail);
    // A misaligned SC traps (store/AMO address misaligned) even without a reservation. The
    // reservation never holds a misaligned address (LR traps on one), so every misaligned SC comes
    // here: the aligned access raises the fault before touching memory.
    let plain_fail = ctx.b.new_label();
    let addr = ctx.gpr(rs1(i));
    let mem = atomic_mem(ctx, i, true);
    let low = ctx.bin_imm(BinOp::And, addr, mem.size.bytes() - 1);
    let zero = ctx.konst(0);
    let aligned = ctx.b.cmp(Cond::Eq, low, zero);
    ctx.b.br_cond(aligned, plain_fail);
    ctx.b.load(addr, mem);
    ctx.b.label(plain_fail);
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
        assert_eq!(ops.iter().filter(|o| matches!(o, Op::BrCond { .. })).count(), 3);
        assert!(ops.iter().any(|o| matches!(o, Op::Load { mem, .. } if mem.rmw && mem.align)));
        assert!(ops.iter().any(|o| matches!(o, Op::Store { mem, .. } if mem.align)));
    }

    mod exec {
        use super::super::super::helper_table;
        use super::*;
        use mimic_translator::env::{decode_memop, Env, Runtime};
        use mimic_translator::interp::interpret;
        use std::cell::RefCell;

        /// (vaddr, size, align, rmw, is_store) of an access that reached the runtime.
        type Access = (u64, u64, bool, bool, bool);

        thread_local! {
            static SEEN: RefCell<Vec<Access>> = const { RefCell::new(Vec::new()) };
        }

        fn note(va: u64, memop: u64, store: bool) {
            let m = decode_memop(memop);
            SEEN.with(|s| s.borrow_mut().push((va, m.size.bytes(), m.align, m.rmw, store)));
        }

        unsafe extern "C" fn load_slow(_: *mut Env, va: u64, memop: u64) -> u64 {
            note(va, memop, false);
            0
        }

        unsafe extern "C" fn store_slow(_: *mut Env, va: u64, _: u64, memop: u64) {
            note(va, memop, true);
        }

        unsafe extern "C" fn lookup(_: *mut Env) -> *const u8 {
            std::ptr::null()
        }

        static RUNTIME: Runtime = Runtime { load_slow, store_slow, lookup };

        /// Run `sc.w/d a2, a1, (a0)` with a0 = `addr` and the reservation at `resv`; returns the
        /// accesses made and a2.
        fn sc(raw: u32, addr: u64, resv: u64) -> (Vec<Access>, u64) {
            SEEN.with(|s| s.borrow_mut().clear());
            let mut ctx = translate_one(raw);
            let next = ctx.next_pc();
            ctx.jump(next);
            let block = ctx.b.finish();
            mimic_translator::verify::verify(&block, helper_table()).unwrap();
            let mut env = Box::new(Env::new());
            env.runtime = &RUNTIME;
            env.budget = 100;
            env.regs[regs::X0 as usize + 10] = addr;
            env.regs[regs::RESV_ADDR as usize] = resv;
            // SAFETY: env is a live Env whose runtime only records; the block is verified.
            unsafe { interpret(&block, 0, &mut *env, helper_table()) };
            (SEEN.with(|s| s.borrow().clone()), env.regs[regs::X0 as usize + 12])
        }

        const SC_W: u32 = 0x18b5262f; // sc.w a2, a1, (a0)
        const SC_D: u32 = 0x18b5362f; // sc.d a2, a1, (a0)

        #[test]
        fn misaligned_sc_makes_the_aligned_access_even_without_a_reservation() {
            for (raw, n, addr) in [(SC_W, 4, 0x1002), (SC_W, 4, 0x1001), (SC_D, 8, 0x1004), (SC_D, 8, 0x1003)] {
                // The runtime raises the misaligned fault on an `align` access; here it records it.
                for resv in [u64::MAX, addr & !(n - 1)] {
                    let (seen, _) = sc(raw, addr, resv);
                    assert_eq!(seen, vec![(addr, n, true, true, false)], "{raw:08x} at {addr:#x}, resv {resv:#x}");
                }
            }
        }

        #[test]
        fn aligned_sc_without_the_reservation_fails_without_touching_memory() {
            let (seen, rd) = sc(SC_D, 0x1008, u64::MAX);
            assert!(seen.is_empty());
            assert_eq!(rd, 1);
            // With it, the value is compared and the store made.
            let (seen, rd) = sc(SC_D, 0x1008, 0x1008);
            assert_eq!(seen, vec![(0x1008, 8, true, true, false), (0x1008, 8, true, false, true)]);
            assert_eq!(rd, 0);
        }
    }

    #[test]
    fn amominu_w_compares_32_bit_values() {
        let ctx = translate_one(0xc0b5252f);
        let ops = &ctx.b.block().ops;
        assert!(ops.iter().any(|o| matches!(o, Op::Bin { op: BinOp::MinU, width: Width::W32, .. })));
        assert!(ops.iter().any(|o| matches!(o, Op::Load { mem, .. } if mem.rmw && mem.size == MemSize::B4)));
    }
}
