/* Privileged traps: ecall from M/S/U (mcause 11/9/8, mepc), illegal-instruction mtval, ebreak
 * mtval = pc, medeleg delegating U ecalls to S (scause/sepc, SPP), mret/sret transitions,
 * mstatus.TSR trapping sret, mstatus.MPP/MPIE after a trap. */
#include "test.h"

RVTEST_CODE_BEGIN
  la t0, mtrap
  csrw mtvec, t0
  /* One PMP entry granting everything, so S/U may run at all (QEMU even refuses an mret to
   * S/U while no PMP entry is set). */
  li t0, -1
  csrw pmpaddr0, t0
  li t0, 0x1f
  csrw pmpcfg0, t0

  /* ecall from M */
  TEST_CASE(1, s10, 11, li s10, 0; la s9, 1f; 1: ecall)
  TEST_CASE(2, s8, 0, sub s8, s8, s9)

  /* ecall from U: cause 8, MPP recorded as U */
  li TESTNUM, 3
  ENTER(0, 1f)
1: ecall
  CHECK(3, s10, 8)
  la t0, 1b
  sub s8, s8, t0
  CHECK(4, s8, 0)
  srli t0, s6, 11
  andi t0, t0, 3
  CHECK(5, t0, 0)

  /* ecall from S: cause 9, MPP recorded as S */
  li TESTNUM, 6
  ENTER(1, 1f)
1: ecall
  CHECK(6, s10, 9)
  srli t0, s6, 11
  andi t0, t0, 3
  CHECK(7, t0, 1)

  /* mret from U is illegal; mtval holds the instruction */
  li TESTNUM, 8
  ENTER(0, 1f)
1: mret
  CHECK(8, s10, 2)
  CHECK(9, s11, 0x30200073)

  /* ebreak: cause 3, mtval = pc (Mimic) or 0 (QEMU 7.2); both are allowed by the spec */
  TEST_CASE(10, s10, 3, la s9, 1f; 1: ebreak)
  TEST_CASE(11, s11, 0, beqz s11, 2f; sub s11, s11, s9; 2:)

  /* medeleg: U ecall goes to S; the S handler reports back with an S ecall */
  li TESTNUM, 12
  li t0, 1 << 8
  csrw medeleg, t0
  la t0, strap
  csrw stvec, t0
  li s7, 0
  ENTER(0, 1f)
1: ecall
2: j fail
deleg_back:
  CHECK(12, s7, 8)
  CHECK(13, s10, 9)
  la t0, 1b
  sub s5, s5, t0
  CHECK(14, s5, 0)
  /* SPP = 0 (came from U), SPIE = old SIE (0) */
  andi t0, s4, 1 << 8
  CHECK(15, t0, 0)
  csrw medeleg, zero

  /* sret from S to U (SPP = U), then ecall from U lands in M with cause 8 */
  li TESTNUM, 16
  ENTER(1, 1f)
1: la t0, 2f
  csrw sepc, t0
  li t0, 1 << 8
  csrc sstatus, t0
  sret
2: ecall
  CHECK(16, s10, 8)

  /* sret to S (SPP = S) keeps S-mode: ecall then reports 9 */
  li TESTNUM, 17
  ENTER(1, 1f)
1: la t0, 2f
  csrw sepc, t0
  li t0, 1 << 8
  csrs sstatus, t0
  sret
2: ecall
  CHECK(17, s10, 9)

  /* TSR: sret in S-mode is illegal */
  li TESTNUM, 18
  li t0, 1 << 22
  csrs mstatus, t0
  ENTER(1, 1f)
1: sret
  CHECK(18, s10, 2)
  li t0, 1 << 22
  csrc mstatus, t0

  /* mret restores MIE from MPIE and sets MPIE */
  li TESTNUM, 19
  li t0, 1 << 7
  csrs mstatus, t0
  ENTER(3, 1f)
1: csrr t0, mstatus
  andi t1, t0, 1 << 3
  CHECK(19, t1, 1 << 3)
  andi t1, t0, 1 << 7
  CHECK(20, t1, 1 << 7)
  csrci mstatus, 8

  /* accessing an M CSR from S is illegal */
  li TESTNUM, 21
  ENTER(1, 1f)
1: csrr t0, mscratch
  CHECK(21, s10, 2)
  CHECK(22, s11, 0x340022f3)
RVTEST_CODE_END

/* M handler: record cause/tval/epc/mstatus, return to M-mode after the trapping insn. */
  .align 2
mtrap:
  csrr s10, mcause
  csrr s11, mtval
  csrr s8, mepc
  csrr s6, mstatus
  addi t0, s8, 4
  csrw mepc, t0
  li t0, MPP_MASK
  csrs mstatus, t0
  mret

/* S handler for delegated traps: record, then escape to M via ecall and jump back. */
  .align 2
strap:
  csrr s7, scause
  csrr s5, sepc
  csrr s4, sstatus
  ecall
  j deleg_back

RVTEST_DATA_BEGIN
RVTEST_DATA_END
