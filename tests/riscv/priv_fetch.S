/* Instruction-fetch faults, precise: M-mode fetch from an unmapped physical address (access
 * fault, cause 1); Sv39 fetch from a page without X, with an invalid PTE, with a reserved
 * W-without-R PTE (page fault, cause 12); a 32-bit instruction straddling into an invalid or
 * non-executable page (epc = instruction, tval = second page), a straddle over two
 * physically non-adjacent executable pages; no stale translation after a PTE fix / X removal /
 * remap + sfence.vma (also once the code is hot); U-mode fetch from a non-U page and S-mode fetch
 * from a U page (cause 12); execute-only pages; a fetch fault delegated to S (scause/sepc/stval);
 * code jumped to straight from other (compiled, chained) code while the second page of its
 * straddling last instruction is remapped with sfence.vma of that page alone, warm and hot.
 *
 * Every run: a1 = target, s9 = where the M handler resumes (always in M-mode); the handler
 * records mcause/mtval/mepc in s10/s11/s8. A successful call ends with ecall (cause 9 from S,
 * 8 from U). */
#include "test.h"

#define MKPTE(dst, sym, flags) la dst, sym; srli dst, dst, 12; slli dst, dst, 10; ori dst, dst, flags
#define STPTE(table, index, sym, flags) MKPTE(t0, sym, flags); la t1, table; sd t0, (index) * 8(t1)
#define CLRPTE(table, index) la t1, table; sd zero, (index) * 8(t1)

/* Enter `mode` at `entry` (a symbol: ENTER_SYM, or a constant VA: ENTER_VA) via mret with
 * a1 = tgt; the M handler resumes in M at local label 1. */
#define PREP(n, mode, tgt)                                                      \
    li TESTNUM, n; li s10, -1; li s11, -1; li s8, -1; li a0, 0;                 \
    li a1, tgt; la s9, 1f;                                                      \
    li t0, MPP_MASK; csrc mstatus, t0; li t0, (mode) << 11; csrs mstatus, t0
#define GO_SYM(n, mode, entry, tgt) PREP(n, mode, tgt); la t0, entry; csrw mepc, t0; mret; 1:
#define GO_VA(n, mode, entry, tgt) PREP(n, mode, tgt); li t0, entry; csrw mepc, t0; mret; 1:
/* Call `tgt` from an S-mode trampoline (jalr), 100 times from an S loop, or from U. */
#define S_CALL(n, tgt) GO_SYM(n, 1, s_tramp, tgt)
#define S_LOOP(n, tgt) GO_SYM(n, 1, s_loop, tgt)
/* S_LOOP with t2 = 20000 at every call */
#define S_LOOP_T2(n, tgt) GO_SYM(n, 1, s_loop_t2, tgt)
#define U_CALL(n, tgt) GO_VA(n, 0, VA_UTRAMP, tgt)
/* Run `loop` (S_LOOP or S_LOOP_T2) on `entry`, a0 = `before`; point PTE l0[idx] (the page after
 * `entry`'s) at `page` and drop only that page from the TLB; run it again, a0 = `after`. */
#define REMAP_SECOND_PAGE(n, loop, entry, idx, page, before, after)              \
    loop(n, entry); CHECK(n, s10, 9); CHECK(n + 1, a0, before);                   \
    STPTE(l0, idx, page, 0x4b); li t0, VA(idx); sfence.vma t0, zero;             \
    loop(n + 2, entry); CHECK(n + 2, s10, 9); CHECK(n + 3, a0, after)
/* mret straight to `tgt` in `mode`. */
#define MRET_TO(n, mode, tgt) GO_VA(n, mode, tgt, tgt)

#define VA(i) (0x40000000 + (i) * 0x1000)
#define VA_RET VA(0)       /* pg_ret, RX */
#define VA_RET_NX VA(1)    /* pg_ret, RW (no X) */
#define VA_INV VA(2)       /* invalid PTE */
#define VA_S1 VA(3)        /* pg_s1 RX; VA(4) invalid */
#define VA_S2 VA(5)        /* pg_s2 RX; VA(6) RW, no X */
#define VA_RSV VA(7)       /* pg_ret, W|X without R: reserved */
#define VA_S3 VA(8)        /* pg_s3 RX; VA(9) = pg_s3b RX (not physically next) */
#define VA_UTRAMP VA(10)   /* pg_utramp, U RX */
#define VA_URET VA(11)     /* pg_ret, U RX */
#define VA_XO VA(12)       /* pg_ret, execute-only */
#define VA_S4 VA(13)       /* pg_s4 RX; VA(14) = pg_s4b RX, later pg_s4c */
#define VA_S5 VA(15)       /* pg_s5 RX; VA(16) = pg_s5b RX, later pg_s5c */

