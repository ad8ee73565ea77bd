//! Floating-point helpers (F and D) on Berkeley SoftFloat with RISC-V NaN rules.
//!
//! SoftFloat is built with its RISC-V specialization, so it already produces canonical NaNs,
//! saturates float-to-integer conversions the way the spec's table says and detects tininess
//! after rounding. Its rounding mode and exception flags are thread-local C globals: each helper
//! sets the mode, clears the flags, runs one operation and ORs the flags into `fflags`. SoftFloat's
//! flag bits (NX=1 UF=2 OF=4 DZ=8 NV=16) and rounding-mode numbers (RNE RTZ RDN RUP RMM = 0..4)
//! coincide with RISC-V's, so neither needs translating.
//!
//! Every helper has a pure core (`pub fn`, bits in, bits out, flags accrued into a `&mut u8`) that
//! the unit tests exercise directly, and an `extern "C"` wrapper that finds the CPU.
//!
//! Argument packing: helpers that round take `rm | insn << 32` as their last argument, where `rm`
//! is the instruction's rm field (7 = dynamic: use `frm`, and raise illegal-instruction with the
//! instruction bits as `tval` if `frm` is invalid). Single-precision operands are passed as the
//! full 64-bit register and unboxed here; single results come back NaN-boxed.

use mimic_translator::env::Env;
use mimic_translator::helpers::HelperInfo;
use sf::{float32_t, float64_t};
use softfloat_sys as sf;

use super::cpu::{PendingTrap, RiscvCpu};
use super::translate::cause;

/// `fflags` bits.
pub const NX: u8 = 1;
pub const UF: u8 = 2;
pub const OF: u8 = 4;
pub const DZ: u8 = 8;
pub const NV: u8 = 16;

/// The dynamic rounding mode (rm field value 7).
pub const RM_DYN: u8 = 7;

pub const CANON_NAN_S: u32 = 0x7fc0_0000;
pub const CANON_NAN_D: u64 = 0x7ff8_0000_0000_0000;
/// The upper half of a NaN-boxed single.
pub const BOX: u64 = 0xffff_ffff_0000_0000;

/// A single-precision value as read from a 64-bit FP register: not properly boxed reads as the
/// canonical NaN.
#[inline]
pub fn unbox_s(v: u64) -> u32 {
    if v & BOX == BOX {
        v as u32
    } else {
        CANON_NAN_S
    }
}

#[inline]
pub fn box_s(v: u32) -> u64 {
    BOX | v as u64
}

/// Whether an rm field value is legal at translation time (DYN is checked at run time).
pub fn rm_valid(rm: u32) -> bool {
    rm <= 4 || rm == RM_DYN as u32
}

/// The rounding mode an instruction with rm field `rm` uses when `frm` holds `frm`; `None` means
/// the illegal-instruction exception.
#[inline]
pub fn resolve_rm(rm: u8, frm: u8) -> Option<u8> {
    let rm = if rm == RM_DYN { frm } else { rm };
    (rm <= 4).then_some(rm)
}

/// Run one SoftFloat operation under `rm`, accruing the flags it raises into `fl`.
#[inline]
fn sf_run<R>(rm: u8, fl: &mut u8, f: impl FnOnce() -> R) -> R {
    // SAFETY: the helpers only touch SoftFloat's thread-local globals; no pointers are involved.
    unsafe {
        sf::softfloat_roundingMode_write_helper(rm);
        sf::softfloat_exceptionFlags_write_helper(0);
    }
    let r = f();
    // SAFETY: as above.
    *fl |= unsafe { sf::softfloat_exceptionFlags_read_helper() } & 0x1f;
    r
}

#[inline]
fn s(v: u64) -> float32_t {
    float32_t { v: unbox_s(v) }
}

#[inline]
fn d(v: u64) -> float64_t {
    float64_t { v }
}

const SIGN_S: u32 = 0x8000_0000;
const SIGN_D: u64 = 1 << 63;

fn is_nan_s(v: u32) -> bool {
    v & 0x7fff_ffff > 0x7f80_0000
}
fn is_snan_s(v: u32) -> bool {
    is_nan_s(v) && v & 0x0040_0000 == 0
}
fn is_nan_d(v: u64) -> bool {
    v & !SIGN_D > 0x7ff0_0000_0000_0000
}
fn is_snan_d(v: u64) -> bool {
    is_nan_d(v) && v & (1 << 51) == 0
}

// ---------------------------------------------------------------- pure cores

// SAFETY (for every `unsafe` SoftFloat call below): the functions take and return plain values.
macro_rules! sf_bin {
    ($name:ident, $f:ident, s) => {
        pub fn $name(a: u64, b: u64, rm: u8, fl: &mut u8) -> u64 {
            // SAFETY: pure SoftFloat arithmetic on values.
            box_s(sf_run(rm, fl, || unsafe { sf::$f(s(a), s(b)) }).v)
        }
    };
    ($name:ident, $f:ident, d) => {
        pub fn $name(a: u64, b: u64, rm: u8, fl: &mut u8) -> u64 {
            // SAFETY: pure SoftFloat arithmetic on values.
            sf_run(rm, fl, || unsafe { sf::$f(d(a), d(b)) }).v
        }
    };
}

sf_bin!(add_s, f32_add, s);
sf_bin!(sub_s, f32_sub, s);
sf_bin!(mul_s, f32_mul, s);
sf_bin!(div_s, f32_div, s);
sf_bin!(add_d, f64_add, d);
sf_bin!(sub_d, f64_sub, d);
sf_bin!(mul_d, f64_mul, d);
sf_bin!(div_d, f64_div, d);

pub fn sqrt_s(a: u64, rm: u8, fl: &mut u8) -> u64 {
    // SAFETY: pure SoftFloat arithmetic on values.
    box_s(sf_run(rm, fl, || unsafe { sf::f32_sqrt(s(a)) }).v)
}

pub fn sqrt_d(a: u64, rm: u8, fl: &mut u8) -> u64 {
    // SAFETY: pure SoftFloat arithmetic on values.
    sf_run(rm, fl, || unsafe { sf::f64_sqrt(d(a)) }).v
}

