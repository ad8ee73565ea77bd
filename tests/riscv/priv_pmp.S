/* Physical memory protection for S/U and, with L, for M: TOR / NA4 / NAPOT ranges; allowed
 * read, denied write (store/AMO access fault, cause 7), denied exec (cause 1), denied read
 * (cause 5), each with exact mtval/mepc and memory left unchanged; priority (the lowest-numbered
 * matching entry wins, in both directions); an access only partially inside the winning entry
 * fails; S/U accesses no entry matches fail while M's succeed; MPRV applies S's PMP view to M's
 * loads/stores; a PMP change + sfence.vma is seen at once; delegation to S (scause/stval).
 * Last (locks are permanent): a locked entry binds M-mode too, and a locked entry ignores writes
 * to its pmpcfg byte and pmpaddr (and a locked TOR entry protects the pmpaddr below it).
 *
 * Each S/U snippet runs between IN_MODE and BACK; a fault resumes in M at BACK's label (skipping
 * the ecall), the M handler records mcause/mtval/mepc in s10/s11/s8. The faulting instruction
 * carries label 3 so CHECK_EPC can name it. */
#include "test.h"

#define IN_MODE(n, mode)                                                        \
    li TESTNUM, n; li s10, -1; li s11, -1; li s8, -1; la s9, 1f;                \
    li t0, MPP_MASK; csrc mstatus, t0; li t0, (mode) << 11; csrs mstatus, t0;   \
    la t0, 2f; csrw mepc, t0; mret; 2:
#define BACK ecall; 1:
/* An M-mode snippet that may fault: resumes at label 1 too. */
#define IN_M(n) li TESTNUM, n; li s10, -1; li s11, -1; li s8, -1; la s9, 1f;
#define M_END li s10, 0; 1:
#define IN_MODE_AT(n, mode, sym)                                                \
    li TESTNUM, n; li s10, -1; li s11, -1; li s8, -1; la s9, 1f;                \
    li t0, MPP_MASK; csrc mstatus, t0; li t0, (mode) << 11; csrs mstatus, t0;   \
    la t0, sym; csrw mepc, t0; mret; 1:
#define CHECK_ADDR(n, reg, expr) li TESTNUM, n; la t0, expr; srli t0, t0, 2; beq reg, t0, 96f; j fail; 96:
#define CHECK_EPC(n) li TESTNUM, n; la t0, 3b; beq s8, t0, 96f; j fail; 96:
#define CHECK_REG(n, reg, sym, off) li TESTNUM, n; la t0, sym; addi t0, t0, off; beq reg, t0, 96f; j fail; 96:

#define NAPOT(base, size) (((base) | ((size) / 2 - 1)) >> 2)
/* pmpcfg bytes */
#define R 0x01
#define W 0x02
#define X 0x04
#define TOR 0x08
#define NA4 0x10
#define NAPOT_A 0x18
#define L 0x80

