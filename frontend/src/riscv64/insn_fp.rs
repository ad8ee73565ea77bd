//! F and D extension instructions: loads/stores, arithmetic, conversions, moves, compares.
//!
//! Anything that rounds or raises flags is a call into `fpu.rs`; loads, stores, sign injection
//! and moves are plain IR. Every handler refuses (returns `false`) when `mstatus.FS` is Off or the
//! static rounding mode is reserved, before emitting any op.

use mimic_translator::ir::{BinOp, Cond, MemSize, Temp, UnOp, Width};

use super::decode::fields::{funct3, imm_i, imm_s, rd, rs1, rs2, rs3};
use super::decode::Pattern;
use super::fpu::{self, BOX, CANON_NAN_S};
use super::translate::{flags, Ctx};

const SIGN_S: u64 = 0x8000_0000;
const SIGN_D: u64 = 1 << 63;

fn call(ctx: &mut Ctx, h: usize, args: &[Temp]) -> Temp {
    ctx.b.call(super::fp_helper(h), args)
}

/// `mstatus.FS = Dirty` before state the OS must save changes, unless the TB already knows it is.
fn mark_fs_dirty(ctx: &mut Ctx) {
    if ctx.flags & flags::FS_DIRTY == 0 {
        ctx.b.call_void(super::fp_helper(fpu::H_MARK_FS_DIRTY), &[]);
    }
}

/// The packed rounding argument (`rm | extra | insn << 32`, see `fpu.rs`), or `None` for a
/// reserved static rm.
fn rm_arg(ctx: &mut Ctx, insn: u32, extra: u64) -> Option<Temp> {
    let rm = funct3(insn);
    if !fpu::rm_valid(rm) {
        return None;
    }
    Some(ctx.b.konst(rm as u64 | extra | (ctx.raw as u64) << 32))
}

fn write_fpr(ctx: &mut Ctx, r: u32, v: Temp) {
    mark_fs_dirty(ctx);
    ctx.set_fpr(r, v);
}

// ---------------------------------------------------------------- loads and stores

fn fp_load(ctx: &mut Ctx, insn: u32, size: MemSize) -> bool {
    if !ctx.fp_enabled() {
        return false;
    }
    let base = ctx.gpr(rs1(insn));
    let off = ctx.imm(imm_i(insn));
    let addr = ctx.b.bin64(BinOp::Add, base, off);
    let mem = ctx.mem(size, false);
    let mut v = ctx.b.load(addr, mem);
    if size == MemSize::B4 {
        let bx = ctx.b.konst(BOX);
        v = ctx.b.bin64(BinOp::Or, v, bx);
    }
    write_fpr(ctx, rd(insn), v);
    true
}

fn fp_store(ctx: &mut Ctx, insn: u32, size: MemSize) -> bool {
    if !ctx.fp_enabled() {
        return false;
    }
    let base = ctx.gpr(rs1(insn));
    let off = ctx.imm(imm_s(insn));
    let addr = ctx.b.bin64(BinOp::Add, base, off);
    let v = ctx.fpr(rs2(insn));
    let mem = ctx.mem(size, false);
    ctx.b.store(addr, v, mem);
    true
}

fn flw(c: &mut Ctx, i: u32) -> bool {
    fp_load(c, i, MemSize::B4)
}
fn fld(c: &mut Ctx, i: u32) -> bool {
    fp_load(c, i, MemSize::B8)
}
fn fsw(c: &mut Ctx, i: u32) -> bool {
    fp_store(c, i, MemSize::B4)
}
fn fsd(c: &mut Ctx, i: u32) -> bool {
    fp_store(c, i, MemSize::B8)
}

// ---------------------------------------------------------------- rounding arithmetic

/// Two-operand FP op through helper `h` (args a, b, rm).
fn rm_bin(ctx: &mut Ctx, insn: u32, h: usize) -> bool {
    if !ctx.fp_enabled() {
        return false;
    }
    let Some(p) = rm_arg(ctx, insn, 0) else { return false };
    let a = ctx.fpr(rs1(insn));
    let b = ctx.fpr(rs2(insn));
    let r = call(ctx, h, &[a, b, p]);
    write_fpr(ctx, rd(insn), r);
    true
}

