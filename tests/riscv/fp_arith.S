/* F/D arithmetic: add, sub, mul, div, sqrt and the fused multiply-adds (single rounding). */
#include "test.h"
#include "fp.h"
RVTEST_CODE_BEGIN
  FP_S(1, 0, 0x40600000, 0x40200000, 0x3f800000, 0, OP_S(fadd.s, ft0, ft1))   /* 2.5+1 */
  FP_S(2, 0, 0x3fc00000, 0x40200000, 0x3f800000, 0, OP_S(fsub.s, ft0, ft1))   /* 2.5-1 */
  FP_S(3, 0, 0x40200000, 0x40200000, 0x3f800000, 0, OP_S(fmul.s, ft0, ft1))
  FP_S(4, 0, 0x3f200000, 0x40200000, 0x40800000, 0, OP_S(fdiv.s, ft0, ft1))   /* 2.5/4 */
  FP_S(5, 1, 0x3eaaaaab, 0x3f800000, 0x40400000, 0, OP_S(fdiv.s, ft0, ft1))   /* 1/3 inexact */
  FP_S(6, 0, 0x40000000, 0x40800000, 0, 0, OP_S(fsqrt.s, ft0))
  FP_S(7, 1, 0x3fb504f3, 0x40000000, 0, 0, OP_S(fsqrt.s, ft0))
  FP_D(8, 0, 0x400c000000000000, 0x4004000000000000, 0x3ff0000000000000, 0, OP_D(fadd.d, ft0, ft1))
  FP_D(9, 0, 0xbff8000000000000, 0x3ff0000000000000, 0x4004000000000000, 0, OP_D(fsub.d, ft0, ft1))
  FP_D(10, 0, 0x4004000000000000, 0x4004000000000000, 0x3ff0000000000000, 0, OP_D(fmul.d, ft0, ft1))
  FP_D(11, 1, 0x3fd5555555555555, 0x3ff0000000000000, 0x4008000000000000, 0, OP_D(fdiv.d, ft0, ft1))
  FP_D(12, 0, 0x4000000000000000, 0x4010000000000000, 0, 0, OP_D(fsqrt.d, ft0))
  /* fused: (1+2^-12)^2 - (1+2^-11) = 2^-24 exactly; unfused rounding would give 0 */
  FP_S(13, 0, 0x33800000, 0x3f800800, 0x3f800800, 0x3f801000, OP_S(fmsub.s, ft0, ft1, ft3))
  FP_S(14, 0, 0x33800000, 0x3f800800, 0x3f800800, 0xbf801000, OP_S(fmadd.s, ft0, ft1, ft3))
  FP_S(15, 0, 0xffffffffb3800000, 0x3f800800, 0x3f800800, 0xbf801000, OP_S(fnmadd.s, ft0, ft1, ft3))
  FP_S(16, 0, 0xffffffffb3800000, 0x3f800800, 0x3f800800, 0x3f801000, OP_S(fnmsub.s, ft0, ft1, ft3))
  FP_S(17, 1, 0, 0x3f800800, 0x3f800800, 0x3f801000, fmul.s ft4, ft0, ft1; OP_S(fsub.s, ft4, ft3))
  FP_D(18, 0, 0x3c90000000000000, 0x3ff0000002000000, 0x3ff0000002000000, 0x3ff0000004000000, OP_D(fmsub.d, ft0, ft1, ft3))
  FP_D(19, 0, 0xc024000000000000, 0x4000000000000000, 0x4004000000000000, 0xc014000000000000, OP_D(fnmsub.d, ft0, ft1, ft3))
  FP_D(20, 0, 0xc024000000000000, 0x4000000000000000, 0x4004000000000000, 0x4014000000000000, OP_D(fnmadd.d, ft0, ft1, ft3))
  FP_D(21, 0, 0x4024000000000000, 0x4000000000000000, 0x4004000000000000, 0x4014000000000000, OP_D(fmadd.d, ft0, ft1, ft3))
RVTEST_CODE_END
RVTEST_DATA_BEGIN
RVTEST_DATA_END