RVTEST_CODE_BEGIN
  la t0, mtrap
  csrw mtvec, t0

  /* entry 0: OFF, the bottom of entry 1
   * entry 1: TOR [r_tor, r_tor + 4 KiB) R
   * entry 2: NA4 r_napot + 0x100 RW
   * entry 3: NAPOT r_napot 4 KiB, X only
   * entry 4: NAPOT r_napot 4 KiB, RWX (shadowed by entry 3)
   * entry 15: NAPOT [0x8000_0000, 0x1_0000_0000) RWX: the rest of RAM (code, data, tohost) */
  la t0, r_tor
  srli t0, t0, 2
  csrw pmpaddr0, t0
  la t0, r_tor + 0x1000
  srli t0, t0, 2
  csrw pmpaddr1, t0
  la t0, r_napot + 0x100
  srli t0, t0, 2
  csrw pmpaddr2, t0
  la t0, r_napot + 0x7ff
  srli t0, t0, 2
  csrw pmpaddr3, t0
  csrw pmpaddr4, t0
  li t0, NAPOT(0x80000000, 0x80000000)
  csrw pmpaddr15, t0
  li t0, ((NAPOT_A|R|W|X) << 32) | ((NAPOT_A|X) << 24) | ((NA4|R|W) << 16) | ((TOR|R) << 8)
  csrw pmpcfg0, t0
  li t0, (NAPOT_A|R|W|X) << 56
  csrw pmpcfg2, t0
  sfence.vma

  /* read-back: all these values are legal (4-byte granularity, like QEMU) */
  csrr t1, pmpcfg0
  CHECK(1, t1, ((NAPOT_A|R|W|X) << 32) | ((NAPOT_A|X) << 24) | ((NA4|R|W) << 16) | ((TOR|R) << 8))
  csrr t1, pmpcfg2
  CHECK(2, t1, (NAPOT_A|R|W|X) << 56)
  csrr t1, pmpaddr15
  CHECK(3, t1, NAPOT(0x80000000, 0x80000000))
  csrr t1, pmpaddr3
  la t0, r_napot + 0x7ff
  srli t0, t0, 2
  sub t1, t1, t0
  CHECK(4, t1, 0)

  /* TOR, R only: S may read */
  la a1, r_tor
  li a0, 0
  IN_MODE(5, 1)
  ld a0, 0(a1)
  BACK
  CHECK(5, s10, 9)
  CHECK(6, a0, 0x1111)
  /* ... not write: cause 7, mtval = address, memory unchanged */
  li a2, 0x7777
  IN_MODE(7, 1)
3: sd a2, 8(a1)
  BACK
  CHECK(7, s10, 7)
  CHECK_REG(8, s11, r_tor, 8)
  CHECK_EPC(9)
  ld t1, 8(a1)
  CHECK(10, t1, 0x1212)
  /* ... AMO is a store: cause 7 */
  IN_MODE(11, 1)
3: amoadd.d a0, a2, (a1)
  BACK
  CHECK(11, s10, 7)
  CHECK_REG(12, s11, r_tor, 0)
  CHECK_EPC(13)
  ld t1, 0(a1)
  CHECK(14, t1, 0x1111)
  /* ... not execute: cause 1, mepc = mtval = target */
  la a1, r_tor + 0x100
  li a0, 0
  IN_MODE(15, 1)
  jalr ra, 0(a1)
  BACK
  CHECK(15, s10, 1)
  CHECK_REG(16, s11, r_tor, 0x100)
  CHECK_REG(17, s8, r_tor, 0x100)
  CHECK(18, a0, 0)
  /* the last word of the TOR range is readable, the first word past its top is not (entry 3..15
   * do not cover r_tor + 4 KiB = r_napot - no: r_napot is elsewhere; r_tor + 4 KiB is r_gap,
   * covered only by entry 15, RWX) */
  la a1, r_tor + 0xffc
  li a0, 0
  IN_MODE(19, 1)
  lw a0, 0(a1)
  BACK
  CHECK(19, s10, 9)
  CHECK(20, a0, 0x5a5a)
  /* the first word past the top: entry 15's RWX */
  li a2, 0x6b6b
  IN_MODE(21, 1)
  sw a2, 4(a1)
  BACK
  CHECK(21, s10, 9)
  /* ... the word below the bottom likewise */
  la a1, r_tor
  IN_MODE(22, 1)
  sw a2, -4(a1)
  BACK
  CHECK(22, s10, 9)

  /* NA4, RW: word at r_napot + 0x100 readable and writable by S */
  la a1, r_napot + 0x100
  li a0, 0
  li a2, 0x2a2a
  IN_MODE(23, 1)
  lw a0, 0(a1)
  sw a2, 0(a1)
  BACK
  CHECK(23, s10, 9)
  CHECK(24, a0, 0x2222)
  lw t1, 0(a1)
  CHECK(25, t1, 0x2a2a)
  /* the next word is in entry 3 (X only), which wins over entry 4 (RWX): read and write denied */
  IN_MODE(26, 1)
