/* Self-modifying code, always made visible with fence.i (the spec's requirement):
 * (a) overwrite an instruction of a function that already ran, call again: new behaviour;
 * (b) the same in loops: a patch before every call (200x), a patch every 64th of 512 calls (the
 *     function is hot, i.e. compiled, between patches), byte-sized patches, a hot inner loop
 *     whose loop body is patched, a branch flipped from taken to not taken, a 16-bit RVC
 *     instruction patched with sh;
 * (c) code that patches an instruction later in its own straight-line block, fence.i, then runs
 *     into it (100x, so the block is hot);
 * (d) S-mode under Sv39: the code page is executed through one virtual mapping (RX) and
 *     patched through another (RW alias, and the identity mapping), fence.i, call again.
 * The patched functions live in their own page (in .data), apart from the test's code. */
#include "test.h"

#define MKPTE(dst, sym, flags) la dst, sym; srli dst, dst, 12; slli dst, dst, 10; ori dst, dst, flags
#define ADDI_A0_ZERO 0x00000513   /* addi a0, zero, imm: | imm << 20 */
#define ADDI_A0_A0 0x00050513     /* addi a0, a0, imm */
#define CLI_A0 0x4501             /* c.li a0, imm (0..31): | imm << 2 */
#define VA_X 0x40000000           /* fn_page, RX */
#define VA_W 0x40001000           /* fn_page, RW */

RVTEST_CODE_BEGIN
  la t0, mtrap
  csrw mtvec, t0
  li t0, -1
  csrw pmpaddr0, t0
  li t0, 0x1f
  csrw pmpcfg0, t0

  /* (a) */
  li TESTNUM, 1
  call fn_a
  CHECK(1, a0, 1)
  call fn_a
  CHECK(2, a0, 1)
  la t0, fn_a
  li t1, ADDI_A0_ZERO | (2 << 20)
  sw t1, 0(t0)
  fence.i
  li TESTNUM, 3
  call fn_a
  CHECK(3, a0, 2)

  /* (b) patch before every call, 200 times: a0 = i */
  li TESTNUM, 4
  li s1, 0
  li s2, 200
1:
  la t0, fn_a
  slli t1, s1, 20
  li t2, ADDI_A0_ZERO
  or t1, t1, t2
  sw t1, 0(t0)
  fence.i
  call fn_a
  beq a0, s1, 2f
  j fail
2:
  addi s1, s1, 1
  bne s1, s2, 1b

  /* 512 calls, a patch every 64th: a0 = i & ~63 */
  li TESTNUM, 5
  li s1, 0
  li s2, 512
1:
  andi t0, s1, 63
  bnez t0, 2f
  la t0, fn_a
  slli t1, s1, 20
  li t2, ADDI_A0_ZERO
  or t1, t1, t2
  sw t1, 0(t0)
  fence.i
2:
  call fn_a
  andi t0, s1, ~63
  beq a0, t0, 3f
  j fail
3:
  addi s1, s1, 1
  bne s1, s2, 1b

  /* byte patches: byte 3 of addi a0, zero, imm holds imm[11:4]; 3 calls per patch */
  li TESTNUM, 6
  li s1, 1
  li s2, 120
1:
  la t0, fn_a
  sb s1, 3(t0)
  fence.i
  li s3, 3
2:
  call fn_a
  slli t0, s1, 4
  beq a0, t0, 3f
  j fail
3:
  addi s3, s3, -1
  bnez s3, 2b
  addi s1, s1, 1
  bne s1, s2, 1b

  /* hot inner loop: fn_loop adds the patched immediate 50 times */
  li TESTNUM, 7
  li s1, 1
  li s2, 80
1:
  la t0, fn_loop_insn
  slli t1, s1, 20
  li t2, ADDI_A0_A0
  or t1, t1, t2
  sw t1, 0(t0)
  fence.i
  call fn_loop
  li t0, 50
  mul t0, t0, s1
  beq a0, t0, 2f
  j fail
2:
  addi s1, s1, 1
  bne s1, s2, 1b

  /* branch flip: beq zero, zero (taken: a0 = 1) <-> bne zero, zero (not taken: a0 = 2), the
   * function run 60 times between flips */
  li TESTNUM, 8
  li s1, 0
  li s2, 8
1:
  li s3, 60
2:
  call fn_branch
  andi t0, s1, 1
  addi t0, t0, 1
  beq a0, t0, 3f
  j fail
3:
  addi s3, s3, -1
  bnez s3, 2b
  la t0, fn_branch_insn
  lw t1, 0(t0)
  li t2, 1 << 12
  xor t1, t1, t2
  sw t1, 0(t0)
  fence.i
  addi s1, s1, 1
  bne s1, s2, 1b

  /* RVC: c.li a0, imm patched with a halfword store */
  li TESTNUM, 9
  call fn_c
  CHECK(9, a0, 5)
  li TESTNUM, 10
  li s1, 0
  li s2, 32