#define ADDI_A0_1_LO 0x0513  /* addi a0, a0, 1 = 0x00150513 */
#define ADDI_A0_1_HI 0x0015
#define ADDI_A0_2_HI 0x0025  /* addi a0, a0, 2 = 0x00250513 */
#define BNEZ_LO 0x9be3       /* bnez t2, -10 = 0xfe039be3 */
#define BNEZ_T2_HI 0xfe03
#define BNEZ_S7_HI 0xfe0b    /* bnez s7, -10 = 0xfe0b9be3 */

RVTEST_CODE_BEGIN
  la t0, mtrap
  csrw mtvec, t0
  li t0, -1
  csrw pmpaddr0, t0
  li t0, 0x1f
  csrw pmpcfg0, t0

  /* (a) M-mode jump to an unmapped physical address: access fault, mepc = mtval = target */
  li TESTNUM, 1
  li s10, -1
  la s9, 1f
  li t1, 0x40000000
  jalr ra, 0(t1)
1:
  CHECK(1, s10, 1)
  CHECK(2, s8, 0x40000000)
  CHECK(3, s11, 0x40000000)
  /* same, not page aligned */
  li TESTNUM, 4
  li s10, -1
  la s9, 1f
  li t1, 0x40000124
  jalr ra, 0(t1)
