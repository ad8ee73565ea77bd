/* Rounding: all five static modes, dynamic frm, and reserved modes (static 5/6, frm >= 5) trapping as illegal. */
#include "test.h"
#include "fp.h"
/* 1 + 2^-24 is a tie between 1 and 1 + 2^-23; -(1 + 2^-24) likewise. */
#define TIE(n, rm, res) FP_S(n, 1, res, 0x3f800000, 0x33800000, 0, OP_S(fadd.s, ft0, ft1, rm))
#define NTIE(n, rm, res) FP_S(n, 1, res, 0xbf800000, 0xb3800000, 0, OP_S(fadd.s, ft0, ft1, rm))
#define DTIE(n, frmv, res) FP_S(n, 1, res, 0x3f800000, 0x33800000, 0, fsrmi frmv; OP_S(fadd.s, ft0, ft1))
RVTEST_CODE_BEGIN
  TIE(1, rne, 0x3f800000)
  TIE(2, rtz, 0x3f800000)
  TIE(3, rdn, 0x3f800000)
  TIE(4, rup, 0x3f800001)
  TIE(5, rmm, 0x3f800001)
  NTIE(6, rne, 0xffffffffbf800000)
  NTIE(7, rtz, 0xffffffffbf800000)
  NTIE(8, rdn, 0xffffffffbf800001)
  NTIE(9, rup, 0xffffffffbf800000)
  NTIE(10, rmm, 0xffffffffbf800001)
  DTIE(11, 0, 0x3f800000)
  DTIE(12, 3, 0x3f800001)
  DTIE(13, 4, 0x3f800001)
  /* static rm overrides frm (frm is RMM here) */
  TIE(14, rne, 0x3f800000)
  /* frm read back through fcsr */
  TEST_CASE(15, RES, 0x80, fsflags x0; fsrmi 4; csrr RES, fcsr)
  /* dynamic float->int: 2.5 under RNE/RMM/RDN/RUP */
  TEST_CASE(16, RES, 2, li t0, 0x4004000000000000; fmv.d.x ft0, t0; fsrmi 0; fcvt.w.d RES, ft0)
  TEST_CASE(17, RES, 3, fsrmi 4; fcvt.w.d RES, ft0)
  TEST_CASE(18, RES, 2, fsrmi 2; fcvt.w.d RES, ft0)
  TEST_CASE(19, RES, 3, fsrmi 3; fcvt.w.d RES, ft0)
  TEST_CASE(20, RES, 2, fcvt.w.d RES, ft0, rtz)
  TEST_CASE(21, RES, 0xfffffffffffffffd, li t0, 0xc004000000000000; fmv.d.x ft0, t0; fcvt.l.d RES, ft0, rdn)
  fsrmi 0
  /* reserved static rm 5 and 6: illegal instruction, mtval = instruction bits */
  li TESTNUM, 22
  li s0, 0
  li s1, 0x00105153            /* fadd.s ft2, ft0, ft1, rm=5 */
  .word 0x00105153
  CHECK(22, s0, 1)
  li TESTNUM, 23
  li s1, 0x0210e153            /* fadd.d ft2, ft1, ft1, rm=6 */
  .word 0x0210e153
  CHECK(23, s0, 2)
  /* dynamic rm with frm = 5 and 7 traps too */
  li TESTNUM, 24
  li s1, 0x00107153            /* fadd.s ft2, ft0, ft1, dyn */
  fsrmi 5
  .word 0x00107153
  CHECK(24, s0, 3)
  li TESTNUM, 25
  fsrmi 7
  .word 0x00107153
  CHECK(25, s0, 4)
  /* but a valid static rm still works with a bad frm */
  TEST_CASE(26, RES, 0x3f800001, fsrmi 7; li t0, 0x3f800000; fmv.w.x ft0, t0; li t0, 0x33800000; fmv.w.x ft1, t0; fadd.s ft2, ft0, ft1, rup; fmv.x.w RES, ft2)
  fsrmi 0
RVTEST_CODE_END

/* Expected traps: illegal instruction (mcause 2) with mtval == s1; skip it and count in s0. */
  .globl test_trap_handler
test_trap_handler:
  csrr t0, mcause
  li t1, 2
  bne t0, t1, fail
  csrr t0, mtval
  bne t0, s1, fail
  addi s0, s0, 1
  csrr t0, mepc
  addi t0, t0, 4
  csrw mepc, t0
  mret

RVTEST_DATA_BEGIN
RVTEST_DATA_END