/// One-operand op; `src_int` reads an X register, `dst_int` writes one.
fn rm_un(ctx: &mut Ctx, insn: u32, h: usize, extra: u64, src_int: bool, dst_int: bool) -> bool {
    if !ctx.fp_enabled() {
        return false;
    }
    let Some(p) = rm_arg(ctx, insn, extra) else { return false };
    let a = if src_int { ctx.gpr(rs1(insn)) } else { ctx.fpr(rs1(insn)) };
    let r = call(ctx, h, &[a, p]);
    if dst_int {
        // fflags may change.
        mark_fs_dirty(ctx);
        ctx.set_gpr(rd(insn), r);
    } else {
        write_fpr(ctx, rd(insn), r);
    }
    true
}

fn fma(ctx: &mut Ctx, insn: u32, h: usize, neg_prod: bool, neg_add: bool) -> bool {
    if !ctx.fp_enabled() {
        return false;
    }
    let extra = (neg_prod as u64) << 3 | (neg_add as u64) << 4;
    let Some(p) = rm_arg(ctx, insn, extra) else { return false };
    let a = ctx.fpr(rs1(insn));
    let b = ctx.fpr(rs2(insn));
    let c = ctx.fpr(rs3(insn));
    let r = call(ctx, h, &[a, b, c, p]);
    write_fpr(ctx, rd(insn), r);
    true
}

fn fmadd_s(c: &mut Ctx, i: u32) -> bool {
    fma(c, i, fpu::H_FMA_S, false, false)
}
fn fmsub_s(c: &mut Ctx, i: u32) -> bool {
    fma(c, i, fpu::H_FMA_S, false, true)
}
fn fnmsub_s(c: &mut Ctx, i: u32) -> bool {
    fma(c, i, fpu::H_FMA_S, true, false)
}
fn fnmadd_s(c: &mut Ctx, i: u32) -> bool {
    fma(c, i, fpu::H_FMA_S, true, true)
}
fn fmadd_d(c: &mut Ctx, i: u32) -> bool {
    fma(c, i, fpu::H_FMA_D, false, false)
}
fn fmsub_d(c: &mut Ctx, i: u32) -> bool {
    fma(c, i, fpu::H_FMA_D, false, true)
}
fn fnmsub_d(c: &mut Ctx, i: u32) -> bool {
    fma(c, i, fpu::H_FMA_D, true, false)
}
fn fnmadd_d(c: &mut Ctx, i: u32) -> bool {
    fma(c, i, fpu::H_FMA_D, true, true)
}

fn fadd_s(c: &mut Ctx, i: u32) -> bool {
    rm_bin(c, i, fpu::H_ADD_S)
}
fn fsub_s(c: &mut Ctx, i: u32) -> bool {
    rm_bin(c, i, fpu::H_SUB_S)
}
fn fmul_s(c: &mut Ctx, i: u32) -> bool {
    rm_bin(c, i, fpu::H_MUL_S)
}
fn fdiv_s(c: &mut Ctx, i: u32) -> bool {
    rm_bin(c, i, fpu::H_DIV_S)
}
fn fadd_d(c: &mut Ctx, i: u32) -> bool {
    rm_bin(c, i, fpu::H_ADD_D)
}
fn fsub_d(c: &mut Ctx, i: u32) -> bool {
    rm_bin(c, i, fpu::H_SUB_D)
}
fn fmul_d(c: &mut Ctx, i: u32) -> bool {
    rm_bin(c, i, fpu::H_MUL_D)
}
fn fdiv_d(c: &mut Ctx, i: u32) -> bool {
    rm_bin(c, i, fpu::H_DIV_D)
}
fn fsqrt_s(c: &mut Ctx, i: u32) -> bool {
    rm_un(c, i, fpu::H_SQRT_S, 0, false, false)
}
fn fsqrt_d(c: &mut Ctx, i: u32) -> bool {
    rm_un(c, i, fpu::H_SQRT_D, 0, false, false)
}
fn fcvt_s_d(c: &mut Ctx, i: u32) -> bool {
    rm_un(c, i, fpu::H_CVT_S_D, 0, false, false)
}
fn fcvt_d_s(c: &mut Ctx, i: u32) -> bool {
    rm_un(c, i, fpu::H_CVT_D_S, 0, false, false)
}

