/* RV64C: every compressed instruction, written as explicit c.* mnemonics so the 16-bit encodings
 * are what runs: stack-pointer and register-based loads/stores (incl. FP), immediates with their
 * sign extension and scaling, c.addiw/c.addw/c.subw sign extension, shifts, c.lui/c.addi16sp
 * negatives, jumps and branches to targets that are only 2-byte aligned, c.jalr links, c.ebreak. */
#include "test.h"

RVTEST_CODE_BEGIN
  .option rvc
  la sp, stack_top

  /* c.li / c.lui / c.addi / c.addiw / c.addi16sp / c.addi4spn */
  TEST_CASE(1, a0, 31, c.li a0, 31)
  TEST_CASE(2, a0, -32, c.li a0, -32)
  TEST_CASE(3, a0, 0x1f000, c.lui a0, 0x1f)
  TEST_CASE(4, a0, 0xfffffffffffe0000, c.lui a0, 0xfffe0)
  TEST_CASE(5, a0, 0xfffffffffffff000, c.lui a0, 0xfffff)
  TEST_CASE(6, a0, 0x7f, li a0, 0x60; c.addi a0, 31)
  TEST_CASE(7, a0, 0x40, li a0, 0x60; c.addi a0, -32)
  TEST_CASE(8, a0, 0xffffffff80000000, li a0, 0x7fffffff; c.addiw a0, 1)
  TEST_CASE(9, a0, 0x0000000000000005, li a0, 0xffffffff00000005; c.addiw a0, 0)
  TEST_CASE(10, a0, -32, li a0, 0; c.addi16sp sp, -32; sub a0, sp, x0; la a1, stack_top; sub a0, a0, a1)
  TEST_CASE(11, a0, 0, c.addi16sp sp, 32; la a1, stack_top; sub a0, sp, a1)
  TEST_CASE(12, a0, 496, c.addi16sp sp, 496; la a1, stack_top; sub a0, sp, a1; c.addi16sp sp, -496)
  TEST_CASE(13, a0, 1020, c.addi4spn a0, sp, 1020; la a1, stack_top; sub a0, a0, a1)
  TEST_CASE(14, a0, 4, c.addi4spn a0, sp, 4; la a1, stack_top; sub a0, a0, a1)

  /* c.mv / c.add / c.sub / c.xor / c.or / c.and / c.addw / c.subw / c.andi */
  TEST_CASE(15, a0, 0x0123456789abcdef, li a1, 0x0123456789abcdef; c.mv a0, a1)
  TEST_CASE(16, t3, 0x0123456789abcdef, li a1, 0x0123456789abcdef; c.mv t3, a1)
  TEST_CASE(17, a0, 0x0123456789abcdee, li a0, -1; li a1, 0x0123456789abcdef; c.add a0, a1)
  TEST_CASE(18, t4, 7, li t4, 3; li t5, 4; c.add t4, t5)
  TEST_CASE(19, a0, 0xfffffffffffffffd, li a0, 1; li a1, 4; c.sub a0, a1)
  TEST_CASE(20, a0, 0xf0f0f0f00f0f0f0f, li a0, 0xffffffff00000000; li a1, 0x0f0f0f0f0f0f0f0f; c.xor a0, a1)
  TEST_CASE(21, a0, 0xff0f0f0f0f0f0f0f, li a0, 0xf000000000000000; li a1, 0x0f0f0f0f0f0f0f0f; c.or a0, a1)
  TEST_CASE(22, a0, 0x000000000f0f0f0f, li a0, 0x00000000ffffffff; li a1, 0x0f0f0f0f0f0f0f0f; c.and a0, a1)
  TEST_CASE(23, a0, 0xffffffff80000000, li a0, 0x7fffffff; li a1, 1; c.addw a0, a1)
  TEST_CASE(24, a0, 0x000000007fffffff, li a0, 0x80000000; li a1, 1; c.subw a0, a1)
  TEST_CASE(25, a0, 0xffffffffffffffff, li a0, 0x1234500000000000; li a1, 0x1234500000000001; c.subw a0, a1)
  TEST_CASE(26, a0, 0x000000000000001a, li a0, 0x123456789a; c.andi a0, 31)
  TEST_CASE(27, a0, 0x1234567880, li a0, 0x123456789a; c.andi a0, -32)

  /* c.slli / c.srli / c.srai: 6-bit amounts */
  TEST_CASE(28, a0, 0x8000000000000000, li a0, 1; c.slli a0, 63)
  TEST_CASE(29, t3, 0x0000000100000000, li t3, 1; c.slli t3, 32)
  TEST_CASE(30, a0, 0x0000000000000001, li a0, 0x8000000000000000; c.srli a0, 63)
  TEST_CASE(31, a0, 0x0000000080000000, li a0, 0x8000000000000000; c.srli a0, 32)
  TEST_CASE(32, a0, 0xffffffffffffffff, li a0, 0x8000000000000000; c.srai a0, 63)
  TEST_CASE(33, a0, 0xffffffff80000000, li a0, 0x8000000000000000; c.srai a0, 32)
  TEST_CASE(34, a0, 0x0000000000000040, li a0, 0x80; c.srai a0, 1)

  /* register-based loads/stores: c.lw (sign-extends), c.ld, c.sw, c.sd with max offsets */
  TEST_CASE(40, a0, 0xffffffff80000001, la a1, cdata; c.lw a0, 0(a1))
  TEST_CASE(41, a0, 0x0123456789abcdef, la a1, cdata; c.ld a0, 8(a1))
  TEST_CASE(42, a0, 0x7654321, la a1, cdata; li a2, 0x7654321; c.sw a2, 124(a1); c.lw a0, 124(a1))
  TEST_CASE(43, a0, 0xfedcba9876543210, la a1, cdata; li a2, 0xfedcba9876543210; c.sd a2, 248(a1); c.ld a0, 248(a1))
  TEST_CASE(44, a0, 0xfedcba9876543210, la a1, cdata; ld a0, 248(a1))
  /* sp-based: c.lwsp c.ldsp c.swsp c.sdsp with large offsets, any rd */
  TEST_CASE(45, t6, 0x0000000011223344, li a1, 0x11223344; c.swsp a1, 252(sp); c.lwsp t6, 252(sp))
  TEST_CASE(46, t5, 0xffffffff88223344, li a1, 0x88223344; c.swsp a1, 0(sp); c.lwsp t5, 0(sp))
  TEST_CASE(47, t4, 0x8877665544332211, li a1, 0x8877665544332211; c.sdsp a1, 504(sp); c.ldsp t4, 504(sp))
  TEST_CASE(48, a0, 0x8877665544332211, ld a0, 504(sp))
  /* FP loads/stores: c.fld c.fsd c.fldsp c.fsdsp move raw 64-bit patterns */
  TEST_CASE(50, a0, 0x400921fb54442d18, la a1, cdata; c.fld fa0, 16(a1); fmv.x.d a0, fa0)
  TEST_CASE(51, a0, 0x400921fb54442d18, la a1, cdata; c.fsd fa0, 240(a1); ld a0, 240(a1))
  TEST_CASE(52, a0, 0xc00921fb54442d18, li a1, 0xc00921fb54442d18; sd a1, 496(sp); c.fldsp ft3, 496(sp); fmv.x.d a0, ft3)
  TEST_CASE(53, a0, 0xc00921fb54442d18, c.fsdsp ft3, 8(sp); ld a0, 8(sp))

  /* c.nop does nothing (and assembles to the 16-bit nop) */
  TEST_CASE(55, a0, 9, li a0, 9; c.nop; c.nop)

  /* c.j forwards/backwards; targets at pc % 4 == 2 */
  TEST_CASE(60, a0, 3,
    li a0, 0; .align 2; c.nop; c.j 2f; 1: c.addi a0, 1; c.j 3f; c.nop; 2: c.addi a0, 2; c.j 1b; 3:)
  /* c.beqz / c.bnez taken and not taken, with a 2-byte-aligned target */
  TEST_CASE(61, a0, 1, li a0, 0; li a1, 0; .align 2; c.beqz a1, 1f; c.j fail2; c.nop; 1: c.li a0, 1)
  TEST_CASE(62, a0, 1, li a0, 0; li a1, 5; c.beqz a1, 1f; c.li a0, 1; 1:)
  TEST_CASE(63, a0, 1, li a0, 0; li a1, 0x100000000; .align 2; c.bnez a1, 1f; c.j fail2; c.nop; 1: c.li a0, 1)
  TEST_CASE(64, a0, 1, li a0, 0; li a1, 0; c.bnez a1, 1f; c.li a0, 1; 1:)
  TEST_CASE(65, a0, 2, li a0, 0; li a1, 0; 1: c.addi a0, 1; c.nop; c.beqz a1, 2f; c.j 3f; 2: c.li a1, 1; c.j 1b; 3:)
  /* c.jr / c.jalr: link is pc + 2, target may be 2-byte aligned */
  TEST_CASE(66, a0, 7, la t1, 1f; li a0, 0; c.jr t1; c.j fail2; .align 2; c.nop; 1: c.li a0, 7)
  TEST_CASE(67, a0, 0, la t1, 1f; la t2, 2f; c.jalr t1; 2: c.j fail2; .align 2; c.nop; 1: sub a0, ra, t2)
  TEST_CASE(68, a0, 5, li a0, 4; la t1, csub; c.jalr t1; c.addi a0, 0)
  /* 32-bit jumps/branches landing on 2-byte-aligned targets */
  TEST_CASE(69, a0, 11, li a0, 0; jal t0, 1f; c.j fail2; .align 2; c.nop; 1: c.li a0, 11)
  TEST_CASE(70, a0, 12, li a0, 0; li a1, 1; bnez a1, 1f; c.j fail2; .align 2; c.nop; 1: c.li a0, 12)
  TEST_CASE(71, a0, 13, li a0, 0; la t1, 1f; jalr x0, 0(t1); c.j fail2; .align 2; c.nop; 1: c.li a0, 13)

  /* c.ebreak traps with mcause 3 and mepc at the 2-byte instruction */
  TEST_CASE(75, s10, 3, li s10, 0; la s9, 1f; 1: c.ebreak)
  TEST_CASE(76, s11, 0, sub s11, s11, s9)
  /* execution resumes right after it (mepc + 2) */
  TEST_CASE(77, a0, 21, li a0, 20; c.ebreak; c.addi a0, 1)

  c.j 1f
fail2:
  j fail
1:

RVTEST_CODE_END

  .option rvc
  .align 2
csub:
  c.addi a0, 1
  c.jr ra

/* Records mcause/mepc in s10/s11 and resumes after the trapping instruction, whatever its size. */
  .align 2
  .globl test_trap_handler
test_trap_handler:
  csrr s10, mcause
  csrr s11, mepc
  lhu t0, 0(s11)
  andi t0, t0, 3
  addi t0, t0, -3
  seqz t0, t0
  slli t0, t0, 1
  addi t0, t0, 2      /* length: 4 if the low bits are 0b11, else 2 */
  add t0, t0, s11
  csrw mepc, t0
  csrr t0, mscratch
  mret

RVTEST_DATA_BEGIN
  .align 3
cdata:
  .word 0x80000001, 0
  .dword 0x0123456789abcdef
  .dword 0x400921fb54442d18
  .fill 256, 1, 0
  .align 4
stack: .fill 1024, 1, 0
stack_top: .fill 1024, 1, 0
RVTEST_DATA_END
