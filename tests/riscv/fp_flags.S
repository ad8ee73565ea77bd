/* Exception flags: NX, UF, OF, DZ, NV, tininess after rounding, accrual, fflags/fcsr views. */
#include "test.h"
#include "fp.h"
RVTEST_CODE_BEGIN
  FP_S(1, 0x01, 0x3eaaaaab, 0x3f800000, 0x40400000, 0, OP_S(fdiv.s, ft0, ft1))
  FP_S(2, 0x05, 0x7f800000, 0x7f7fffff, 0x40000000, 0, OP_S(fmul.s, ft0, ft1))
  FP_S(3, 0x05, 0x7f7fffff, 0x7f7fffff, 0x40000000, 0, OP_S(fmul.s, ft0, ft1, rtz))
  FP_S(4, 0x03, 0x00400000, 0x00800001, 0x3f000000, 0, OP_S(fmul.s, ft0, ft1))
  FP_S(5, 0x00, 0x00400000, 0x00800000, 0x3f000000, 0, OP_S(fmul.s, ft0, ft1))
  FP_S(6, 0x08, 0xffffffffff800000, 0xbf800000, 0, 0, OP_S(fdiv.s, ft0, ft1))
  FP_S(7, 0x10, 0x7fc00000, 0, 0, 0, OP_S(fdiv.s, ft0, ft1))
  FP_S(8, 0x10, 0x7fc00000, 0x7f800000, 0xff800000, 0, OP_S(fadd.s, ft0, ft1))
  FP_S(9, 0x10, 0x7fc00000, 0x7f800000, 0, 0, OP_S(fmul.s, ft0, ft1))
  FP_D(10, 0x10, 0x7ff8000000000000, 0xbff0000000000000, 0, 0, OP_D(fsqrt.d, ft0))
  FP_D(11, 0x08, 0x7ff0000000000000, 0x3ff0000000000000, 0, 0, OP_D(fdiv.d, ft0, ft1))
  FP_D(12, 0x05, 0x7ff0000000000000, 0x7fefffffffffffff, 0x7fefffffffffffff, 0, OP_D(fadd.d, ft0, ft1))
  FP_D(13, 0x03, 0x0000000000000001, 0x0010000000000001, 0x3cb0000000000000, 0, OP_D(fmul.d, ft0, ft1))
  /* tininess after rounding: (1 - 2^-25) * 2^-126 rounds up to the smallest normal: NX only */
  FP_D(14, 0x01, 0x00800000, 0x380ffffff0000000, 0, 0, fcvt.s.d ft2, ft0; fmv.x.w RES, ft2)
  /* inf * 0 + qNaN: NV (fused ops must) */
  FP_D(15, 0x10, 0x7ff8000000000000, 0x7ff0000000000000, 0, 0x7ff8000000000000, OP_D(fmadd.d, ft0, ft1, ft3))
  /* flags accrue until cleared */
  FP_S(16, 0x19, 0x3eaaaaab, 0, 0, 0, fdiv.s ft2, ft1, ft1; fdiv.s ft2, ft0, ft0; li t0, 0x3f800000; fmv.w.x ft0, t0; li t0, 0x40400000; fmv.w.x ft4, t0; fdiv.s ft2, ft0, ft4; li t0, 0x3f800000; fmv.w.x ft5, t0; fdiv.s ft6, ft5, ft1; fmv.x.w RES, ft2)
  /* fflags and fcsr views; fsflags returns the old value */
  TEST_CASE(17, RES, 0x19, csrr RES, fflags)
  TEST_CASE(18, RES, 0x19, fsrmi 0; csrr RES, fcsr)
  TEST_CASE(19, RES, 0x19, fsflags RES, x0)
  TEST_CASE(20, RES, 0, frflags RES)
  TEST_CASE(21, RES, 0x1f, li t0, 0xff; csrw fflags, t0; csrr RES, fflags)
  TEST_CASE(22, RES, 0xff, li t0, 0xff; csrw fcsr, t0; csrr RES, fcsr)
  TEST_CASE(23, RES, 7, frrm RES)
  fscsr x0
  /* exact operations leave flags alone */
  FP_D(24, 0, 0x4000000000000000, 0x3ff0000000000000, 0x3ff0000000000000, 0, OP_D(fadd.d, ft0, ft1))
RVTEST_CODE_END
RVTEST_DATA_BEGIN
RVTEST_DATA_END
