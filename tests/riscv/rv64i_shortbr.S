/* Short forward branches over a few register-only instructions, taken and not taken. Mimic
 * translates such a branch without ending the block: the skipped instructions always run, and
 * each of their register writes keeps the old value when the branch is taken. Covered: the
 * branch's own operands as destinations, reads of values written under the branch, x0
 * destinations, division by zero in the skipped part, one to three skipped instructions (and four,
 * which stays an ordinary branch), a branch over a load (ordinary), compressed branches over
 * compressed instructions, and a carry loop that runs long enough to be optimised. */
#include "test.h"

RVTEST_CODE_BEGIN

  /* bgeu over one add: taken keeps RES, not taken adds */
  TEST_CASE(1, RES, 10, li RES, 10; li S1, 5; li S2, 3; bgeu S1, S2, 1f; add RES, RES, S1; 1:)
  TEST_CASE(2, RES, 13, li RES, 10; li S1, 3; li S2, 5; bgeu S1, S2, 1f; add RES, RES, S1; 1:)

  /* the skipped instruction writes the branch's own operand */
  TEST_CASE(3, RES, 7, li S1, 7; li S2, 7; beq S1, S2, 1f; addi S1, S1, 1; 1: mv RES, S1)
  TEST_CASE(4, RES, 8, li S1, 7; li S2, 8; beq S1, S2, 1f; addi S1, S1, 1; 1: mv RES, S1)

  /* later skipped instructions read what earlier ones wrote */
  TEST_CASE(5, RES, 12, li RES, 1; li S1, 2; li S2, 0; bnez S2, 1f; addi S1, S1, 3; add RES, RES, S1; slli RES, RES, 1; 1:)
  CHECK(6, S1, 5)
  TEST_CASE(7, RES, 1, li RES, 1; li S1, 2; li S2, 1; bnez S2, 1f; addi S1, S1, 3; add RES, RES, S1; slli RES, RES, 1; 1:)
  CHECK(8, S1, 2)

  /* division by zero under a taken branch has no effect; not taken it gives the spec result */
  TEST_CASE(9, RES, 9, li S1, 100; li S2, 0; li RES, 9; beqz S2, 1f; divu RES, S1, S2; 1:)
  TEST_CASE(10, RES, 14, li S1, 100; li S2, 7; li RES, 9; beqz S2, 1f; divu RES, S1, S2; 1:)
  TEST_CASE(11, RES, -1, li S1, 100; li S2, 0; li RES, 9; bnez S2, 1f; divu RES, S1, S2; 1:)

  /* x0 as a destination under the branch */
  TEST_CASE(12, RES, 4, li RES, 4; li S1, 1; bnez S1, 1f; addi x0, x0, 5; addi RES, RES, 1; 1: add RES, RES, x0)
  TEST_CASE(13, RES, 5, li RES, 4; li S1, 0; bnez S1, 1f; addi x0, x0, 5; addi RES, RES, 1; 1: add RES, RES, x0)

  /* three skipped instructions (converted) and four (an ordinary branch) */
  TEST_CASE(14, RES, 0, li RES, 0; li S1, 1; li S2, 2; blt S1, S2, 1f; addi RES, RES, 1; addi RES, RES, 2; addi RES, RES, 4; 1:)
  TEST_CASE(15, RES, 7, li RES, 0; li S1, 3; li S2, 2; blt S1, S2, 1f; addi RES, RES, 1; addi RES, RES, 2; addi RES, RES, 4; 1:)
  TEST_CASE(16, RES, 0, li RES, 0; li S1, 1; li S2, 2; blt S1, S2, 1f; addi RES, RES, 1; addi RES, RES, 2; addi RES, RES, 4; addi RES, RES, 8; 1:)
  TEST_CASE(17, RES, 15, li RES, 0; li S1, 3; li S2, 2; blt S1, S2, 1f; addi RES, RES, 1; addi RES, RES, 2; addi RES, RES, 4; addi RES, RES, 8; 1:)

  /* upper immediates and multiplies are register-only too */
  TEST_CASE(18, RES, 0x12345000, li RES, 0; li S1, 0; bnez S1, 1f; lui RES, 0x12345; 1:)
  TEST_CASE(19, RES, 21, li RES, 3; li S1, 7; li S2, 1; bltu S2, S1, 1f; mul RES, RES, RES; 1: mul RES, RES, S1)

  /* over a load: an ordinary branch, both ways */
  TEST_CASE(20, RES, 0x0123456789abcdef, la t0, dword; li RES, 1; beqz RES, 1f; ld RES, 0(t0); 1:)
  TEST_CASE(21, RES, 0, la t0, dword; li RES, 0; beqz RES, 1f; ld RES, 0(t0); 1:)

  /* compressed branch over compressed instructions */
  .option rvc
  TEST_CASE(22, S2, 2, li a0, 0; li a1, 1; li a2, 2; c.beqz a0, 1f; c.addi a1, 1; c.add a2, a1; 1:)
  CHECK(23, a1, 1)
  TEST_CASE(24, S2, 4, li a0, 5; li a1, 1; li a2, 2; c.beqz a0, 1f; c.addi a1, 1; c.add a2, a1; 1:)
  CHECK(25, a1, 2)
  .option norvc

  /* a carry loop (the shape of multi-precision arithmetic), hot enough to be optimised:
     carries = how often lo + k wrapped over 100000 additions */
  li TESTNUM, 26
  li t0, 0
  li t1, 0
  li t2, 100000
  li t3, 0x9e3779b97f4a7c15
1:
  add t4, t0, t3
  bgeu t4, t0, 2f
  addi t1, t1, 1
2:
  mv t0, t4
  addi t2, t2, -1
  bnez t2, 1b
  CHECK(26, t1, 61803)
  CHECK(27, t0, 0x661cabdb07958b20)

RVTEST_CODE_END

RVTEST_DATA_BEGIN
  .align 3
dword: .dword 0x0123456789abcdef
RVTEST_DATA_END