3: lw a0, 4(a1)
  BACK
  CHECK(26, s10, 5)
  CHECK_REG(27, s11, r_napot, 0x104)
  CHECK_EPC(28)
  IN_MODE(29, 1)
3: sw a2, 4(a1)
  BACK
  CHECK(29, s10, 7)
  CHECK_REG(30, s11, r_napot, 0x104)
  CHECK_EPC(31)
  lw t1, 4(a1)
  CHECK(32, t1, 0x3333)
  /* the word before the NA4 one: entry 3 as well */
  IN_MODE(33, 1)
3: lw a0, -4(a1)
  BACK
  CHECK(33, s10, 5)
  CHECK_REG(34, s11, r_napot, 0xfc)
  CHECK_EPC(35)
  /* an 8-byte load half in the NA4 entry (lowest match) and half outside: fails */
  IN_MODE(36, 1)
3: ld a0, 0(a1)
  BACK
  CHECK(36, s10, 5)
  CHECK_REG(37, s11, r_napot, 0x100)
  CHECK_EPC(38)
  /* NA4 has no X */
  li a0, 0
  IN_MODE(39, 1)
  jalr ra, 0(a1)
  BACK
  CHECK(39, s10, 1)
  CHECK_REG(40, s11, r_napot, 0x100)
  CHECK_REG(41, s8, r_napot, 0x100)
  /* entry 3 grants X: S runs the code at r_napot */
  la a1, r_napot
  li a0, 0
  IN_MODE(42, 1)
  jalr ra, 0(a1)
  BACK
  CHECK(42, s10, 9)
  CHECK(43, a0, 0x55)

  /* U: the same rules */
  la a1, r_tor
  li a0, 0
  IN_MODE(44, 0)
  ld a0, 0(a1)
  BACK
  CHECK(44, s10, 8)
  CHECK(45, a0, 0x1111)
  IN_MODE(46, 0)
3: sd a2, 0(a1)
  BACK
  CHECK(46, s10, 7)
  CHECK_REG(47, s11, r_tor, 0)
  CHECK_EPC(48)
  la a1, r_napot + 0x200
  IN_MODE(49, 0)
3: lr.d a0, (a1)
  BACK
  CHECK(49, s10, 5)
  CHECK_REG(50, s11, r_napot, 0x200)
  CHECK_EPC(51)

  /* no entry matches (CLINT mtime): S fails, M succeeds */
  li a1, 0x200bff8
  IN_MODE(52, 1)
3: ld a0, 0(a1)
  BACK
  CHECK(52, s10, 5)
  CHECK(53, s11, 0x200bff8)
  CHECK_EPC(54)
  IN_M(55)
  ld a0, 0(a1)
  M_END
  CHECK(55, s10, 0)

  /* unlocked entries do not bind M */
  la a1, r_tor
  li a2, 0x1313
  IN_M(56)
  sd a2, 16(a1)
  M_END
  CHECK(56, s10, 0)
  ld t1, 16(a1)
  CHECK(57, t1, 0x1313)
  /* ... unless MPRV with MPP = S makes M's loads/stores use S's view */
  li t0, MPP_MASK
  csrc mstatus, t0
  li t0, (1 << 11) | (1 << 17)
  csrs mstatus, t0
  IN_M(58)
  ld a0, 0(a1)