/// The four fused multiply-adds differ only in which of the product and addend are negated
/// (fmadd: a*b+c, fmsub: a*b-c, fnmsub: -(a*b)+c, fnmadd: -(a*b)-c). Negating an input before
/// the single rounding is exact, including for zero signs, so all four are one SoftFloat call.
/// Flipping the sign of a NaN input is harmless: NaN results are canonical anyway.
pub fn fma_s(a: u64, b: u64, c: u64, neg_prod: bool, neg_add: bool, rm: u8, fl: &mut u8) -> u64 {
    let a = unbox_s(a) ^ if neg_prod { SIGN_S } else { 0 };
    let c = unbox_s(c) ^ if neg_add { SIGN_S } else { 0 };
    let b = unbox_s(b);
    // SAFETY: pure SoftFloat arithmetic on values.
    box_s(sf_run(rm, fl, || unsafe { sf::f32_mulAdd(float32_t { v: a }, float32_t { v: b }, float32_t { v: c }) }).v)
}

pub fn fma_d(a: u64, b: u64, c: u64, neg_prod: bool, neg_add: bool, rm: u8, fl: &mut u8) -> u64 {
    let a = a ^ if neg_prod { SIGN_D } else { 0 };
    let c = c ^ if neg_add { SIGN_D } else { 0 };
    // SAFETY: pure SoftFloat arithmetic on values.
    sf_run(rm, fl, || unsafe { sf::f64_mulAdd(d(a), d(b), d(c)) }).v
}

/// fmin/fmax (IEEE 754-2019 minimumNumber/maximumNumber): a NaN operand is ignored, two NaNs give
/// the canonical NaN, -0 orders below +0, and only signaling NaNs raise NV.
pub fn minmax_s(a: u64, b: u64, max: bool, fl: &mut u8) -> u64 {
    let (a, b) = (unbox_s(a), unbox_s(b));
    if is_snan_s(a) || is_snan_s(b) {
        *fl |= NV;
    }
    let r = match (is_nan_s(a), is_nan_s(b)) {
        (true, true) => CANON_NAN_S,
        (true, false) => b,
        (false, true) => a,
        _ => {
            let (fa, fb) = (f32::from_bits(a), f32::from_bits(b));
            // Equal values differ only for +-0, where the sign bit decides.
            let a_first = if fa == fb { (a & SIGN_S != 0) != max } else { (fa < fb) != max };
            if a_first {
                a
            } else {
                b
            }
        }
    };
    box_s(r)
}

pub fn minmax_d(a: u64, b: u64, max: bool, fl: &mut u8) -> u64 {
    if is_snan_d(a) || is_snan_d(b) {
        *fl |= NV;
    }
    match (is_nan_d(a), is_nan_d(b)) {
        (true, true) => CANON_NAN_D,
        (true, false) => b,
        (false, true) => a,
        _ => {
            let (fa, fb) = (f64::from_bits(a), f64::from_bits(b));
            let a_first = if fa == fb { (a & SIGN_D != 0) != max } else { (fa < fb) != max };
            if a_first {
                a
            } else {
                b
            }
        }
    }
}

/// Comparison kinds: feq is quiet (NV only for signaling NaNs), flt/fle signal on any NaN.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CmpKind {
    Eq,
    Lt,
    Le,
}

impl CmpKind {
    fn from_u64(v: u64) -> Self {
        match v {
            0 => Self::Eq,
            1 => Self::Lt,
            _ => Self::Le,
        }
    }
}

/// Host comparisons on the decoded values are exact and flag-free; only NV needs computing.
pub fn cmp_s(a: u64, b: u64, kind: CmpKind, fl: &mut u8) -> u64 {
    let (a, b) = (unbox_s(a), unbox_s(b));
    let any_nan = is_nan_s(a) || is_nan_s(b);
    if (kind == CmpKind::Eq && (is_snan_s(a) || is_snan_s(b))) || (kind != CmpKind::Eq && any_nan) {
        *fl |= NV;
    }
    let (fa, fb) = (f32::from_bits(a), f32::from_bits(b));
    (match kind {
        CmpKind::Eq => fa == fb,
        CmpKind::Lt => fa < fb,
        CmpKind::Le => fa <= fb,
    }) as u64
}

pub fn cmp_d(a: u64, b: u64, kind: CmpKind, fl: &mut u8) -> u64 {
    let any_nan = is_nan_d(a) || is_nan_d(b);
    if (kind == CmpKind::Eq && (is_snan_d(a) || is_snan_d(b))) || (kind != CmpKind::Eq && any_nan) {
        *fl |= NV;
    }
    let (fa, fb) = (f64::from_bits(a), f64::from_bits(b));
    (match kind {
        CmpKind::Eq => fa == fb,
        CmpKind::Lt => fa < fb,
        CmpKind::Le => fa <= fb,
    }) as u64
}

/// fclass: one of ten bits (-inf, -normal, -subnormal, -0, +0, +subnormal, +normal, +inf, sNaN,
/// qNaN).
fn classify(sign: bool, exp_all_ones: bool, exp_zero: bool, mant_zero: bool, quiet_bit: bool) -> u64 {
    let bit = if exp_all_ones {
        if mant_zero {
            if sign {
                0
            } else {
                7
            }
        } else if quiet_bit {
            9
        } else {
            8
        }
    } else if exp_zero {
        match (sign, mant_zero) {
            (true, true) => 3,
            (true, false) => 2,
            (false, true) => 4,
            (false, false) => 5,
        }
    } else if sign {
        1
    } else {
        6
    };
    1 << bit
}

pub fn class_s(a: u64) -> u64 {
    let v = unbox_s(a);
    let exp = (v >> 23) & 0xff;
    classify(v & SIGN_S != 0, exp == 0xff, exp == 0, v & 0x7f_ffff == 0, v & 0x40_0000 != 0)
}

pub fn class_d(a: u64) -> u64 {
    let exp = (a >> 52) & 0x7ff;
    classify(a & SIGN_D != 0, exp == 0x7ff, exp == 0, a & ((1 << 52) - 1) == 0, a & (1 << 51) != 0)
}