1:
  la t0, fn_c
  slli t1, s1, 2
  li t2, CLI_A0
  or t1, t1, t2
  sh t1, 0(t0)
  fence.i
  call fn_c
  call fn_c
  beq a0, s1, 2f
  j fail
2:
  addi s1, s1, 1
  bne s1, s2, 1b

  /* (c) fn_self stores a1 over its own fn_self_insn, fence.i, runs into it */
  li TESTNUM, 11
  li a1, ADDI_A0_ZERO | (0x42 << 20)
  call fn_self
  CHECK(11, a0, 0x42)
  li TESTNUM, 12
  li s1, 0
  li s2, 100
1:
  slli a1, s1, 20
  li t2, ADDI_A0_ZERO
  or a1, a1, t2
  call fn_self
  beq a0, s1, 2f
  j fail
2:
  addi s1, s1, 1
  bne s1, s2, 1b

  /* (d) Sv39: identity gigapage RWX over RAM; VA_X -> fn_page RX, VA_W -> fn_page RW */
  li t0, (0x80000 << 10) | 0xcf
  la t1, root39
  sd t0, 16(t1)
  MKPTE(t0, l1, 0x01)
  la t1, root39
  sd t0, 8(t1)
  MKPTE(t0, l0, 0x01)
  la t1, l1
  sd t0, 0(t1)
  MKPTE(t0, fn_page, 0x4b)
  la t1, l0
  sd t0, 0(t1)
  MKPTE(t0, fn_page, 0xc7)
  sd t0, 8(t1)
  la t0, root39
  srli t0, t0, 12
  li t1, 8 << 60
  or t0, t0, t1
  csrw satp, t0
  sfence.vma
  la s9, back_m
  li t0, MPP_MASK
  csrc mstatus, t0
  li t0, 1 << 11
  csrs mstatus, t0
  la t0, s_part
  csrw mepc, t0
  mret
back_m:
  csrw satp, zero
  sfence.vma
RVTEST_CODE_END

/* S-mode part of (d) */
s_part:
  /* fn_a through VA_X: offset of fn_a in fn_page is 0 */
  li TESTNUM, 20
  li s4, VA_X
  li s5, VA_W
  li s1, 0
  li s2, 150
1:
  slli t1, s1, 20
  li t2, ADDI_A0_ZERO
  or t1, t1, t2
  sw t1, 0(s5)
  fence.i
  jalr ra, 0(s4)
  jalr ra, 0(s4)
  beq a0, s1, 2f
  j fail
2:
  addi s1, s1, 1
  bne s1, s2, 1b
  /* the hot loop function, patched through VA_W and then through its identity mapping */
  li TESTNUM, 21
  la t0, fn_loop
  la t1, fn_page
  sub s6, t0, t1        /* offset of fn_loop */
  la t0, fn_loop_insn
  sub s7, t0, t1        /* offset of the patched insn */
  li s1, 1
  li s2, 60
1:
  slli t1, s1, 20
  li t2, ADDI_A0_A0
  or t1, t1, t2
  andi t0, s1, 1
  beqz t0, 3f
  add t0, s5, s7        /* odd: through VA_W */
  j 4f
3:
  la t0, fn_loop_insn   /* even: through the identity mapping */
4:
  sw t1, 0(t0)
  fence.i
  add t0, s4, s6
  jalr ra, 0(t0)
  li t0, 50
  mul t0, t0, s1
  beq a0, t0, 2f
  j fail
2:
  addi s1, s1, 1
  bne s1, s2, 1b
  ecall

/* M handler: an ecall from S returns to M at s9; anything else fails with 200 + mcause. */
  .align 2
mtrap:
  csrr t0, mcause
  li t1, 9
  bne t0, t1, 1f
  li t0, MPP_MASK
  csrs mstatus, t0
  csrw mepc, s9
  mret
1:
  addi TESTNUM, t0, 200
  j fail

RVTEST_DATA_BEGIN
  .align 12
root39: .fill 512, 8, 0
l1: .fill 512, 8, 0
l0: .fill 512, 8, 0
/* the code page */
fn_page:
fn_a:
  addi a0, zero, 1
  ret
  .align 6
fn_loop:
  li t0, 50
  li a0, 0
1:
fn_loop_insn:
  addi a0, a0, 1
  addi t0, t0, -1
  bnez t0, 1b
  ret
  .align 6
fn_branch:
  li a0, 1
fn_branch_insn:
  beq zero, zero, 1f
  li a0, 2
1:
  ret
  .align 6
fn_c:
  .option push
  .option rvc
  c.li a0, 5
  c.jr ra
  .option pop
  .align 6
fn_self:
  auipc t0, 0
  sw a1, 12(t0)         /* fn_self_insn */
  fence.i
fn_self_insn:
  addi a0, zero, 0x11
  ret
  .if fn_self_insn - fn_self - 12
  .error "fn_self: the patch offset is not 12"
  .endif
  .align 12
RVTEST_DATA_END