3: sd a2, 24(a1)
  M_END
  li t0, 1 << 17
  csrc mstatus, t0
  CHECK(58, s10, 7)
  CHECK_REG(59, s11, r_tor, 24)
  CHECK_EPC(60)
  CHECK(61, a0, 0x1111)

  /* reprogramming + sfence.vma is seen at once, also by hot code: entry 1 made RW, a loop of 60
   * S stores runs; back to R: the same code faults; RW again: it runs */
  li t0, W << 8
  csrs pmpcfg0, t0
  sfence.vma
  la a1, r_tor + 32
  li a2, 0x4321
  IN_MODE_AT(62, 1, s_store_loop)
  CHECK(62, s10, 9)
  ld t1, 0(a1)
  CHECK(63, t1, 0x4321)
  li t0, W << 8
  csrc pmpcfg0, t0
  sfence.vma
  li a2, 0x5432
  IN_MODE_AT(64, 1, s_store_loop)
  CHECK(64, s10, 7)
  CHECK_REG(65, s11, r_tor, 32)
  CHECK_REG(66, s8, s_store_insn, 0)
  ld t1, 0(a1)
  CHECK(67, t1, 0x4321)
  li t0, W << 8
  csrs pmpcfg0, t0
  sfence.vma
  IN_MODE_AT(68, 1, s_store_loop)
  CHECK(68, s10, 9)
  ld t1, 0(a1)
  CHECK(69, t1, 0x5432)
  li t0, W << 8
  csrc pmpcfg0, t0
  sfence.vma

  /* access faults delegated to S: scause/stval/sepc (strap records them in s4/s5/s6) */
  la t0, strap
  csrw stvec, t0
  li t0, (1 << 1) | (1 << 5) | (1 << 7)
  csrw medeleg, t0
  li s4, -1
  li s5, -1
  li s6, -1
  la a1, r_tor
  IN_MODE(70, 1)
3: sw a2, 40(a1)
  BACK
  CHECK(70, s10, 9)
  CHECK(71, s4, 7)
  CHECK_REG(72, s5, r_tor, 40)
  li TESTNUM, 73
  la t0, 3b
  beq s6, t0, 95f
  j fail
95:
  li s4, -1
  la a1, r_napot + 0x108
  IN_MODE(74, 0)
3: lhu a0, 2(a1)
  BACK
  CHECK(74, s10, 9)
  CHECK(75, s4, 5)
  CHECK_REG(76, s5, r_napot, 0x10a)
  li TESTNUM, 77
  la t0, 3b
  beq s6, t0, 95f
  j fail
95:
  csrw medeleg, zero

  /* ---- locks (permanent, so last) ----
   * entry 6: OFF, bottom of entry 7
   * entry 7: TOR [r_lock, r_lock + 4 KiB) R, locked
   * entry 8: NAPOT r_lock2 4 KiB RW, locked */
  la t0, r_lock
  srli t0, t0, 2
  csrw pmpaddr6, t0
  la t0, r_lock + 0x1000
  srli t0, t0, 2
  csrw pmpaddr7, t0
  la t0, r_lock2 + 0x7ff
  srli t0, t0, 2
  csrw pmpaddr8, t0
  li t0, (L|TOR|R) << 56
  csrs pmpcfg0, t0
  li t0, L|NAPOT_A|R|W
  csrs pmpcfg2, t0
  sfence.vma
  csrr s3, pmpcfg0
  srli t1, s3, 56
  CHECK(80, t1, L|TOR|R)
  /* writes to a locked entry's pmpaddr are ignored, and to the pmpaddr under a locked TOR */
  csrw pmpaddr7, zero
  csrr t1, pmpaddr7
  CHECK_ADDR(81, t1, r_lock + 0x1000)
  csrw pmpaddr6, zero
  csrr t1, pmpaddr6
  CHECK_ADDR(82, t1, r_lock)
  li t0, -1
  csrw pmpaddr8, t0
  csrr t1, pmpaddr8
  CHECK_ADDR(83, t1, r_lock2 + 0x7ff)
  /* a pmpcfg0 write changes an unlocked byte (5: OFF -> OFF|R) but not the locked byte 7 */
  li t0, 0x00ffffffffffffff
  and t0, s3, t0
  li t1, R << 40
  or t0, t0, t1
  csrw pmpcfg0, t0
  csrr t1, pmpcfg0
  li t0, R << 40
  or t0, s3, t0
  sub t1, t1, t0
  CHECK(84, t1, 0)
  li t0, 0xff << 40
  csrc pmpcfg0, t0
  /* csrc on the locked byte is ignored as well */
  li t0, 0xff
  csrc pmpcfg2, t0
  csrr t1, pmpcfg2
  CHECK(85, t1, ((NAPOT_A|R|W|X) << 56) | L|NAPOT_A|R|W)
  csrr t1, pmpcfg0
  li t0, 0xff << 56
  and t1, t1, t0
  CHECK(86, t1, (L|TOR|R) << 56)
  sfence.vma

  /* the locked R-only TOR binds M: load works, store and AMO fault, exec faults */
  la a1, r_lock
  li a0, 0
  IN_M(87)
  ld a0, 0(a1)
  M_END
  CHECK(87, s10, 0)
  CHECK(88, a0, 0x4444)
  li a2, 0x9999
  IN_M(89)