/// Integer formats of fcvt (the rs2 field of fcvt.int.fp / fcvt.fp.int).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IntFmt {
    W,
    Wu,
    L,
    Lu,
}

impl IntFmt {
    pub fn from_rs2(v: u64) -> Option<Self> {
        Some(match v {
            0 => Self::W,
            1 => Self::Wu,
            2 => Self::L,
            3 => Self::Lu,
            _ => return None,
        })
    }
}

/// fcvt.{w,wu,l,lu}.s: SoftFloat's RISC-V build saturates (NaN to the largest positive value)
/// and raises NV alone for out-of-range inputs. 32-bit results are sign-extended, even for wu.
pub fn cvt_int_s(a: u64, fmt: IntFmt, rm: u8, fl: &mut u8) -> u64 {
    let a = s(a);
    // SAFETY: pure SoftFloat conversions on values.
    sf_run(rm, fl, || unsafe {
        match fmt {
            IntFmt::W => sf::f32_to_i32(a, rm, true) as i32 as i64 as u64,
            IntFmt::Wu => sf::f32_to_ui32(a, rm, true) as u32 as i32 as i64 as u64,
            IntFmt::L => sf::f32_to_i64(a, rm, true) as i64 as u64,
            IntFmt::Lu => sf::f32_to_ui64(a, rm, true) as u64,
        }
    })
}

pub fn cvt_int_d(a: u64, fmt: IntFmt, rm: u8, fl: &mut u8) -> u64 {
    let a = d(a);
    // SAFETY: pure SoftFloat conversions on values.
    sf_run(rm, fl, || unsafe {
        match fmt {
            IntFmt::W => sf::f64_to_i32(a, rm, true) as i32 as i64 as u64,
            IntFmt::Wu => sf::f64_to_ui32(a, rm, true) as u32 as i32 as i64 as u64,
            IntFmt::L => sf::f64_to_i64(a, rm, true) as i64 as u64,
            IntFmt::Lu => sf::f64_to_ui64(a, rm, true) as u64,
        }
    })
}

/// fcvt.s.{w,wu,l,lu}: the integer comes from an X register (only its low word for w/wu).
pub fn cvt_s_int(a: u64, fmt: IntFmt, rm: u8, fl: &mut u8) -> u64 {
    // SAFETY: pure SoftFloat conversions on values.
    box_s(
        sf_run(rm, fl, || unsafe {
            match fmt {
                IntFmt::W => sf::i32_to_f32(a as i32),
                IntFmt::Wu => sf::ui32_to_f32(a as u32),
                IntFmt::L => sf::i64_to_f32(a as i64),
                IntFmt::Lu => sf::ui64_to_f32(a),
            }
        })
        .v,
    )
}

pub fn cvt_d_int(a: u64, fmt: IntFmt, rm: u8, fl: &mut u8) -> u64 {
    // SAFETY: pure SoftFloat conversions on values.
    sf_run(rm, fl, || unsafe {
        match fmt {
            IntFmt::W => sf::i32_to_f64(a as i32),
            IntFmt::Wu => sf::ui32_to_f64(a as u32),
            IntFmt::L => sf::i64_to_f64(a as i64),
            IntFmt::Lu => sf::ui64_to_f64(a),
        }
    })
    .v
}

/// fcvt.s.d (rounds; NaN becomes the canonical NaN, sNaN raises NV).
pub fn cvt_s_d(a: u64, rm: u8, fl: &mut u8) -> u64 {
    // SAFETY: pure SoftFloat conversion on values.
    box_s(sf_run(rm, fl, || unsafe { sf::f64_to_f32(d(a)) }).v)
}

/// fcvt.d.s (exact; NaN becomes the canonical NaN, sNaN raises NV).
pub fn cvt_d_s(a: u64, rm: u8, fl: &mut u8) -> u64 {
    // SAFETY: pure SoftFloat conversion on values.
    sf_run(rm, fl, || unsafe { sf::f32_to_f64(s(a)) }).v
}

// ---------------------------------------------------------------- helper wrappers

/// Resolve the rounding mode from the packed `rm | insn << 32` argument and run `op` with the
/// CPU's `fflags`; an invalid dynamic mode records the illegal-instruction exception instead.
#[inline(always)]
fn with_cpu(env: *mut Env, packed: u64, op: impl FnOnce(u8, &mut u8) -> u64) -> u64 {
    // SAFETY: the run loop only passes Envs embedded in a RiscvCpu to this frontend's helpers.
    let cpu = unsafe { RiscvCpu::from_env(env) };
    match resolve_rm(packed as u8 & 7, cpu.csr.frm & 7) {
        Some(rm) => {
            let mut fl = cpu.csr.fflags;
            let r = op(rm, &mut fl);
            cpu.csr.fflags = fl;
            r
        }
        None => {
            cpu.pending_trap = Some(PendingTrap { cause: cause::ILLEGAL_INSN, tval: packed >> 32 });
            cpu.env.exception_pending = 1;
            0
        }
    }
}

/// For operations that do not round: only the flags.
#[inline(always)]
fn with_flags(env: *mut Env, op: impl FnOnce(&mut u8) -> u64) -> u64 {
    // SAFETY: the run loop only passes Envs embedded in a RiscvCpu to this frontend's helpers.
    let cpu = unsafe { RiscvCpu::from_env(env) };
    let mut fl = cpu.csr.fflags;
    let r = op(&mut fl);
    cpu.csr.fflags = fl;
    r
}

macro_rules! h_bin {
    ($h:ident, $f:ident) => {
        unsafe extern "C" fn $h(env: *mut Env, a: u64, b: u64, p: u64, _: u64) -> u64 {
            with_cpu(env, p, |rm, fl| $f(a, b, rm, fl))
        }
    };
}
h_bin!(h_add_s, add_s);
h_bin!(h_sub_s, sub_s);
h_bin!(h_mul_s, mul_s);
h_bin!(h_div_s, div_s);
h_bin!(h_add_d, add_d);
h_bin!(h_sub_d, sub_d);
h_bin!(h_mul_d, mul_d);
h_bin!(h_div_d, div_d);