/// fcvt.{w,wu,l,lu}.{s,d}: the integer format is rs2.
fn fcvt_int_s(c: &mut Ctx, i: u32) -> bool {
    rm_un(c, i, fpu::H_CVT_INT_S, (rs2(i) as u64) << 3, false, true)
}
fn fcvt_int_d(c: &mut Ctx, i: u32) -> bool {
    rm_un(c, i, fpu::H_CVT_INT_D, (rs2(i) as u64) << 3, false, true)
}
fn fcvt_s_int(c: &mut Ctx, i: u32) -> bool {
    rm_un(c, i, fpu::H_CVT_S_INT, (rs2(i) as u64) << 3, true, false)
}
fn fcvt_d_int(c: &mut Ctx, i: u32) -> bool {
    rm_un(c, i, fpu::H_CVT_D_INT, (rs2(i) as u64) << 3, true, false)
}

// ---------------------------------------------------------------- non-rounding ops

/// Helper `h` with args (a, b, kind); result to rd (an X register for compares).
fn no_rm_bin(ctx: &mut Ctx, insn: u32, h: usize, kind: u64, dst_int: bool) -> bool {
    if !ctx.fp_enabled() {
        return false;
    }
    let a = ctx.fpr(rs1(insn));
    let b = ctx.fpr(rs2(insn));
    let k = ctx.b.konst(kind);
    let r = call(ctx, h, &[a, b, k]);
    if dst_int {
        mark_fs_dirty(ctx);
        ctx.set_gpr(rd(insn), r);
    } else {
        write_fpr(ctx, rd(insn), r);
    }
    true
}

fn fmin_s(c: &mut Ctx, i: u32) -> bool {
    no_rm_bin(c, i, fpu::H_MINMAX_S, 0, false)
}
fn fmax_s(c: &mut Ctx, i: u32) -> bool {
    no_rm_bin(c, i, fpu::H_MINMAX_S, 1, false)
}
fn fmin_d(c: &mut Ctx, i: u32) -> bool {
    no_rm_bin(c, i, fpu::H_MINMAX_D, 0, false)
}
fn fmax_d(c: &mut Ctx, i: u32) -> bool {
    no_rm_bin(c, i, fpu::H_MINMAX_D, 1, false)
}
fn feq_s(c: &mut Ctx, i: u32) -> bool {
    no_rm_bin(c, i, fpu::H_CMP_S, 0, true)
}
fn flt_s(c: &mut Ctx, i: u32) -> bool {
    no_rm_bin(c, i, fpu::H_CMP_S, 1, true)
}
fn fle_s(c: &mut Ctx, i: u32) -> bool {
    no_rm_bin(c, i, fpu::H_CMP_S, 2, true)
}
fn feq_d(c: &mut Ctx, i: u32) -> bool {
    no_rm_bin(c, i, fpu::H_CMP_D, 0, true)
}
fn flt_d(c: &mut Ctx, i: u32) -> bool {
    no_rm_bin(c, i, fpu::H_CMP_D, 1, true)
}
fn fle_d(c: &mut Ctx, i: u32) -> bool {
    no_rm_bin(c, i, fpu::H_CMP_D, 2, true)
}

fn fclass(ctx: &mut Ctx, insn: u32, h: usize) -> bool {
    if !ctx.fp_enabled() {
        return false;
    }
    let a = ctx.fpr(rs1(insn));
    let r = call(ctx, h, &[a]);
    ctx.set_gpr(rd(insn), r);
    true
}
fn fclass_s(c: &mut Ctx, i: u32) -> bool {
    fclass(c, i, fpu::H_CLASS_S)
}
fn fclass_d(c: &mut Ctx, i: u32) -> bool {
    fclass(c, i, fpu::H_CLASS_D)
}

