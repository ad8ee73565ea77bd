/* RV64I control flow and upper immediates: beq bne blt bge bltu bgeu (taken/not taken, forwards and
 * backwards, signed vs unsigned), jal/jalr link values, jalr clearing bit 0 of the target, jalr with
 * rd == rs1, x0 links, lui/auipc including sign extension of the 32-bit result on RV64. */
#include "test.h"

RVTEST_CODE_BEGIN

  TEST_BR2_TAKEN(1, beq, 0, 0)
  TEST_BR2_TAKEN(2, beq, -1, -1)
  TEST_BR2_NOT_TAKEN(3, beq, 0, 1)
  TEST_BR2_NOT_TAKEN(4, beq, 0x100000000, 0)
  TEST_BR2_TAKEN(5, bne, 0, 1)
  TEST_BR2_TAKEN(6, bne, 0x8000000000000000, 0)
  TEST_BR2_NOT_TAKEN(7, bne, 5, 5)
  TEST_BR2_TAKEN(8, blt, -1, 0)
  TEST_BR2_TAKEN(9, blt, 0x8000000000000000, 0x7fffffffffffffff)
  TEST_BR2_NOT_TAKEN(10, blt, 0, -1)
  TEST_BR2_NOT_TAKEN(11, blt, 3, 3)
  TEST_BR2_TAKEN(12, bge, 0, -1)
  TEST_BR2_TAKEN(13, bge, 3, 3)
  TEST_BR2_NOT_TAKEN(14, bge, 0x8000000000000000, 0x7fffffffffffffff)
  TEST_BR2_TAKEN(15, bltu, 0, -1)
  TEST_BR2_TAKEN(16, bltu, 0x7fffffffffffffff, 0x8000000000000000)
  TEST_BR2_NOT_TAKEN(17, bltu, -1, 0)
  TEST_BR2_NOT_TAKEN(18, bltu, 7, 7)
  TEST_BR2_TAKEN(19, bgeu, -1, 0)
  TEST_BR2_TAKEN(20, bgeu, 7, 7)
  TEST_BR2_NOT_TAKEN(21, bgeu, 0x7fffffffffffffff, 0x8000000000000000)
  /* comparisons against x0 (beqz/bnez/bltz/bgez style encodings) */
  TEST_CASE(22, RES, 1, li RES, 0; li S1, -5; blt S1, x0, 1f; j fail; 1: li RES, 1)
  TEST_CASE(23, RES, 1, li RES, 0; li S1, 0; bge S1, x0, 1f; j fail; 1: li RES, 1)
  TEST_CASE(24, RES, 1, li RES, 0; li S1, 1; bgeu S1, x0, 1f; j fail; 1: li RES, 1)
  TEST_CASE(25, RES, 1, li RES, 1; li S1, 1; bltu S1, x0, fail)

  /* jal: link = address of the next instruction; x0 link discards */
  TEST_CASE(30, RES, 0, la S2, 1f; jal ra, 1f; j fail; 1: sub RES, ra, S2; addi RES, RES, 4)
  TEST_CASE(31, RES, 7, li RES, 0; jal x0, 1f; li RES, 9; 1: addi RES, RES, 7)
  TEST_CASE(32, RES, 42, j 2f; 1: li RES, 42; j 3f; 2: jal x0, 1b; j fail; 3:)

  /* jalr: target = (rs1 + imm) & ~1, link = pc + 4 */
  TEST_CASE(33, RES, 0, la S1, 1f; la S2, 2f; jalr t0, 0(S1); 2: j fail; 1: sub RES, t0, S2)
  TEST_CASE(34, RES, 5, la S1, 1f; addi S1, S1, -8; jalr x0, 8(S1); j fail; 1: li RES, 5)
  TEST_CASE(35, RES, 6, la S1, 1f; addi S1, S1, 1; jalr x0, 0(S1); j fail; .align 2; 1: li RES, 6)
  TEST_CASE(36, RES, 8, la S1, 1f; jalr x0, 5(S1); j fail; .align 2; 1: j fail; li RES, 8)
  /* rd == rs1: the target uses the old value */
  TEST_CASE(37, RES, 0, la S1, 1f; la S2, 2f; jalr S1, 0(S1); 2: j fail; 1: sub RES, S1, S2)
  /* call/return through ra */
  TEST_CASE(38, RES, 3, li RES, 1; call subr; addi RES, RES, 1)

  /* lui: imm << 12, sign-extended from bit 31 */
  TEST_CASE(40, RES, 0x0000000000000000, lui RES, 0)
  TEST_CASE(41, RES, 0x0000000000001000, lui RES, 1)
  TEST_CASE(42, RES, 0x000000007ffff000, lui RES, 0x7ffff)
  TEST_CASE(43, RES, 0xffffffff80000000, lui RES, 0x80000)
  TEST_CASE(44, RES, 0xfffffffffffff000, lui RES, 0xfffff)
  TEST_CASE(45, x0,  0, lui x0, 0x12345)
  TEST_CASE(46, RES, 0xffffffff80000800, lui RES, 0x80001; addi RES, RES, -0x800)

  /* auipc: pc + (imm << 12), with a sign-extended negative offset */
  TEST_CASE(50, RES, 0, la S1, 1f; 1: auipc RES, 0; sub RES, RES, S1)
  TEST_CASE(51, RES, 0x12345000, la S1, 1f; 1: auipc RES, 0x12345; sub RES, RES, S1)
  TEST_CASE(52, RES, 0xffffffff80000000, la S1, 1f; 1: auipc RES, 0x80000; sub RES, RES, S1)
  TEST_CASE(53, RES, 0xfffffffffffff000, la S1, 1f; 1: auipc RES, 0xfffff; sub RES, RES, S1)
  TEST_CASE(54, x0, 0, auipc x0, 1)

RVTEST_CODE_END

subr:
  addi RES, RES, 1
  ret
