/* Conversions: saturating float->int (NaN, +-inf, out of range, negative->unsigned), int->float, s<->d. */
#include "test.h"
/* Local FP case macros: operands and results are raw bit patterns; t1 gets fflags. */
#define FP_S(n, flags, result, a, b, c, code...)                \
    TEST_CASE(n, RES, result,                                   \
        li t0, XLEN_MASK(a); fmv.w.x ft0, t0;                   \
        li t0, XLEN_MASK(b); fmv.w.x ft1, t0;                   \
        li t0, XLEN_MASK(c); fmv.w.x ft3, t0;                   \
        fsflags x0;                                             \
        code;                                                   \
        frflags t1)                                             \
    CHECK(n, t1, flags)
#define FP_D(n, flags, result, a, b, c, code...)                \
    TEST_CASE(n, RES, result,                                   \
        li t0, XLEN_MASK(a); fmv.d.x ft0, t0;                   \
        li t0, XLEN_MASK(b); fmv.d.x ft1, t0;                   \
        li t0, XLEN_MASK(c); fmv.d.x ft3, t0;                   \
        fsflags x0;                                             \
        code;                                                   \
        frflags t1)                                             \
    CHECK(n, t1, flags)
/* Result from ft2 (single: sign-extended low word; double: all 64 bits). */
#define OP_S(inst, args...) inst ft2, args; fmv.x.w RES, ft2
#define OP_D(inst, args...) inst ft2, args; fmv.x.d RES, ft2
#define CI_S(n, inst, flags, res, a) FP_S(n, flags, res, a, 0, 0, inst RES, ft0, rtz)
#define CI_D(n, inst, flags, res, a) FP_D(n, flags, res, a, 0, 0, inst RES, ft0, rtz)
#define IC(n, inst, flags, res, v, rd) TEST_CASE(n, RES, res, li t0, XLEN_MASK(v); fsflags x0; inst ft2, t0, rd; frflags t1; fmv.x.d RES, ft2) CHECK(n, t1, flags)
RVTEST_CODE_BEGIN
  CI_S(1, fcvt.w.s, 0x10, 0x7fffffff, 0x7fc00000)
  CI_S(2, fcvt.w.s, 0x10, 0x7fffffff, 0xffc00000)
  CI_S(3, fcvt.w.s, 0x10, 0x7fffffff, 0x7f800000)
  CI_S(4, fcvt.w.s, 0x10, 0xffffffff80000000, 0xff800000)
  CI_S(5, fcvt.w.s, 0x10, 0x7fffffff, 0x4f32d05e)
  CI_S(6, fcvt.wu.s, 0x00, 0xffffffffb2d05e00, 0x4f32d05e)
  CI_S(7, fcvt.wu.s, 0x10, 0, 0xbf800000)
  CI_S(8, fcvt.wu.s, 0x01, 0, 0xbf000000)
  CI_S(9, fcvt.wu.s, 0x10, 0xffffffffffffffff, 0x7fc00000)
  CI_S(10, fcvt.l.s, 0x10, 0x7fffffffffffffff, 0x7f800000)
  CI_S(11, fcvt.l.s, 0x10, 0x8000000000000000, 0xff800000)
  CI_S(12, fcvt.lu.s, 0x10, 0, 0xff800000)
  CI_S(13, fcvt.lu.s, 0x10, 0xffffffffffffffff, 0xffc00000)
  CI_S(14, fcvt.l.s, 0x01, 0xfffffffffffffffe, 0xc0200000)
  CI_D(15, fcvt.w.d, 0x10, 0x7fffffff, 0x41f0000000000000)
  CI_D(16, fcvt.w.d, 0x00, 0xffffffff80000000, 0xc1e0000000000000)
  CI_D(17, fcvt.w.d, 0x10, 0xffffffff80000000, 0xc1e0000000200000)
  CI_D(18, fcvt.wu.d, 0x10, 0xffffffffffffffff, 0x41f0000000000000)
  CI_D(19, fcvt.l.d, 0x10, 0x7fffffffffffffff, 0x43e0000000000000)
  CI_D(20, fcvt.lu.d, 0x00, 0x8000000000000000, 0x43e0000000000000)
  CI_D(21, fcvt.lu.d, 0x10, 0, 0xbff0000000000000)
  CI_D(22, fcvt.l.d, 0x10, 0x7fffffffffffffff, 0x7ff8000000000000)
  CI_D(23, fcvt.lu.d, 0x10, 0xffffffffffffffff, 0xfff8000000000000)
  CI_D(24, fcvt.wu.d, 0x01, 0, 0xbfe0000000000000)
  IC(25, fcvt.s.w, 0x01, 0xffffffff4b800000, 16777217, rne)
  IC(26, fcvt.s.w, 0x01, 0xffffffff4b800001, 16777217, rup)
  IC(27, fcvt.s.w, 0x00, 0xffffffffbf800000, -1, rne)
  IC(28, fcvt.s.wu, 0x01, 0xffffffff4f800000, 0xffffffff, rne)
  IC(29, fcvt.s.w, 0x00, 0xffffffff3f800000, 0x1234567800000001, rne)
  IC(30, fcvt.s.lu, 0x01, 0xffffffff5f7fffff, -1, rtz)
  IC(31, fcvt.s.l, 0x00, 0xffffffffdf000000, 0x8000000000000000, rne)
  IC(32, fcvt.d.l, 0x01, 0x4340000000000000, 0x20000000000001, rne)
  IC(33, fcvt.d.lu, 0x01, 0x4340000000000001, 0x20000000000001, rup)
  TEST_CASE(34, RES, 0x41efffffffe00000, li t0, 0xffffffff; fcvt.d.wu ft2, t0; fmv.x.d RES, ft2)
  TEST_CASE(35, RES, 0xbff0000000000000, li t0, -1; fcvt.d.w ft2, t0; fmv.x.d RES, ft2)
  FP_D(36, 0x01, 0x3eaaaaab, 0x3fd5555555555555, 0, 0, fcvt.s.d ft2, ft0; fmv.x.w RES, ft2)
  FP_D(37, 0x01, 0x3eaaaaaa, 0x3fd5555555555555, 0, 0, fcvt.s.d ft2, ft0, rtz; fmv.x.w RES, ft2)
  FP_D(38, 0x05, 0x7f800000, 0x7fefffffffffffff, 0, 0, fcvt.s.d ft2, ft0; fmv.x.w RES, ft2)
  FP_S(39, 0x00, 0x3ff8000000000000, 0x3fc00000, 0, 0, fcvt.d.s ft2, ft0; fmv.x.d RES, ft2)
RVTEST_CODE_END
RVTEST_DATA_BEGIN
RVTEST_DATA_END