/// A single operand as IR: improperly boxed values read as the canonical NaN.
fn unboxed_s(ctx: &mut Ctx, r: u32) -> Temp {
    let v = ctx.fpr(r);
    let bx = ctx.b.konst(BOX);
    let ok = ctx.b.cmp(Cond::Geu, v, bx);
    let nan = ctx.b.konst(BOX | CANON_NAN_S as u64);
    ctx.b.select(ok, v, nan)
}

/// Sign injection: 0 fsgnj, 1 fsgnjn, 2 fsgnjx (funct3). Single results keep the box bits of the
/// (unboxed) first operand.
fn fsgnj(ctx: &mut Ctx, insn: u32, single: bool) -> bool {
    if !ctx.fp_enabled() {
        return false;
    }
    let kind = funct3(insn);
    let (a, b, sign) = if single {
        let a = unboxed_s(ctx, rs1(insn));
        let b = unboxed_s(ctx, rs2(insn));
        (a, b, SIGN_S)
    } else {
        let a = ctx.fpr(rs1(insn));
        let b = ctx.fpr(rs2(insn));
        (a, b, SIGN_D)
    };
    let m = ctx.b.konst(sign);
    let r = match kind {
        0 | 1 => {
            let mag = ctx.b.bin64(BinOp::AndNot, a, m);
            let s = if kind == 0 { ctx.b.bin64(BinOp::And, b, m) } else { ctx.b.bin64(BinOp::AndNot, m, b) };
            ctx.b.bin64(BinOp::Or, mag, s)
        }
        _ => {
            let s = ctx.b.bin64(BinOp::And, b, m);
            ctx.b.bin64(BinOp::Xor, a, s)
        }
    };
    write_fpr(ctx, rd(insn), r);
    true
}

fn fsgnj_s(c: &mut Ctx, i: u32) -> bool {
    fsgnj(c, i, true)
}
fn fsgnj_d(c: &mut Ctx, i: u32) -> bool {
    fsgnj(c, i, false)
}

/// fmv.x.w: the low word as is (no unboxing), sign-extended.
fn fmv_x_w(ctx: &mut Ctx, insn: u32) -> bool {
    if !ctx.fp_enabled() {
        return false;
    }
    let v = ctx.fpr(rs1(insn));
    let r = ctx.b.un(UnOp::Sext32, Width::W64, v);
    ctx.set_gpr(rd(insn), r);
    true
}

fn fmv_x_d(ctx: &mut Ctx, insn: u32) -> bool {
    if !ctx.fp_enabled() {
        return false;
    }
    let v = ctx.fpr(rs1(insn));
    ctx.set_gpr(rd(insn), v);
    true
}

fn fmv_w_x(ctx: &mut Ctx, insn: u32) -> bool {
    if !ctx.fp_enabled() {
        return false;
    }
    let v = ctx.gpr(rs1(insn));
    let bx = ctx.b.konst(BOX);
    let r = ctx.b.bin64(BinOp::Or, v, bx);
    write_fpr(ctx, rd(insn), r);
    true
}

fn fmv_d_x(ctx: &mut Ctx, insn: u32) -> bool {
    if !ctx.fp_enabled() {
        return false;
    }
    let v = ctx.gpr(rs1(insn));
    write_fpr(ctx, rd(insn), v);
    true
}

// ---------------------------------------------------------------- patterns

const M_OPC_F3: u32 = 0x0000_707f;
const M_FMA: u32 = 0x0600_007f;
const M_F7: u32 = 0xfe00_007f;
const M_F7_RS2: u32 = 0xfff0_007f;
const M_F7_F3: u32 = 0xfe00_707f;
const M_F7_RS2_F3: u32 = 0xfff0_707f;

