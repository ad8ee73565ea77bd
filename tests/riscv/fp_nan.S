/* NaN handling: NaN-boxing of singles, canonical NaN results, sNaN vs qNaN. */
#include "test.h"
#include "fp.h"
/* Put a raw 64-bit pattern in an FP register (no boxing). */
#define RAW(f, v) li t0, v; fmv.d.x f, t0
RVTEST_CODE_BEGIN
  /* improperly boxed single operands read as the canonical NaN (quiet: no NV) */
  TEST_CASE(1, RES, 0xffffffff7fc00000, RAW(ft0, 0x000000003f800000); RAW(ft1, 0xffffffff3f800000); fsflags x0; fadd.s ft2, ft0, ft1; frflags t1; fmv.x.d RES, ft2)
  CHECK(2, t1, 0)
  TEST_CASE(3, RES, 0xffffffff7fc00000, RAW(ft0, 0xfffffffe3f800000); fadd.s ft2, ft1, ft0; fmv.x.d RES, ft2)
  /* single results are boxed */
  TEST_CASE(4, RES, 0xffffffff40000000, fadd.s ft2, ft1, ft1; fmv.x.d RES, ft2)
  /* sign injection unboxes the inputs and boxes the result */
  TEST_CASE(5, RES, 0xffffffffffc00000, RAW(ft0, 0x123456783f800000); fneg.s ft2, ft0; fmv.x.d RES, ft2)
  TEST_CASE(6, RES, 0xffffffff3f800000, RAW(ft0, 0x00000000bf800000); fsgnj.s ft2, ft1, ft0; fmv.x.d RES, ft2)
  /* fmv.x.w does not unbox: the low word, sign-extended */
  TEST_CASE(7, RES, 0xffffffffbf800000, RAW(ft0, 0x00000000bf800000); fmv.x.w RES, ft0)
  /* fmv.w.x and flw box */
  TEST_CASE(8, RES, 0xffffffff12345678, li t0, 0x7777777712345678; fmv.w.x ft2, t0; fmv.x.d RES, ft2)
  TEST_CASE(9, RES, 0xffffffff89abcdef, la t0, word; flw ft2, 0(t0); fmv.x.d RES, ft2)
  /* NaN payloads are not propagated: results are the canonical NaN */
  FP_S(10, 0, 0x7fc00000, 0x7fc12345, 0x3f800000, 0, OP_S(fadd.s, ft0, ft1))
  FP_S(11, 0x10, 0x7fc00000, 0x7f812345, 0x3f800000, 0, OP_S(fmul.s, ft0, ft1))
  FP_S(12, 0, 0x7fc00000, 0xffc00001, 0, 0, OP_S(fsqrt.s, ft0))
  FP_D(13, 0, 0x7ff8000000000000, 0xfff8000000000123, 0x3ff0000000000000, 0, OP_D(fsub.d, ft0, ft1))
  FP_D(14, 0x10, 0x7ff8000000000000, 0x7ff0000000000123, 0x3ff0000000000000, 0, OP_D(fdiv.d, ft1, ft0))
  FP_D(15, 0x10, 0x7ff8000000000000, 0x3ff0000000000000, 0x3ff0000000000000, 0x7ff4000000000000, OP_D(fmadd.d, ft0, ft1, ft3))
  /* conversions between formats canonicalize; sNaN raises NV */
  FP_D(16, 0x10, 0x7fc00000, 0x7ff0000000000001, 0, 0, fcvt.s.d ft2, ft0; fmv.x.w RES, ft2)
  FP_D(17, 0, 0x7fc00000, 0xfff8000000000001, 0, 0, fcvt.s.d ft2, ft0; fmv.x.w RES, ft2)
  FP_S(18, 0x10, 0x7ff8000000000000, 0x7f800001, 0, 0, fcvt.d.s ft2, ft0; fmv.x.d RES, ft2)
  FP_S(19, 0, 0x7ff8000000000000, 0xffc00001, 0, 0, fcvt.d.s ft2, ft0; fmv.x.d RES, ft2)
  /* sign injection keeps NaN payloads (it is not arithmetic) and raises nothing */
  FP_S(20, 0, 0xffffffffff812345, 0x7f812345, 0xbf800000, 0, OP_S(fsgnj.s, ft0, ft1))
  FP_D(21, 0, 0x7ff0000000000123, 0xfff0000000000123, 0, 0, OP_D(fabs.d, ft0))
RVTEST_CODE_END
RVTEST_DATA_BEGIN
word: .word 0x89abcdef
RVTEST_DATA_END