macro_rules! h_un {
    ($h:ident, $f:ident) => {
        unsafe extern "C" fn $h(env: *mut Env, a: u64, p: u64, _: u64, _: u64) -> u64 {
            with_cpu(env, p, |rm, fl| $f(a, rm, fl))
        }
    };
}
h_un!(h_sqrt_s, sqrt_s);
h_un!(h_sqrt_d, sqrt_d);
h_un!(h_cvt_s_d, cvt_s_d);
h_un!(h_cvt_d_s, cvt_d_s);

/// `p` also carries the negations in bits 3 (product) and 4 (addend).
unsafe extern "C" fn h_fma_s(env: *mut Env, a: u64, b: u64, c: u64, p: u64) -> u64 {
    with_cpu(env, p, |rm, fl| fma_s(a, b, c, p & 8 != 0, p & 16 != 0, rm, fl))
}
unsafe extern "C" fn h_fma_d(env: *mut Env, a: u64, b: u64, c: u64, p: u64) -> u64 {
    with_cpu(env, p, |rm, fl| fma_d(a, b, c, p & 8 != 0, p & 16 != 0, rm, fl))
}

/// `p` also carries the integer format in bits 3..4.
unsafe extern "C" fn h_cvt_int_s(env: *mut Env, a: u64, p: u64, _: u64, _: u64) -> u64 {
    let fmt = IntFmt::from_rs2((p >> 3) & 3).unwrap_or(IntFmt::W);
    with_cpu(env, p, |rm, fl| cvt_int_s(a, fmt, rm, fl))
}
unsafe extern "C" fn h_cvt_int_d(env: *mut Env, a: u64, p: u64, _: u64, _: u64) -> u64 {
    let fmt = IntFmt::from_rs2((p >> 3) & 3).unwrap_or(IntFmt::W);
    with_cpu(env, p, |rm, fl| cvt_int_d(a, fmt, rm, fl))
}
unsafe extern "C" fn h_cvt_s_int(env: *mut Env, a: u64, p: u64, _: u64, _: u64) -> u64 {
    let fmt = IntFmt::from_rs2((p >> 3) & 3).unwrap_or(IntFmt::W);
    with_cpu(env, p, |rm, fl| cvt_s_int(a, fmt, rm, fl))
}
unsafe extern "C" fn h_cvt_d_int(env: *mut Env, a: u64, p: u64, _: u64, _: u64) -> u64 {
    let fmt = IntFmt::from_rs2((p >> 3) & 3).unwrap_or(IntFmt::W);
    with_cpu(env, p, |rm, fl| cvt_d_int(a, fmt, rm, fl))
}

/// `k`: 0 min, 1 max.
unsafe extern "C" fn h_minmax_s(env: *mut Env, a: u64, b: u64, k: u64, _: u64) -> u64 {
    with_flags(env, |fl| minmax_s(a, b, k != 0, fl))
}
unsafe extern "C" fn h_minmax_d(env: *mut Env, a: u64, b: u64, k: u64, _: u64) -> u64 {
    with_flags(env, |fl| minmax_d(a, b, k != 0, fl))
}

/// `k`: 0 feq, 1 flt, 2 fle.
unsafe extern "C" fn h_cmp_s(env: *mut Env, a: u64, b: u64, k: u64, _: u64) -> u64 {
    with_flags(env, |fl| cmp_s(a, b, CmpKind::from_u64(k), fl))
}
unsafe extern "C" fn h_cmp_d(env: *mut Env, a: u64, b: u64, k: u64, _: u64) -> u64 {
    with_flags(env, |fl| cmp_d(a, b, CmpKind::from_u64(k), fl))
}

unsafe extern "C" fn h_class_s(_: *mut Env, a: u64, _: u64, _: u64, _: u64) -> u64 {
    class_s(a)
}
unsafe extern "C" fn h_class_d(_: *mut Env, a: u64, _: u64, _: u64, _: u64) -> u64 {
    class_d(a)
}

/// Set `mstatus.FS` to Dirty (and SD): called before an FP register or `fflags` is written when
/// the TB flags say FS is not already Dirty.
unsafe extern "C" fn h_mark_fs_dirty(env: *mut Env, _: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY: the run loop only passes Envs embedded in a RiscvCpu to this frontend's helpers.
    let cpu = unsafe { RiscvCpu::from_env(env) };
    cpu.csr.mstatus |= MSTATUS_FS_DIRTY | MSTATUS_SD;
    0
}

pub const MSTATUS_FS_DIRTY: u64 = 3 << 13;
pub const MSTATUS_SD: u64 = 1 << 63;

/// Index of each helper in [`HELPERS`]; IR names helper `i` as `super::fp_helper(i)`.
pub const H_ADD_S: usize = 0;
pub const H_SUB_S: usize = 1;
pub const H_MUL_S: usize = 2;
pub const H_DIV_S: usize = 3;
pub const H_SQRT_S: usize = 4;
pub const H_FMA_S: usize = 5;
pub const H_MINMAX_S: usize = 6;
pub const H_CMP_S: usize = 7;
pub const H_CLASS_S: usize = 8;
pub const H_CVT_INT_S: usize = 9;
pub const H_CVT_S_INT: usize = 10;
pub const H_ADD_D: usize = 11;
pub const H_SUB_D: usize = 12;
pub const H_MUL_D: usize = 13;
pub const H_DIV_D: usize = 14;
pub const H_SQRT_D: usize = 15;
pub const H_FMA_D: usize = 16;
pub const H_MINMAX_D: usize = 17;
pub const H_CMP_D: usize = 18;
pub const H_CLASS_D: usize = 19;
pub const H_CVT_INT_D: usize = 20;
pub const H_CVT_D_INT: usize = 21;
pub const H_CVT_S_D: usize = 22;
pub const H_CVT_D_S: usize = 23;
pub const H_MARK_FS_DIRTY: usize = 24;

const fn rounding(name: &'static str, func: HelperFnAlias, nargs: u8) -> HelperInfo {
    // Only a dynamic rounding mode can fault, but one entry per helper keeps the table simple; the
    // cost is a PC store and a flag test per call.
    HelperInfo { name, func, nargs, may_raise: true }
}

const fn plain(name: &'static str, func: HelperFnAlias, nargs: u8) -> HelperInfo {
    HelperInfo { name, func, nargs, may_raise: false }
}