1:
  CHECK(4, s10, 1)
  CHECK(5, s8, 0x40000124)
  CHECK(6, s11, 0x40000124)

  /* Sv39: root[2] = 1 GiB identity RWX leaf over RAM (code, data, tables); root[1] -> l1 -> l0. */
  li t0, (0x80000 << 10) | 0xcf
  la t1, root39
  sd t0, 16(t1)
  STPTE(root39, 1, l1, 0x01)
  STPTE(l1, 0, l0, 0x01)
  STPTE(l0, 0, pg_ret, 0x4b)
  STPTE(l0, 1, pg_ret, 0xc7)
  STPTE(l0, 3, pg_s1, 0x4b)
  STPTE(l0, 5, pg_s2, 0x4b)
  STPTE(l0, 6, pg_s2b, 0xc7)
  STPTE(l0, 7, pg_ret, 0x4d)
  STPTE(l0, 8, pg_s3, 0x4b)
  STPTE(l0, 9, pg_s3b, 0x4b)
  STPTE(l0, 10, pg_utramp, 0x5b)
  STPTE(l0, 11, pg_ret, 0x5b)
  STPTE(l0, 12, pg_ret, 0x49)
  STPTE(l0, 13, pg_s4, 0x4b)
  STPTE(l0, 14, pg_s4b, 0x4b)
  STPTE(l0, 15, pg_s5, 0x4b)
  STPTE(l0, 16, pg_s5b, 0x4b)
  la t0, root39
  srli t0, t0, 12
  li t1, 8 << 60
  or t0, t0, t1
  csrw satp, t0
  sfence.vma

  /* positive control: S calls an RX page */
  S_CALL(10, VA_RET)
  CHECK(10, s10, 9)
  CHECK(11, a0, 0x77)
  /* execute-only page (X without R) is fetchable */
  S_CALL(12, VA_XO)
  CHECK(12, s10, 9)
  CHECK(13, a0, 0x77)

  /* (b) page without X: instruction page fault, mepc = mtval = target */
  S_CALL(14, VA_RET_NX)
  CHECK(14, s10, 12)
  CHECK(15, s8, VA_RET_NX)
  CHECK(16, s11, VA_RET_NX)
  CHECK(17, a0, 0)
  /* mret straight onto it */
  MRET_TO(18, 1, VA_RET_NX + 4)
  CHECK(18, s10, 12)
  CHECK(19, s8, VA_RET_NX + 4)
  CHECK(20, s11, VA_RET_NX + 4)

  /* (c) invalid PTE */
  S_CALL(21, VA_INV)
  CHECK(21, s10, 12)
  CHECK(22, s8, VA_INV)
  CHECK(23, s11, VA_INV)
  /* reserved PTE encoding (W without R) */
  S_CALL(24, VA_RSV)
  CHECK(24, s10, 12)
  CHECK(25, s8, VA_RSV)
  CHECK(26, s11, VA_RSV)
  /* unmapped gigapage (root[0] invalid) */
  S_CALL(27, 0x1000)
  CHECK(27, s10, 12)
  CHECK(28, s8, 0x1000)
  CHECK(29, s11, 0x1000)

  /* (d) 32-bit instruction at 0xffe of an RX page, second half on an invalid page.
   * The spec lets tval be the instruction's address or that of the faulting portion; QEMU 7.2
   * and Mimic both report the faulting portion (the second page), so that is checked exactly. */
  S_CALL(30, VA_S1 + 0xffe)
  CHECK(30, s10, 12)
  CHECK(31, s8, VA_S1 + 0xffe)
  CHECK(32, s11, VA_S1 + 0x1000)
  CHECK(33, a0, 0)
  /* ... second half on a mapped but non-executable page */
  S_CALL(34, VA_S2 + 0xffe)
  CHECK(34, s10, 12)
  CHECK(35, s8, VA_S2 + 0xffe)
  CHECK(36, s11, VA_S2 + 0x1000)
  CHECK(37, a0, 0)
  /* both pages executable but not physically adjacent: the halves come through the two PTEs
   * (the physically next page holds addi a0, a0, 2) */
  S_CALL(38, VA_S3 + 0xffe)
  CHECK(38, s10, 9)
  CHECK(39, a0, 1)

  /* (e) fix the invalid PTE, sfence.vma: the same VA now runs (no stale fault) */
  STPTE(l0, 2, pg_ret, 0x4b)
  sfence.vma
  S_CALL(40, VA_INV)
  CHECK(40, s10, 9)
  CHECK(41, a0, 0x77)
  /* add X to the non-executable mapping */
  STPTE(l0, 1, pg_ret, 0xcf)
  sfence.vma
  S_CALL(42, VA_RET_NX)
  CHECK(42, s10, 9)
  CHECK(43, a0, 0x77)
  /* fix the straddle's second page */
  STPTE(l0, 4, pg_s3b, 0x4b)
  sfence.vma
  S_CALL(44, VA_S1 + 0xffe)
  CHECK(44, s10, 9)
  CHECK(45, a0, 1)
  /* hot code: run VA_RET 100 times, then drop X: the next fetch faults */
  S_LOOP(46, VA_RET)
  CHECK(46, s10, 9)
  CHECK(47, a0, 0x77)
  STPTE(l0, 0, pg_ret, 0xc7)
  sfence.vma
  S_LOOP(48, VA_RET)
  CHECK(48, s10, 12)
  CHECK(49, s8, VA_RET)
  CHECK(50, s11, VA_RET)
  /* restore X, then remap the (hot) VA to other code */
  STPTE(l0, 0, pg_ret, 0x4b)
  sfence.vma
  S_LOOP(51, VA_RET)
  CHECK(51, s10, 9)
  CHECK(52, a0, 0x77)
  STPTE(l0, 0, pg_ret2, 0x4b)
  sfence.vma
  S_CALL(53, VA_RET)
  CHECK(53, s10, 9)
  CHECK(54, a0, 0x88)
  /* sfence.vma with the VA as argument is enough, too */
  STPTE(l0, 0, pg_ret, 0x4b)
  li t0, VA_RET
  sfence.vma t0, zero
  S_LOOP(55, VA_RET)
  CHECK(55, s10, 9)
  CHECK(56, a0, 0x77)

  /* (f) U-mode: positive control through the U trampoline */
  U_CALL(60, VA_URET)
  CHECK(60, s10, 8)
  CHECK(61, a0, 0x77)
  /* U jumps to a page without U */
  U_CALL(62, VA_RET)
  CHECK(62, s10, 12)
  CHECK(63, s8, VA_RET)
  CHECK(64, s11, VA_RET)

  /* mret to U straight onto a page without U */
  MRET_TO(65, 0, VA_RET)
  CHECK(65, s10, 12)
  CHECK(66, s8, VA_RET)
  CHECK(67, s11, VA_RET)
  /* S may never execute a U page, with or without SUM */
  S_CALL(68, VA_URET)
  CHECK(68, s10, 12)
  CHECK(69, s8, VA_URET)
  CHECK(70, s11, VA_URET)
  li t0, 1 << 18
  csrs mstatus, t0
  S_CALL(71, VA_URET)
  CHECK(71, s10, 12)
  CHECK(72, s8, VA_URET)
  CHECK(73, s11, VA_URET)
  li t0, 1 << 18
  csrc mstatus, t0

  /* delegated to S: scause/sepc/stval (recorded by strap in s4/s6/s5), then ecall to M */
  la t0, strap
  csrw stvec, t0
  li t0, 1 << 12
  csrw medeleg, t0
  li s4, -1
  li s5, -1
  li s6, -1
  CLRPTE(l0, 2)
  sfence.vma
  S_CALL(80, VA_INV + 8)
  CHECK(80, s10, 9)
  CHECK(81, s4, 12)
  CHECK(82, s6, VA_INV + 8)
  CHECK(83, s5, VA_INV + 8)
  /* SPP = S */
  andi t0, s3, 1 << 8
  CHECK(84, t0, 1 << 8)
  csrw medeleg, zero

  /* (g) remapping the second page of code that other code jumps to straight. A chain or the
   * indirect-jump cache checks only its target's first page, here unchanged.
   * Warm: s_loop's jalr goes straight to the (compiled) straddling addi; its second page then
   * holds the upper half of addi a0, a0, 2. */
  REMAP_SECOND_PAGE(90, S_LOOP, VA_S4 + 0xffe, 14, pg_s4c, 100, 200)
  /* Hot: a loop whose back branch straddles into the second page (and jumps to its own first
   * page); then that half makes it test s7 (zero) instead of the counter t2: one pass per call. */
  li s7, 0
  REMAP_SECOND_PAGE(94, S_LOOP_T2, VA_S5 + 0xff4, 16, pg_s5c, 2000000, 100)

  csrw satp, zero
  sfence.vma
