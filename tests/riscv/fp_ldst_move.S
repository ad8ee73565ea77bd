/* FP loads/stores (incl. compressed forms), fmv between register files, FS state (Dirty, Off -> illegal). */
#include "test.h"
#include "fp.h"
RVTEST_CODE_BEGIN
  la s2, buf
  TEST_CASE(1, RES, 0x0123456789abcdef, fld ft0, 0(s2); fmv.x.d RES, ft0)
  TEST_CASE(2, RES, 0xffffffff89abcdef, flw ft1, 0(s2); fmv.x.d RES, ft1)
  TEST_CASE(3, RES, 0xffffffff01234567, flw ft1, 4(s2); fmv.x.d RES, ft1)
  TEST_CASE(4, RES, 0x0123456789abcdef, fsd ft0, 8(s2); ld RES, 8(s2))
  /* fsw stores the low word only, even of a boxed value */
  TEST_CASE(5, RES, 0x0123456701234567, fsw ft1, 8(s2); ld RES, 8(s2))
  /* fsw of an unboxed register stores its low word unchanged */
  TEST_CASE(6, RES, 0x0123456789abcdef, fsw ft0, 8(s2); ld RES, 8(s2))
  TEST_CASE(7, RES, 0xfedcba9876543210, li t0, 0xfedcba9876543210; fmv.d.x ft2, t0; fsd ft2, -8(s2); ld RES, -8(s2))
  /* moves */
  TEST_CASE(8, RES, 0xffffffff80000000, li t0, 0x80000000; fmv.w.x ft3, t0; fmv.x.w RES, ft3)
  TEST_CASE(9, RES, 0x7fffffff, li t0, 0xaaaaaaaa7fffffff; fmv.w.x ft3, t0; fmv.x.w RES, ft3)
  TEST_CASE(10, RES, 0xffffffff7fffffff, fmv.x.d RES, ft3)
  /* compressed loads/stores */
  .option push
  .option rvc
  TEST_CASE(11, RES, 0x0123456789abcdef, mv s0, s2; c.fld fs0, 0(s0); fmv.x.d RES, fs0)
  TEST_CASE(12, RES, 0x0123456789abcdef, c.fsd fs0, 16(s0); ld RES, 16(s2))
  TEST_CASE(13, RES, 0x0123456789abcdef, mv t2, sp; mv sp, s2; c.fldsp fs1, 0(sp); c.fsdsp fs1, 24(sp); mv sp, t2; ld RES, 24(s2))
  .option pop
  .option norvc
  /* writing an FP register makes mstatus.FS Dirty and sets SD */
  TEST_CASE(14, RES, 1, li t0, MSTATUS_FS_MASK; csrc mstatus, t0; li t0, MSTATUS_FS_INITIAL; csrs mstatus, t0; fmv.d.x ft4, x0; csrr t0, mstatus; srli RES, t0, 63)
  TEST_CASE(15, RES, MSTATUS_FS_MASK, csrr t0, mstatus; li t1, MSTATUS_FS_MASK; and RES, t0, t1)
  /* FS = Off: FP instructions (and the FP CSRs) are illegal */
  li TESTNUM, 16
  li s0, 0
  li t0, MSTATUS_FS_MASK
  csrc mstatus, t0
  fld ft0, 0(s2)
  fadd.d ft0, ft0, ft0
  fmv.x.d a0, ft0
  CHECK(16, s0, 3)
  li t0, MSTATUS_FS_INITIAL
  csrs mstatus, t0
RVTEST_CODE_END

/* Expected traps: illegal instruction; skip it and count in s0. */
  .globl test_trap_handler
test_trap_handler:
  csrr t0, mcause
  li t1, 2
  bne t0, t1, fail
  addi s0, s0, 1
  csrr t0, mepc
  addi t0, t0, 4
  csrw mepc, t0
  mret

RVTEST_DATA_BEGIN
  .dword 0
buf:
  .dword 0x0123456789abcdef
  .dword 0, 0, 0
RVTEST_DATA_END