type HelperFnAlias = mimic_translator::helpers::HelperFn;

pub static HELPERS: &[HelperInfo] = &[
    rounding("fadd.s", h_add_s, 3),
    rounding("fsub.s", h_sub_s, 3),
    rounding("fmul.s", h_mul_s, 3),
    rounding("fdiv.s", h_div_s, 3),
    rounding("fsqrt.s", h_sqrt_s, 2),
    rounding("fma.s", h_fma_s, 4),
    plain("fminmax.s", h_minmax_s, 3),
    plain("fcmp.s", h_cmp_s, 3),
    plain("fclass.s", h_class_s, 1),
    rounding("fcvt.int.s", h_cvt_int_s, 2),
    rounding("fcvt.s.int", h_cvt_s_int, 2),
    rounding("fadd.d", h_add_d, 3),
    rounding("fsub.d", h_sub_d, 3),
    rounding("fmul.d", h_mul_d, 3),
    rounding("fdiv.d", h_div_d, 3),
    rounding("fsqrt.d", h_sqrt_d, 2),
    rounding("fma.d", h_fma_d, 4),
    plain("fminmax.d", h_minmax_d, 3),
    plain("fcmp.d", h_cmp_d, 3),
    plain("fclass.d", h_class_d, 1),
    rounding("fcvt.int.d", h_cvt_int_d, 2),
    rounding("fcvt.d.int", h_cvt_d_int, 2),
    rounding("fcvt.s.d", h_cvt_s_d, 2),
    rounding("fcvt.d.s", h_cvt_d_s, 2),
    plain("mark_fs_dirty", h_mark_fs_dirty, 0),
];

#[cfg(test)]
mod tests {
    use super::*;

    const RNE: u8 = 0;
    const RTZ: u8 = 1;
    const RDN: u8 = 2;
    const RUP: u8 = 3;
    const RMM: u8 = 4;

    const ONE_S: u64 = BOX | 0x3f80_0000;
    const ONE_D: u64 = 0x3ff0_0000_0000_0000;
    const QNAN_S: u64 = BOX | 0x7fc0_0001;
    const SNAN_S: u64 = BOX | 0x7f80_0001;
    const QNAN_D: u64 = 0x7ff8_0000_0000_0001;
    const SNAN_D: u64 = 0x7ff0_0000_0000_0001;

    /// Run `f` with fresh flags; return (result, flags).
    fn run(f: impl FnOnce(&mut u8) -> u64) -> (u64, u8) {
        let mut fl = 0;
        let r = f(&mut fl);
        (r, fl)
    }

    #[test]
    fn rounding_modes_on_a_tie() {
        // 1 + 2^-24 is exactly halfway between 1 and 1 + 2^-23.
        let half_ulp = BOX | 0x3380_0000;
        let cases =
            [(RNE, 0x3f80_0000), (RTZ, 0x3f80_0000), (RDN, 0x3f80_0000), (RUP, 0x3f80_0001), (RMM, 0x3f80_0001)];
        for (rm, want) in cases {
            assert_eq!(run(|fl| add_s(ONE_S, half_ulp, rm, fl)), (BOX | want, NX), "rm {rm}");
        }
        // Negative: RDN rounds away from zero, RUP and RTZ towards it.
        let (m1, mh) = (BOX | 0xbf80_0000, BOX | 0xb380_0000);
        let cases =
            [(RNE, 0xbf80_0000), (RTZ, 0xbf80_0000), (RDN, 0xbf80_0001), (RUP, 0xbf80_0000), (RMM, 0xbf80_0001)];
        for (rm, want) in cases {
            assert_eq!(run(|fl| add_s(m1, mh, rm, fl)), (BOX | want, NX), "rm {rm}");
        }
        // Double: 1 + 2^-53 is the tie.
        let h = 0x3ca0_0000_0000_0000;
        assert_eq!(run(|fl| add_d(ONE_D, h, RNE, fl)), (ONE_D, NX));
        assert_eq!(run(|fl| add_d(ONE_D, h, RMM, fl)), (ONE_D + 1, NX));
        assert_eq!(run(|fl| add_d(ONE_D, h, RUP, fl)), (ONE_D + 1, NX));
        assert_eq!(run(|fl| sub_d(ONE_D, 0x3c90_0000_0000_0000, RTZ, fl)), (0x3fef_ffff_ffff_ffff, NX));
    }

    #[test]
    fn exact_results_raise_nothing() {
        assert_eq!(run(|fl| mul_s(ONE_S, BOX | 0x4000_0000, RNE, fl)), (BOX | 0x4000_0000, 0));
        assert_eq!(run(|fl| div_d(0x4010_0000_0000_0000, 0x4000_0000_0000_0000, RNE, fl)), (0x4000_0000_0000_0000, 0));
        assert_eq!(run(|fl| sqrt_d(0x4010_0000_0000_0000, RNE, fl)), (0x4000_0000_0000_0000, 0));
    }

    #[test]
    fn overflow_underflow_divzero_invalid() {
        let max_s = BOX | 0x7f7f_ffff;
        assert_eq!(run(|fl| mul_s(max_s, BOX | 0x4000_0000, RNE, fl)), (BOX | 0x7f80_0000, OF | NX));
        // Round towards zero: overflow saturates at the largest finite value.
        assert_eq!(run(|fl| mul_s(max_s, BOX | 0x4000_0000, RTZ, fl)), (max_s, OF | NX));
        // Inexact subnormal result: UF.
        assert_eq!(run(|fl| mul_s(BOX | 0x0080_0001, BOX | 0x3f00_0000, RNE, fl)), (BOX | 0x0040_0000, UF | NX));
        // Exact subnormal result: no UF.
        assert_eq!(run(|fl| mul_s(BOX | 0x0080_0000, BOX | 0x3f00_0000, RNE, fl)), (BOX | 0x0040_0000, 0));
        // Tininess is detected after rounding: (1 - 2^-25) * 2^-126 rounds to the smallest normal.
        assert_eq!(run(|fl| cvt_s_d(0x380f_ffff_f000_0000, RNE, fl)), (BOX | 0x0080_0000, NX));
        assert_eq!(run(|fl| div_s(ONE_S, BOX, RNE, fl)), (BOX | 0x7f80_0000, DZ));
        assert_eq!(run(|fl| div_d(0x8000_0000_0000_0000 | ONE_D, 0, RNE, fl)), (0xfff0_0000_0000_0000, DZ));
        assert_eq!(run(|fl| div_s(BOX, BOX, RNE, fl)), (box_s(CANON_NAN_S), NV));
        assert_eq!(run(|fl| sqrt_s(BOX | 0xbf80_0000, RNE, fl)), (box_s(CANON_NAN_S), NV));
        assert_eq!(run(|fl| sqrt_d(0xbff0_0000_0000_0000, RNE, fl)), (CANON_NAN_D, NV));
        // Flags accrue: existing bits stay.
        let mut fl = DZ;
        add_s(ONE_S, BOX | 0x3380_0000, RNE, &mut fl);
        assert_eq!(fl, DZ | NX);
    }