RVTEST_CODE_END

/* S trampolines (run through the identity gigapage). */
  .align 2
s_tramp:
  jalr ra, 0(a1)
  ecall
s_loop:
  li s3, 100
1:
  jalr ra, 0(a1)
  addi s3, s3, -1
  bnez s3, 1b
  ecall
s_loop_t2:
  li s3, 100
1:
  li t2, 20000
  jalr ra, 0(a1)
  addi s3, s3, -1
  bnez s3, 1b
  ecall

/* M handler: record, resume at s9 in M-mode. */
  .align 2
mtrap:
  csrr s10, mcause
  csrr s11, mtval
  csrr s8, mepc
  li t0, MPP_MASK
  csrs mstatus, t0
  csrw mepc, s9
  mret

/* S handler for delegated traps: record, escape to M with ecall. */
  .align 2
strap:
  csrr s4, scause
  csrr s5, stval
  csrr s6, sepc
  csrr s3, sstatus
  ecall

RVTEST_DATA_BEGIN
  .align 12
root39: .fill 512, 8, 0
l1: .fill 512, 8, 0
l0: .fill 512, 8, 0
  .align 12
pg_ret:
  li a0, 0x77
  ret
  .align 12
pg_ret2:
  li a0, 0x88
  ret
  .align 12
pg_s1:
  .skip 0xffe
  .half ADDI_A0_1_LO
  /* physically next page: a different upper half, must never be used */
pg_decoy:
  .half ADDI_A0_2_HI
  .half 0x8067, 0x0000    /* ret */
  .align 12
pg_s2:
  .skip 0xffe
  .half ADDI_A0_1_LO
pg_s2b:
  .half ADDI_A0_1_HI
  .half 0x8067, 0x0000
  .align 12
pg_s3:
  .skip 0xffe
  .half ADDI_A0_1_LO
pg_decoy2:
  .half ADDI_A0_2_HI
  .half 0x8067, 0x0000
  .align 12
pg_s3b:
  .half ADDI_A0_1_HI
  .half 0x8067, 0x0000    /* ret */
  .align 12
pg_s4:
  .skip 0xffe
  .half ADDI_A0_1_LO
  .align 12
pg_s4b:
  .half ADDI_A0_1_HI
  .half 0x8067, 0x0000    /* ret */
  .align 12
pg_s4c:
  .half ADDI_A0_2_HI
  .half 0x8067, 0x0000
  .align 12
pg_s5:
  .skip 0xff4
  .word 0xfff38393        /* addi t2, t2, -1 */
  .word 0x00150513        /* addi a0, a0, 1 */
  .half 0x0001            /* c.nop */
  .half BNEZ_LO           /* bnez t2 or s7 (by the second page), back to the addi */
  .align 12
pg_s5b:
  .half BNEZ_T2_HI
  .half 0x8067, 0x0000
  .align 12
pg_s5c:
  .half BNEZ_S7_HI
  .half 0x8067, 0x0000
  .align 12
pg_utramp:
  jalr ra, 0(a1)
  ecall
  .align 12
RVTEST_DATA_END
