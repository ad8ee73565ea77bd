/* RV64A load-reserved/store-conditional: sc without any reservation fails and doesn't write,
 * lr/sc pairs succeed (rd = 0) in .w and .d with every aq/rl combination, a reservation is consumed
 * by the sc (a second sc fails), sc to a different address fails and also drops the reservation,
 * lr.w sign-extends, sc.w writes only 32 bits, and an lr/sc retry loop counts correctly. */
#include "test.h"

RVTEST_CODE_BEGIN

  /* no lr has executed since reset: sc must fail and leave memory alone */
  TEST_CASE(1, RES, 1, la a3, res_a; li S2, 0x1234; sc.d t0, S2, (a3); snez RES, t0)
  TEST_CASE(2, RES, 0x1111111111111111, ld RES, 0(a3))
  TEST_CASE(3, RES, 1, sc.w t0, S2, (a3); snez RES, t0)
  TEST_CASE(4, RES, 0x1111111111111111, ld RES, 0(a3))

  /* lr.d / sc.d success */
  TEST_CASE(5, RES, 0x1111111111111111, la a3, res_a; lr.d RES, (a3))
  TEST_CASE(6, t0, 0, li S2, 0x2222222222222222; sc.d t0, S2, (a3))
  TEST_CASE(7, RES, 0x2222222222222222, ld RES, 0(a3))
  /* the successful sc consumed the reservation */
  TEST_CASE(8, RES, 1, li S2, 0x3333; sc.d t0, S2, (a3); snez RES, t0)
  TEST_CASE(9, RES, 0x2222222222222222, ld RES, 0(a3))

  /* sc to a different address than the lr fails, writes nothing, and kills the reservation */
  TEST_CASE(10, RES, 1, la a3, res_a; la a4, res_b; lr.d t1, (a3); li S2, 0x4444; sc.d t0, S2, (a4); snez RES, t0)
  TEST_CASE(11, RES, 0x5555555555555555, ld RES, 0(a4))
  TEST_CASE(12, RES, 1, li S2, 0x4444; sc.d t0, S2, (a3); snez RES, t0)
  TEST_CASE(13, RES, 0x2222222222222222, ld RES, 0(a3))
  TEST_CASE(14, RES, 1, la a3, res_a; la a4, res_b; lr.w t1, (a3); li S2, 0x4444; sc.w t0, S2, (a4); snez RES, t0)
  TEST_CASE(15, RES, 0x5555555555555555, ld RES, 0(a4))

  /* lr.w sign-extends; sc.w stores only the low word */
  TEST_CASE(16, RES, 0xffffffff80000001, la a3, res_w; lr.w RES, (a3))
  TEST_CASE(17, t0, 0, li S2, 0xabcdef0187654321; sc.w t0, S2, (a3))
  TEST_CASE(18, RES, 0x7fffffff87654321, ld RES, 0(a3))
  TEST_CASE(19, RES, 0x000000007fffffff, la a3, res_w; addi a3, a3, 4; lr.w RES, (a3))

  /* ordering-bit variants behave the same */
  TEST_CASE(20, t0, 0, la a3, res_a; lr.d.aq t1, (a3); addi t1, t1, 1; sc.d.rl t0, t1, (a3))
  TEST_CASE(21, t0, 0, lr.d.aqrl t1, (a3); addi t1, t1, 1; sc.d.aqrl t0, t1, (a3))
  TEST_CASE(22, t0, 0, lr.d.rl t1, (a3); addi t1, t1, 1; sc.d.aq t0, t1, (a3))
  TEST_CASE(23, RES, 0x2222222222222225, ld RES, 0(a3))
  TEST_CASE(24, t0, 0, la a3, res_w; lr.w.aq t1, (a3); addi t1, t1, 1; sc.w.rl t0, t1, (a3))
  TEST_CASE(25, t0, 0, lr.w.aqrl t1, (a3); addi t1, t1, 1; sc.w.aqrl t0, t1, (a3))
  TEST_CASE(26, t0, 0, lr.w.rl t1, (a3); addi t1, t1, 1; sc.w.aq t0, t1, (a3))
  TEST_CASE(27, RES, 0x7fffffff87654324, ld RES, 0(a3))

  /* rd = x0 for sc: the store still happens */
  TEST_CASE(28, RES, 0x99, la a3, res_b; lr.d t1, (a3); li S2, 0x99; sc.d x0, S2, (a3); ld RES, 0(a3))

  /* classic retry loop: 100 atomic increments */
  TEST_CASE(30, RES, 100,
    la a3, counter; li a4, 100;
    1: lr.d t1, (a3); addi t1, t1, 1; sc.d t0, t1, (a3); bnez t0, 1b;
    addi a4, a4, -1; bnez a4, 1b;
    ld RES, 0(a3))

RVTEST_CODE_END

RVTEST_DATA_BEGIN
  .align 6
res_a:   .dword 0x1111111111111111
  .align 8
res_b:   .dword 0x5555555555555555
  .align 8
res_w:   .word 0x80000001, 0x7fffffff
  .align 8
counter: .dword 0
RVTEST_DATA_END