    #[test]
    fn nan_boxing_and_canonical_nans() {
        // An improperly boxed single reads as the canonical (quiet) NaN: no NV.
        assert_eq!(run(|fl| add_s(0x3f80_0000, ONE_S, RNE, fl)), (box_s(CANON_NAN_S), 0));
        assert_eq!(run(|fl| add_s(0xffff_fffe_3f80_0000, ONE_S, RNE, fl)), (box_s(CANON_NAN_S), 0));
        // NaN payloads are not propagated; sNaN inputs raise NV.
        assert_eq!(run(|fl| add_s(QNAN_S, ONE_S, RNE, fl)), (box_s(CANON_NAN_S), 0));
        assert_eq!(run(|fl| mul_s(SNAN_S, ONE_S, RNE, fl)), (box_s(CANON_NAN_S), NV));
        assert_eq!(run(|fl| add_d(QNAN_D, ONE_D, RNE, fl)), (CANON_NAN_D, 0));
        assert_eq!(run(|fl| sub_d(ONE_D, SNAN_D, RNE, fl)), (CANON_NAN_D, NV));
        assert_eq!(run(|fl| cvt_s_d(SNAN_D, RNE, fl)), (box_s(CANON_NAN_S), NV));
        assert_eq!(run(|fl| cvt_s_d(QNAN_D | SIGN_D, RNE, fl)), (box_s(CANON_NAN_S), 0));
        assert_eq!(run(|fl| cvt_d_s(SNAN_S, RNE, fl)), (CANON_NAN_D, NV));
        assert_eq!(run(|fl| cvt_d_s(0x3f80_0000, RNE, fl)), (CANON_NAN_D, 0));
        assert_eq!(run(|fl| cvt_d_s(ONE_S, RNE, fl)), (ONE_D, 0));
        assert_eq!(unbox_s(BOX | 5), 5);
        assert_eq!(unbox_s(0x7fff_ffff_0000_0005), CANON_NAN_S);
    }

    #[test]
    fn fused_multiply_add_rounds_once() {
        // (1 + 2^-12)^2 - (1 + 2^-11) = 2^-24 exactly; rounding the product first gives 0.
        let a = BOX | 0x3f80_0800;
        let c = BOX | 0x3f80_1000;
        assert_eq!(run(|fl| fma_s(a, a, c, false, true, RNE, fl)), (BOX | 0x3380_0000, 0));
        let unfused = {
            let mut fl = 0;
            let p = mul_s(a, a, RNE, &mut fl);
            sub_s(p, c, RNE, &mut fl)
        };
        assert_eq!(unfused, BOX);
        // fnmsub: -(a*b) + c; fnmadd: -(a*b) - c.
        assert_eq!(run(|fl| fma_s(a, a, c, true, false, RNE, fl)), (BOX | 0xb380_0000, 0));
        assert_eq!(run(|fl| fma_s(ONE_S, ONE_S, ONE_S, true, true, RNE, fl)), (BOX | 0xc000_0000, 0));
        assert_eq!(run(|fl| fma_s(ONE_S, ONE_S, ONE_S, false, false, RNE, fl)), (BOX | 0x4000_0000, 0));
        let ad = 0x3ff0_0000_0200_0000; // 1 + 2^-27
        let cd = 0x3ff0_0000_0400_0000; // 1 + 2^-26
        assert_eq!(run(|fl| fma_d(ad, ad, cd, false, true, RNE, fl)), (0x3c90_0000_0000_0000, 0));
        // inf * 0 + qNaN raises NV (RISC-V requires it even with a quiet addend).
        assert_eq!(run(|fl| fma_d(0x7ff0_0000_0000_0000, 0, QNAN_D, false, false, RNE, fl)), (CANON_NAN_D, NV));
        // Signed zero: -(+0 * 1) - (+0) = -0.
        assert_eq!(run(|fl| fma_d(0, ONE_D, 0, true, true, RNE, fl)), (SIGN_D, 0));
    }

    #[test]
    fn min_max() {
        let (pz, nz) = (BOX, BOX | 0x8000_0000);
        assert_eq!(run(|fl| minmax_s(pz, nz, false, fl)), (nz, 0));
        assert_eq!(run(|fl| minmax_s(nz, pz, false, fl)), (nz, 0));
        assert_eq!(run(|fl| minmax_s(nz, pz, true, fl)), (pz, 0));
        assert_eq!(run(|fl| minmax_s(pz, nz, true, fl)), (pz, 0));
        assert_eq!(run(|fl| minmax_s(QNAN_S, ONE_S, false, fl)), (ONE_S, 0));
        assert_eq!(run(|fl| minmax_s(ONE_S, SNAN_S, true, fl)), (ONE_S, NV));
        assert_eq!(run(|fl| minmax_s(QNAN_S, SNAN_S, true, fl)), (box_s(CANON_NAN_S), NV));
        assert_eq!(run(|fl| minmax_s(QNAN_S, QNAN_S, false, fl)), (box_s(CANON_NAN_S), 0));
        assert_eq!(run(|fl| minmax_s(ONE_S, BOX | 0x4000_0000, false, fl)), (ONE_S, 0));
        assert_eq!(run(|fl| minmax_s(ONE_S, BOX | 0x4000_0000, true, fl)), (BOX | 0x4000_0000, 0));
        // Unboxed operand counts as a (quiet) NaN.
        assert_eq!(run(|fl| minmax_s(0x4000_0000, ONE_S, true, fl)), (ONE_S, 0));
        assert_eq!(run(|fl| minmax_d(0, SIGN_D, false, fl)), (SIGN_D, 0));
        assert_eq!(run(|fl| minmax_d(SIGN_D, 0, true, fl)), (0, 0));
        assert_eq!(run(|fl| minmax_d(SNAN_D, ONE_D, false, fl)), (ONE_D, NV));
        assert_eq!(run(|fl| minmax_d(QNAN_D, SNAN_D, false, fl)), (CANON_NAN_D, NV));
        assert_eq!(run(|fl| minmax_d(ONE_D | SIGN_D, ONE_D, false, fl)), (ONE_D | SIGN_D, 0));
    }