3: sd a2, 8(a1)
  M_END
  CHECK(89, s10, 7)
  CHECK_REG(90, s11, r_lock, 8)
  CHECK_EPC(91)
  IN_M(92)
3: amoswap.w a0, a2, (a1)
  M_END
  CHECK(92, s10, 7)
  CHECK_REG(93, s11, r_lock, 0)
  CHECK_EPC(94)
  ld t1, 0(a1)
  CHECK(95, t1, 0x4444)
  ld t1, 8(a1)
  CHECK(96, t1, 0)
  la a1, r_lock + 0x100
  li a0, 0
  IN_M(97)
  jalr ra, 0(a1)
  M_END
  CHECK(97, s10, 1)
  CHECK_REG(98, s11, r_lock, 0x100)
  CHECK_REG(99, s8, r_lock, 0x100)
  CHECK(100, a0, 0)
  /* ... and S */
  la a1, r_lock
  IN_MODE(101, 1)
3: sd a2, 0(a1)
  BACK
  CHECK(101, s10, 7)
  CHECK_REG(102, s11, r_lock, 0)
  /* the locked RW NAPOT: M may write, not execute */
  la a1, r_lock2
  IN_M(103)
  sd a2, 0(a1)
  M_END
  CHECK(103, s10, 0)
  ld t1, 0(a1)
  CHECK(104, t1, 0x9999)
  IN_M(105)
  jalr ra, 0(a1)
  M_END
  CHECK(105, s10, 1)
  CHECK_REG(106, s11, r_lock2, 0)
  CHECK_REG(107, s8, r_lock2, 0)
  /* M outside every locked entry is unaffected */
  la a1, r_gap
  IN_M(108)
  sd a2, 0(a1)
  M_END
  CHECK(108, s10, 0)
RVTEST_CODE_END

  .align 2
s_store_loop:
  li s3, 60
4:
s_store_insn:
  sd a2, 0(a1)
  addi s3, s3, -1
  bnez s3, 4b
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
  ecall

RVTEST_DATA_BEGIN
  .align 12
r_below: .fill 512, 8, 0
r_tor:
  .dword 0x1111, 0x1212, 0, 0, 0, 0
  .align 8
  li a0, 0x66
  ret
  .skip 0xffc - (. - r_tor)
  .word 0x5a5a
r_gap: .fill 512, 8, 0
r_napot:
  li a0, 0x55
  ret
  .skip 0x100 - (. - r_napot)
  .word 0x2222, 0x3333, 0x4c4c4c4c, 0x5d5d5d5d
  .skip 0x200 - (. - r_napot)
  .dword 0x6e6e
  .align 12
r_lock:
  .dword 0x4444, 0
  .skip 0x100 - (. - r_lock)
  li a0, 0x44
  ret
  .align 12
r_lock2:
  ret
  .align 12
RVTEST_DATA_END