const fn p(name: &'static str, mask: u32, bits: u32, handler: super::decode::Handler) -> Pattern {
    Pattern { name, mask, bits, handler }
}

/// OP-FP encoding with funct7 `f7`, plus rs2 and funct3 where fixed.
const fn op_fp(f7: u32, rs2: u32, f3: u32) -> u32 {
    f7 << 25 | rs2 << 20 | f3 << 12 | 0x53
}

/// Decoder table for the LOAD-FP, STORE-FP, FMADD.. and OP-FP opcodes.
pub static TABLE: &[Pattern] = &[
    p("flw", M_OPC_F3, 0x2007, flw),
    p("fld", M_OPC_F3, 0x3007, fld),
    p("fsw", M_OPC_F3, 0x2027, fsw),
    p("fsd", M_OPC_F3, 0x3027, fsd),
    p("fmadd.s", M_FMA, 0x43, fmadd_s),
    p("fmsub.s", M_FMA, 0x47, fmsub_s),
    p("fnmsub.s", M_FMA, 0x4b, fnmsub_s),
    p("fnmadd.s", M_FMA, 0x4f, fnmadd_s),
    p("fmadd.d", M_FMA, 0x0200_0043, fmadd_d),
    p("fmsub.d", M_FMA, 0x0200_0047, fmsub_d),
    p("fnmsub.d", M_FMA, 0x0200_004b, fnmsub_d),
    p("fnmadd.d", M_FMA, 0x0200_004f, fnmadd_d),
    p("fadd.s", M_F7, op_fp(0x00, 0, 0), fadd_s),
    p("fsub.s", M_F7, op_fp(0x04, 0, 0), fsub_s),
    p("fmul.s", M_F7, op_fp(0x08, 0, 0), fmul_s),
    p("fdiv.s", M_F7, op_fp(0x0c, 0, 0), fdiv_s),
    p("fadd.d", M_F7, op_fp(0x01, 0, 0), fadd_d),
    p("fsub.d", M_F7, op_fp(0x05, 0, 0), fsub_d),
    p("fmul.d", M_F7, op_fp(0x09, 0, 0), fmul_d),
    p("fdiv.d", M_F7, op_fp(0x0d, 0, 0), fdiv_d),
    p("fsqrt.s", M_F7_RS2, op_fp(0x2c, 0, 0), fsqrt_s),
    p("fsqrt.d", M_F7_RS2, op_fp(0x2d, 0, 0), fsqrt_d),
    p("fsgnj.s", M_F7_F3, op_fp(0x10, 0, 0), fsgnj_s),
    p("fsgnjn.s", M_F7_F3, op_fp(0x10, 0, 1), fsgnj_s),
    p("fsgnjx.s", M_F7_F3, op_fp(0x10, 0, 2), fsgnj_s),
    p("fsgnj.d", M_F7_F3, op_fp(0x11, 0, 0), fsgnj_d),
    p("fsgnjn.d", M_F7_F3, op_fp(0x11, 0, 1), fsgnj_d),
    p("fsgnjx.d", M_F7_F3, op_fp(0x11, 0, 2), fsgnj_d),
    p("fmin.s", M_F7_F3, op_fp(0x14, 0, 0), fmin_s),
    p("fmax.s", M_F7_F3, op_fp(0x14, 0, 1), fmax_s),
    p("fmin.d", M_F7_F3, op_fp(0x15, 0, 0), fmin_d),
    p("fmax.d", M_F7_F3, op_fp(0x15, 0, 1), fmax_d),
    p("fcvt.s.d", M_F7_RS2, op_fp(0x20, 1, 0), fcvt_s_d),
    p("fcvt.d.s", M_F7_RS2, op_fp(0x21, 0, 0), fcvt_d_s),
    p("fle.s", M_F7_F3, op_fp(0x50, 0, 0), fle_s),
    p("flt.s", M_F7_F3, op_fp(0x50, 0, 1), flt_s),
    p("feq.s", M_F7_F3, op_fp(0x50, 0, 2), feq_s),
    p("fle.d", M_F7_F3, op_fp(0x51, 0, 0), fle_d),
    p("flt.d", M_F7_F3, op_fp(0x51, 0, 1), flt_d),
    p("feq.d", M_F7_F3, op_fp(0x51, 0, 2), feq_d),
    p("fcvt.w.s", M_F7_RS2, op_fp(0x60, 0, 0), fcvt_int_s),
    p("fcvt.wu.s", M_F7_RS2, op_fp(0x60, 1, 0), fcvt_int_s),
    p("fcvt.l.s", M_F7_RS2, op_fp(0x60, 2, 0), fcvt_int_s),
    p("fcvt.lu.s", M_F7_RS2, op_fp(0x60, 3, 0), fcvt_int_s),
    p("fcvt.w.d", M_F7_RS2, op_fp(0x61, 0, 0), fcvt_int_d),
    p("fcvt.wu.d", M_F7_RS2, op_fp(0x61, 1, 0), fcvt_int_d),
    p("fcvt.l.d", M_F7_RS2, op_fp(0x61, 2, 0), fcvt_int_d),
    p("fcvt.lu.d", M_F7_RS2, op_fp(0x61, 3, 0), fcvt_int_d),
    p("fcvt.s.w", M_F7_RS2, op_fp(0x68, 0, 0), fcvt_s_int),
    p("fcvt.s.wu", M_F7_RS2, op_fp(0x68, 1, 0), fcvt_s_int),
    p("fcvt.s.l", M_F7_RS2, op_fp(0x68, 2, 0), fcvt_s_int),
    p("fcvt.s.lu", M_F7_RS2, op_fp(0x68, 3, 0), fcvt_s_int),
    p("fcvt.d.w", M_F7_RS2, op_fp(0x69, 0, 0), fcvt_d_int),
    p("fcvt.d.wu", M_F7_RS2, op_fp(0x69, 1, 0), fcvt_d_int),
    p("fcvt.d.l", M_F7_RS2, op_fp(0x69, 2, 0), fcvt_d_int),
    p("fcvt.d.lu", M_F7_RS2, op_fp(0x69, 3, 0), fcvt_d_int),
    p("fmv.x.w", M_F7_RS2_F3, op_fp(0x70, 0, 0), fmv_x_w),
    p("fclass.s", M_F7_RS2_F3, op_fp(0x70, 0, 1), fclass_s),
    p("fmv.x.d", M_F7_RS2_F3, op_fp(0x71, 0, 0), fmv_x_d),
    p("fclass.d", M_F7_RS2_F3, op_fp(0x71, 0, 1), fclass_d),
    p("fmv.w.x", M_F7_RS2_F3, op_fp(0x78, 0, 0), fmv_w_x),
    p("fmv.d.x", M_F7_RS2_F3, op_fp(0x79, 0, 0), fmv_d_x),
];

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mimic_hw::clock::Clock;
    use mimic_hw::irq::PendingBits;
    use mimic_hw::AddressSpace;
    use mimic_translator::env::{unpack_exit, ExitCode};
    use mimic_translator::interp::interpret;
    use mimic_translator::verify::verify;

    use super::super::cpu::RiscvCpu;
    use super::super::decode::{decode, tests::is_illegal, translate_insn};
    use super::super::{helper_table, regs};
    use super::*;

    const FS_ON_CLEAN: u64 = 3 | flags::FS_ON;
    const F: usize = regs::F0 as usize;

    fn r(f7: u32, rd: u32, rs1: u32, rs2: u32, f3: u32) -> u32 {
        f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | 0x53
    }

    fn cpu() -> Box<RiscvCpu> {
        let mem = Arc::new(AddressSpace::new(&[]).expect("empty address space"));
        RiscvCpu::new(0, mem, PendingBits::new(), Arc::new(Clock::new(10_000_000)))
    }

    /// Translate `insns` as one block under `tb_flags`, verify it and interpret it on `cpu`.
    fn exec(cpu: &mut RiscvCpu, tb_flags: u64, insns: &[u32]) -> ExitCode {
        let mut ctx = Ctx::new(0x1000, tb_flags);
        for (k, &i) in insns.iter().enumerate() {
            ctx.pc = 0x1000 + 4 * k as u64;
            ctx.raw = i;
            ctx.insn_len = 4;
            ctx.b.insn_start(ctx.pc, 4);
            translate_insn(&mut ctx, i);
            if ctx.ended {
                break;
            }
        }
        if !ctx.ended {
            let next = ctx.next_pc();
            ctx.jump(next);
        }
        let block = ctx.b.finish();
        verify(&block, helper_table()).expect("verifies");
        cpu.env.budget = 100;
        // SAFETY: the block does no memory access and ends in a plain exit; env is a live RiscvCpu.
        unsafe { unpack_exit(interpret(&block, 0, &mut cpu.env, helper_table())).0 }
    }

    #[test]
    fn patterns_decode_to_themselves_and_do_not_overlap() {
        for (i, a) in TABLE.iter().enumerate() {
            assert_eq!(a.bits & !a.mask, 0, "{}", a.name);
            assert_eq!(decode(a.bits).map(|p| p.name), Some(a.name));
            for b in &TABLE[i + 1..] {
                let m = a.mask & b.mask;
                assert_ne!(a.bits & m, b.bits & m, "{} overlaps {}", a.name, b.name);
            }
        }
    }

    #[test]
    fn illegal_when_fs_off_or_rm_reserved() {
        // is_illegal translates with FS off: every FP instruction must trap.
        for p in TABLE {
            assert!(is_illegal(p.bits), "{} with FS off", p.name);
        }
        let mut c = Ctx::new(0x1000, FS_ON_CLEAN);
        assert!(!fadd_s(&mut c, r(0, 1, 2, 3, 5)));
        assert!(!fcvt_int_d(&mut c, r(0x61, 1, 2, 0, 6)));
        assert_eq!(c.b.op_count(), 0, "a refused instruction emits nothing");
        assert!(fadd_s(&mut c, r(0, 1, 2, 3, 7)));
    }

    #[test]
    fn static_rm_flags_and_dirty() {
        let mut c = cpu();
        c.env.regs[F + 1] = BOX | 0x3f80_0000;
        c.env.regs[F + 2] = BOX | 0x3380_0000;
        assert_eq!(exec(&mut c, FS_ON_CLEAN, &[r(0, 3, 1, 2, 3)]), ExitCode::Goto); // fadd.s RUP
        assert_eq!(c.env.regs[F + 3], BOX | 0x3f80_0001);
        assert_eq!(c.csr.fflags, fpu::NX);
        assert_eq!(c.csr.mstatus & fpu::MSTATUS_FS_DIRTY, fpu::MSTATUS_FS_DIRTY);
        assert_ne!(c.csr.mstatus & fpu::MSTATUS_SD, 0);
        // Dynamic: frm = RMM rounds the tie away too, RNE does not.
        c.csr.frm = 0;
        exec(&mut c, FS_ON_CLEAN | flags::FS_DIRTY, &[r(0, 4, 1, 2, 7)]);
        assert_eq!(c.env.regs[F + 4], BOX | 0x3f80_0000);
        c.csr.frm = 4;
        exec(&mut c, FS_ON_CLEAN | flags::FS_DIRTY, &[r(0, 4, 1, 2, 7)]);
        assert_eq!(c.env.regs[F + 4], BOX | 0x3f80_0001);
    }

    #[test]
    fn dynamic_rm_invalid_traps() {
        let mut c = cpu();
        c.csr.frm = 5;
        c.env.regs[F + 3] = 1234;
        let insn = r(1, 3, 1, 2, 7); // fadd.d dyn
        assert_eq!(exec(&mut c, FS_ON_CLEAN, &[insn]), ExitCode::Exception);
        let t = c.pending_trap.expect("trap recorded");
        assert_eq!((t.cause, t.tval), (2, insn as u64));
        assert_eq!(c.env.regs[F + 3], 1234, "rd unchanged");
        assert_eq!(c.env.pc, 0x1000);
    }

    #[test]
    fn sign_injection_and_moves() {
        let mut c = cpu();
        c.env.regs[F + 1] = 0x0000_0000_3f80_0000; // not boxed: reads as canonical NaN
        c.env.regs[F + 2] = BOX | 0x3f80_0000;
        c.env.regs[F + 5] = 0xbff0_0000_0000_0000;
        c.env.regs[F + 6] = 0x4000_0000_0000_0000;
        c.env.regs[11] = 0x1234_5678_8000_0001;
        let insns = [
            r(0x10, 3, 1, 2, 1),   // fsgnjn.s f3, f1, f2
            r(0x10, 4, 2, 3, 2),   // fsgnjx.s f4, f2, f3
            r(0x11, 7, 6, 5, 0),   // fsgnj.d f7, f6, f5
            r(0x11, 8, 5, 5, 2),   // fsgnjx.d f8, f5, f5 (fabs)
            r(0x78, 9, 11, 0, 0),  // fmv.w.x f9, a1
            r(0x70, 12, 9, 0, 0),  // fmv.x.w a2, f9
            r(0x71, 13, 5, 0, 0),  // fmv.x.d a3, f5
            r(0x79, 10, 11, 0, 0), // fmv.d.x f10, a1
        ];
        exec(&mut c, FS_ON_CLEAN, &insns);
        assert_eq!(c.env.regs[F + 3], BOX | 0xffc0_0000);
        assert_eq!(c.env.regs[F + 4], BOX | 0xbf80_0000);
        assert_eq!(c.env.regs[F + 7], 0xc000_0000_0000_0000);
        assert_eq!(c.env.regs[F + 8], 0x3ff0_0000_0000_0000);
        assert_eq!(c.env.regs[F + 9], BOX | 0x8000_0001);
        assert_eq!(c.env.regs[12], 0xffff_ffff_8000_0001);
        assert_eq!(c.env.regs[13], 0xbff0_0000_0000_0000);
        assert_eq!(c.env.regs[F + 10], 0x1234_5678_8000_0001);
    }

    #[test]
    fn conversions_compares_class_fma() {
        let mut c = cpu();
        c.env.regs[F + 1] = BOX | 0x7fc0_0000;
        c.env.regs[F + 2] = BOX | 0x7f80_0001; // sNaN
        c.env.regs[F + 5] = 0x3ff0_0000_0200_0000; // 1 + 2^-27
        c.env.regs[F + 6] = 0x3ff0_0000_0400_0000; // 1 + 2^-26
        c.env.regs[11] = (-3i64) as u64;
        let insns = [
            r(0x60, 12, 1, 0, 1),                               // fcvt.w.s a2, f1 (NaN), rtz
            r(0x50, 13, 2, 2, 2),                               // feq.s a3, f2, f2 (sNaN)
            r(0x71, 14, 5, 0, 1),                               // fclass.d a4, f5
            0x0200_0047 | 6 << 27 | 5 << 20 | 5 << 15 | 7 << 7, // fmsub.d f7, f5, f5, f6 (rne)
            r(0x69, 8, 11, 2, 0),                               // fcvt.d.l f8, a1
            r(0x68, 9, 11, 1, 0),                               // fcvt.s.wu f9, a1
        ];
        exec(&mut c, FS_ON_CLEAN, &insns);
        assert_eq!(c.env.regs[12], 0x7fff_ffff);
        assert_eq!(c.env.regs[13], 0);
        assert_eq!(c.env.regs[14], 1 << 6);
        assert_eq!(c.env.regs[F + 7], 0x3c90_0000_0000_0000);
        assert_eq!(c.env.regs[F + 8], 0xc008_0000_0000_0000);
        assert_eq!(c.env.regs[F + 9], BOX | 0x4f80_0000); // 0xfffffffd as u32, rounded
        assert_eq!(c.csr.fflags, fpu::NV | fpu::NX);
    }
}