    #[test]
    fn compares_quiet_and_signaling() {
        use CmpKind::*;
        assert_eq!(run(|fl| cmp_s(QNAN_S, ONE_S, Eq, fl)), (0, 0));
        assert_eq!(run(|fl| cmp_s(SNAN_S, ONE_S, Eq, fl)), (0, NV));
        assert_eq!(run(|fl| cmp_s(QNAN_S, ONE_S, Lt, fl)), (0, NV));
        assert_eq!(run(|fl| cmp_s(ONE_S, QNAN_S, Le, fl)), (0, NV));
        assert_eq!(run(|fl| cmp_s(BOX, BOX | 0x8000_0000, Eq, fl)), (1, 0));
        assert_eq!(run(|fl| cmp_s(BOX | 0x8000_0000, BOX, Lt, fl)), (0, 0));
        assert_eq!(run(|fl| cmp_s(BOX | 0x8000_0000, BOX, Le, fl)), (1, 0));
        assert_eq!(run(|fl| cmp_s(ONE_S, BOX | 0x4000_0000, Lt, fl)), (1, 0));
        assert_eq!(run(|fl| cmp_d(QNAN_D, QNAN_D, Eq, fl)), (0, 0));
        assert_eq!(run(|fl| cmp_d(ONE_D, SNAN_D, Eq, fl)), (0, NV));
        assert_eq!(run(|fl| cmp_d(QNAN_D, ONE_D, Le, fl)), (0, NV));
        assert_eq!(run(|fl| cmp_d(ONE_D | SIGN_D, ONE_D, Lt, fl)), (1, 0));
        assert_eq!(run(|fl| cmp_d(ONE_D, ONE_D, Le, fl)), (1, 0));
        assert_eq!(run(|fl| cmp_d(ONE_D, ONE_D, Lt, fl)), (0, 0));
    }

    #[test]
    fn fclass_all_ten() {
        let s = [
            (0xff80_0000, 1 << 0),
            (0xbf80_0000, 1 << 1),
            (0x8000_0001, 1 << 2),
            (0x8000_0000, 1 << 3),
            (0x0000_0000, 1 << 4),
            (0x0000_0001, 1 << 5),
            (0x3f80_0000, 1 << 6),
            (0x7f80_0000, 1 << 7),
            (0x7f80_0001, 1 << 8),
            (0x7fc0_0000, 1 << 9),
        ];
        for (v, c) in s {
            assert_eq!(class_s(BOX | v), c, "{v:#x}");
        }
        assert_eq!(class_s(0x0000_0000_0000_0000), 1 << 9, "unboxed reads as qNaN");
        let d = [
            (0xfff0_0000_0000_0000, 1 << 0),
            (0xbff0_0000_0000_0000, 1 << 1),
            (0x800f_ffff_ffff_ffff, 1 << 2),
            (0x8000_0000_0000_0000, 1 << 3),
            (0, 1 << 4),
            (1, 1 << 5),
            (ONE_D, 1 << 6),
            (0x7ff0_0000_0000_0000, 1 << 7),
            (SNAN_D, 1 << 8),
            (CANON_NAN_D, 1 << 9),
        ];
        for (v, c) in d {
            assert_eq!(class_d(v), c, "{v:#x}");
        }
    }

    #[test]
    fn float_to_int_saturates() {
        use IntFmt::*;
        let inf = BOX | 0x7f80_0000;
        let ninf = BOX | 0xff80_0000;
        let nnan = BOX | 0xffc0_0000;
        assert_eq!(run(|fl| cvt_int_s(QNAN_S, W, RNE, fl)), (0x7fff_ffff, NV));
        assert_eq!(run(|fl| cvt_int_s(nnan, W, RNE, fl)), (0x7fff_ffff, NV));
        assert_eq!(run(|fl| cvt_int_s(inf, W, RNE, fl)), (0x7fff_ffff, NV));
        assert_eq!(run(|fl| cvt_int_s(ninf, W, RNE, fl)), (0xffff_ffff_8000_0000, NV));
        assert_eq!(run(|fl| cvt_int_s(BOX | 0x4f32_d05e, W, RNE, fl)), (0x7fff_ffff, NV)); // 3e9
        assert_eq!(run(|fl| cvt_int_s(BOX | 0x4f32_d05e, Wu, RNE, fl)), (0xffff_ffff_b2d0_5e00, 0));
        assert_eq!(run(|fl| cvt_int_s(nnan, Wu, RNE, fl)), (u64::MAX, NV));
        assert_eq!(run(|fl| cvt_int_s(BOX | 0xbf80_0000, Wu, RNE, fl)), (0, NV));
        assert_eq!(run(|fl| cvt_int_s(BOX | 0xbf00_0000, Wu, RNE, fl)), (0, NX)); // -0.5 rounds to 0
        assert_eq!(run(|fl| cvt_int_s(ninf, Lu, RNE, fl)), (0, NV));
        assert_eq!(run(|fl| cvt_int_s(QNAN_S, Lu, RNE, fl)), (u64::MAX, NV));
        assert_eq!(run(|fl| cvt_int_s(ninf, L, RNE, fl)), (1 << 63, NV));
        assert_eq!(run(|fl| cvt_int_s(inf, L, RNE, fl)), (i64::MAX as u64, NV));
        assert_eq!(run(|fl| cvt_int_d(QNAN_D, L, RNE, fl)), (i64::MAX as u64, NV));
        assert_eq!(run(|fl| cvt_int_d(0x41f0_0000_0000_0000, W, RNE, fl)), (0x7fff_ffff, NV)); // 2^32
        assert_eq!(run(|fl| cvt_int_d(0x41f0_0000_0000_0000, Wu, RNE, fl)), (u64::MAX, NV));
        assert_eq!(run(|fl| cvt_int_d(0xc1e0_0000_0000_0000, W, RNE, fl)), (0xffff_ffff_8000_0000, 0)); // -2^31
        assert_eq!(run(|fl| cvt_int_d(0x43e0_0000_0000_0000, L, RNE, fl)), (i64::MAX as u64, NV)); // 2^63
        assert_eq!(run(|fl| cvt_int_d(0x43e0_0000_0000_0000, Lu, RNE, fl)), (1 << 63, 0));
        assert_eq!(run(|fl| cvt_int_d(0xbff0_0000_0000_0000, Lu, RTZ, fl)), (0, NV));
    }

