/* fmin/fmax (-0 < +0, NaN rules), feq (quiet) / flt / fle (signaling), fclass (all ten classes). */
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
#define CMP_S(n, inst, flags, res, a, b) FP_S(n, flags, res, a, b, 0, inst RES, ft0, ft1)
#define CMP_D(n, inst, flags, res, a, b) FP_D(n, flags, res, a, b, 0, inst RES, ft0, ft1)
#define CLS_S(n, res, a) FP_S(n, 0, res, a, 0, 0, fclass.s RES, ft0)
#define CLS_D(n, res, a) FP_D(n, 0, res, a, 0, 0, fclass.d RES, ft0)
RVTEST_CODE_BEGIN
  FP_S(1, 0, 0xffffffff80000000, 0x00000000, 0x80000000, 0, OP_S(fmin.s, ft0, ft1))
  FP_S(2, 0, 0xffffffff80000000, 0x80000000, 0x00000000, 0, OP_S(fmin.s, ft0, ft1))
  FP_S(3, 0, 0, 0x80000000, 0x00000000, 0, OP_S(fmax.s, ft0, ft1))
  FP_S(4, 0, 0, 0x00000000, 0x80000000, 0, OP_S(fmax.s, ft0, ft1))
  FP_S(5, 0, 0x3f800000, 0x7fc00000, 0x3f800000, 0, OP_S(fmin.s, ft0, ft1))
  FP_S(6, 0x10, 0x3f800000, 0x3f800000, 0x7f800001, 0, OP_S(fmax.s, ft0, ft1))
  FP_S(7, 0x10, 0x7fc00000, 0x7fc00001, 0x7f800001, 0, OP_S(fmax.s, ft0, ft1))
  FP_S(8, 0, 0x7fc00000, 0xffc00001, 0x7fc00002, 0, OP_S(fmin.s, ft0, ft1))
  FP_S(9, 0, 0xffffffffbf800000, 0x40000000, 0xbf800000, 0, OP_S(fmin.s, ft0, ft1))
  FP_D(10, 0, 0x8000000000000000, 0, 0x8000000000000000, 0, OP_D(fmin.d, ft0, ft1))
  FP_D(11, 0, 0, 0x8000000000000000, 0, 0, OP_D(fmax.d, ft0, ft1))
  FP_D(12, 0x10, 0x3ff0000000000000, 0x7ff0000000000001, 0x3ff0000000000000, 0, OP_D(fmin.d, ft0, ft1))
  FP_D(13, 0, 0x7ff8000000000000, 0x7ff8000000000001, 0xfff8000000000000, 0, OP_D(fmax.d, ft0, ft1))
  FP_D(14, 0, 0x4000000000000000, 0x4000000000000000, 0xbff0000000000000, 0, OP_D(fmax.d, ft0, ft1))
  CMP_S(15, feq.s, 0, 0, 0x7fc00000, 0x3f800000)
  CMP_S(16, feq.s, 0x10, 0, 0x7f800001, 0x3f800000)
  CMP_S(17, flt.s, 0x10, 0, 0x7fc00000, 0x3f800000)
  CMP_S(18, fle.s, 0x10, 0, 0x3f800000, 0x7fc00000)
  CMP_S(19, feq.s, 0, 1, 0x00000000, 0x80000000)
  CMP_S(20, flt.s, 0, 0, 0x80000000, 0x00000000)
  CMP_S(21, fle.s, 0, 1, 0x80000000, 0x00000000)
  CMP_S(22, flt.s, 0, 1, 0xbf800000, 0x3f800000)
  CMP_S(23, fle.s, 0, 0, 0x40000000, 0x3f800000)
  CMP_D(24, feq.d, 0, 0, 0x7ff8000000000000, 0x7ff8000000000000)
  CMP_D(25, feq.d, 0x10, 0, 0x3ff0000000000000, 0x7ff0000000000001)
  CMP_D(26, flt.d, 0x10, 0, 0x7ff8000000000000, 0x3ff0000000000000)
  CMP_D(27, fle.d, 0, 1, 0x3ff0000000000000, 0x3ff0000000000000)
  CMP_D(28, flt.d, 0, 0, 0x3ff0000000000000, 0x3ff0000000000000)
  CMP_D(29, feq.d, 0, 1, 0x3ff0000000000000, 0x3ff0000000000000)
  CLS_S(30, 0x001, 0xff800000)
  CLS_S(31, 0x002, 0xbf800000)
  CLS_S(32, 0x004, 0x80000001)
  CLS_S(33, 0x008, 0x80000000)
  CLS_S(34, 0x010, 0x00000000)
  CLS_S(35, 0x020, 0x00000001)
  CLS_S(36, 0x040, 0x3f800000)
  CLS_S(37, 0x080, 0x7f800000)
  CLS_S(38, 0x100, 0x7f800001)
  CLS_S(39, 0x200, 0x7fc00000)
  CLS_D(40, 0x001, 0xfff0000000000000)
  CLS_D(41, 0x002, 0xbff0000000000000)
  CLS_D(42, 0x004, 0x800fffffffffffff)
  CLS_D(43, 0x008, 0x8000000000000000)
  CLS_D(44, 0x010, 0)
  CLS_D(45, 0x020, 1)
  CLS_D(46, 0x040, 0x3ff0000000000000)
  CLS_D(47, 0x080, 0x7ff0000000000000)
  CLS_D(48, 0x100, 0x7ff0000000000001)
  CLS_D(49, 0x200, 0x7ff8000000000000)
  /* an improperly boxed single classifies as a quiet NaN */
  TEST_CASE(50, RES, 0x200, fmv.d.x ft0, x0; fclass.s RES, ft0)
RVTEST_CODE_END
RVTEST_DATA_BEGIN
RVTEST_DATA_END
