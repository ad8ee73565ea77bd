/* RV64I system instructions and Zicsr/Zifencei: ecall and ebreak trap to mtvec with the right
 * mcause and mepc, fence, fence.i makes freshly stored code visible (self-modifying code must not run
 * stale translations), csrrw/csrrs/csrrc and their immediate forms (old value returned, x0 forms
 * don't write), counters advance. */
#include "test.h"

RVTEST_CODE_BEGIN

  /* ecall: mcause 11 (from M-mode), mepc = the ecall itself */
  TEST_CASE(1, s10, 11, li s10, 0; la s9, 1f; 1: ecall)
  TEST_CASE(2, s11, 0, sub s11, s11, s9)
  /* ebreak: mcause 3 */
  TEST_CASE(3, s10, 3, li s10, 0; la s9, 1f; 1: ebreak)
  TEST_CASE(4, s11, 0, sub s11, s11, s9)
  /* trap handler returned past the instruction and registers survive */
  TEST_CASE(5, RES, 77, li RES, 77; ecall)

  /* fence variants are no-ops architecturally here but must decode */
  TEST_CASE(6, RES, 1, li RES, 1; fence; fence rw, rw; fence r, r; fence w, w; fence iorw, iorw; fence.tso)

  /* fence.i: patch an addi's immediate, run it, patch again */
  TEST_CASE(10, RES, 1, li RES, 0; call smc_slot)
  TEST_CASE(11, RES, 3,
    li RES, 1; la S1, smc_slot; li S2, 0x00250513; sw S2, 0(S1); fence.i; call smc_slot)
  TEST_CASE(12, RES, 10,
    li RES, 3; la S1, smc_slot; li S2, 0x00750513; sw S2, 0(S1); fence.i; call smc_slot)
  /* a loop that keeps re-patching the code it calls: every iteration must see its own patch */
  TEST_CASE(13, RES, 15,
    li RES, 0; li a3, 1; la S1, smc_slot;
    1: slli S2, a3, 20; li a4, 0x00050513; or S2, S2, a4; sw S2, 0(S1); fence.i; call smc_slot;
    addi a3, a3, 1; li a4, 6; bne a3, a4, 1b)

  /* CSR read-modify-write on mscratch */
  TEST_CASE(20, RES, 0, csrw mscratch, x0; csrrw RES, mscratch, x0)
  TEST_CASE(21, RES, 0x123456789, li S1, 0x123456789; csrrw x0, mscratch, S1; csrrw RES, mscratch, x0)
  TEST_CASE(22, RES, 0xf0, li S1, 0xf0; csrw mscratch, S1; li S2, 0x0f; csrrs RES, mscratch, S2)
  TEST_CASE(23, RES, 0xff, csrr RES, mscratch)
  TEST_CASE(24, RES, 0xff, li S2, 0x3c; csrrc RES, mscratch, S2)
  TEST_CASE(25, RES, 0xc3, csrr RES, mscratch)
  TEST_CASE(26, RES, 0xc3, csrrwi RES, mscratch, 0x1f)
  TEST_CASE(27, RES, 0x1f, csrrsi RES, mscratch, 0x10)
  TEST_CASE(28, RES, 0x1f, csrrci RES, mscratch, 0x3)
  TEST_CASE(29, RES, 0x1c, csrr RES, mscratch)
  /* rs1 = x0 / uimm = 0 read without writing; rd = x0 writes without reading */
  TEST_CASE(30, RES, 0x1c, csrrs RES, mscratch, x0; csrrc x0, mscratch, x0; csrr RES, mscratch)
  TEST_CASE(31, RES, 0x1c, csrrsi RES, mscratch, 0; csrrci x0, mscratch, 0; csrr RES, mscratch)
  TEST_CASE(32, RES, -1, li S1, -1; csrrw x0, mscratch, S1; csrr RES, mscratch)
  /* rd == rs1: old value returned, new value from the old register contents */
  TEST_CASE(33, RES, 0x55, li S1, 0x55; csrw mscratch, S1; li S1, 0xaa; csrrw S1, mscratch, S1; mv RES, S1)
  TEST_CASE(34, RES, 0xaa, csrr RES, mscratch)

  /* counters move forward */
  TEST_CASE(40, RES, 1, csrr S1, mcycle; nop; nop; nop; csrr S2, mcycle; sltu RES, S1, S2)
  TEST_CASE(41, RES, 1, csrr S1, minstret; nop; nop; nop; csrr S2, minstret; sltu RES, S1, S2)
  TEST_CASE(42, RES, 1, rdcycle S1; nop; rdcycle S2; sltu RES, S1, S2)
  TEST_CASE(43, RES, 1, rdinstret S1; nop; rdinstret S2; sltu RES, S1, S2)

RVTEST_CODE_END

  .align 2
smc_slot:
  addi a0, a0, 1
  ret

/* Records mcause in s10 and mepc in s11, resumes after the 4-byte trapping instruction. */
  .align 2
  .globl test_trap_handler
test_trap_handler:
  csrr s10, mcause
  csrr s11, mepc
  addi t0, s11, 4
  csrw mepc, t0
  csrr t0, mscratch
  mret