    #[test]
    fn float_to_int_rounding() {
        use IntFmt::*;
        let p15 = 0x3ff8_0000_0000_0000; // 1.5
        let p25 = 0x4004_0000_0000_0000; // 2.5
        let m15 = p15 | SIGN_D;
        for (rm, a, want) in [
            (RNE, p25, 2u64),
            (RMM, p25, 3),
            (RTZ, p15, 1),
            (RDN, p15, 1),
            (RUP, p15, 2),
            (RDN, m15, (-2i64) as u64),
            (RTZ, m15, (-1i64) as u64),
            (RUP, m15, (-1i64) as u64),
            (RNE, m15, (-2i64) as u64),
        ] {
            assert_eq!(run(|fl| cvt_int_d(a, L, rm, fl)), (want, NX), "rm {rm} {a:#x}");
            assert_eq!(run(|fl| cvt_int_d(a, W, rm, fl)), (want, NX), "rm {rm} {a:#x}");
        }
        assert_eq!(run(|fl| cvt_int_s(BOX | 0x4020_0000, W, RNE, fl)), (2, NX)); // 2.5
        assert_eq!(run(|fl| cvt_int_s(BOX | 0x4040_0000, W, RNE, fl)), (3, 0)); // 3.0 exact
    }

    #[test]
    fn int_to_float() {
        use IntFmt::*;
        assert_eq!(run(|fl| cvt_s_int(16_777_217, W, RNE, fl)), (BOX | 0x4b80_0000, NX));
        assert_eq!(run(|fl| cvt_s_int(16_777_217, W, RUP, fl)), (BOX | 0x4b80_0001, NX));
        assert_eq!(run(|fl| cvt_s_int(u64::MAX, W, RNE, fl)), (BOX | 0xbf80_0000, 0)); // -1
        assert_eq!(run(|fl| cvt_s_int(0xffff_ffff, Wu, RNE, fl)), (BOX | 0x4f80_0000, NX));
        assert_eq!(run(|fl| cvt_s_int(0x1234_5678_0000_0001, W, RNE, fl)), (ONE_S, 0)); // low word only
        assert_eq!(run(|fl| cvt_s_int(u64::MAX, Lu, RTZ, fl)), (BOX | 0x5f7f_ffff, NX));
        assert_eq!(run(|fl| cvt_s_int(1 << 63, L, RNE, fl)), (BOX | 0xdf00_0000, 0));
        assert_eq!(run(|fl| cvt_d_int((1 << 53) + 1, L, RNE, fl)), (0x4340_0000_0000_0000, NX));
        assert_eq!(run(|fl| cvt_d_int((1 << 53) + 1, Lu, RUP, fl)), (0x4340_0000_0000_0001, NX));
        assert_eq!(run(|fl| cvt_d_int(0xffff_ffff, W, RNE, fl)), (ONE_D | SIGN_D, 0));
        assert_eq!(run(|fl| cvt_d_int(0xffff_ffff, Wu, RNE, fl)), (0x41ef_ffff_ffe0_0000, 0));
        // fcvt.s.d rounds under rm.
        let third = 0x3fd5_5555_5555_5555; // 1/3
        assert_eq!(run(|fl| cvt_s_d(third, RNE, fl)), (BOX | 0x3eaa_aaab, NX));
        assert_eq!(run(|fl| cvt_s_d(third, RTZ, fl)), (BOX | 0x3eaa_aaaa, NX));
        assert_eq!(run(|fl| cvt_s_d(0x7fef_ffff_ffff_ffff, RNE, fl)), (BOX | 0x7f80_0000, OF | NX));
    }

    #[test]
    fn rounding_mode_resolution() {
        assert_eq!(resolve_rm(RM_DYN, 3), Some(3));
        assert_eq!(resolve_rm(RM_DYN, 5), None);
        assert_eq!(resolve_rm(RM_DYN, 7), None);
        assert_eq!(resolve_rm(2, 7), Some(2));
        assert_eq!(resolve_rm(5, 0), None);
        assert!(rm_valid(4) && rm_valid(7) && !rm_valid(5) && !rm_valid(6));
    }

    #[test]
    fn helper_table_matches_indices() {
        let expect = [
            (H_ADD_S, "fadd.s"),
            (H_SQRT_S, "fsqrt.s"),
            (H_FMA_S, "fma.s"),
            (H_CLASS_S, "fclass.s"),
            (H_CVT_S_INT, "fcvt.s.int"),
            (H_ADD_D, "fadd.d"),
            (H_FMA_D, "fma.d"),
            (H_CVT_D_INT, "fcvt.d.int"),
            (H_CVT_S_D, "fcvt.s.d"),
            (H_CVT_D_S, "fcvt.d.s"),
            (H_MARK_FS_DIRTY, "mark_fs_dirty"),
        ];
        for (i, name) in expect {
            assert_eq!(HELPERS[i].name, name);
        }
        assert_eq!(HELPERS.len(), H_MARK_FS_DIRTY + 1);
    }
}
