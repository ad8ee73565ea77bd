/* Misaligned accesses. Plain loads/stores (lh/lhu/lw/lwu/ld, sh/sw/sd, flw/fld/fsw/fsd) at every
 * misaligned offset, also across a page boundary (physical in M-mode, and in S-mode under Sv39
 * across two virtual pages backed by non-adjacent physical pages, and into an unmapped page):
 * the spec lets each either complete or trap (cause 4/6). When it completes, the loaded value /
 * the bytes written (and their neighbours) are checked exactly; when it traps, mcause, mtval (=
 * the address), mepc, rd unchanged / memory unchanged are. Crossing into an unmapped page
 * must fault: a load/store page fault with tval = the first byte of the faulting page (the
 * portion that faulted), or a misaligned trap with tval = the address.
 * LR/AMO/SC at misaligned addresses must trap: LR with cause 4, AMOs and SC with cause 6 (the
 * spec would also allow an access fault; this test pins the misaligned exception), mtval = the
 * address, rd and memory unchanged. SC must trap whether or not a reservation is held
 * (riscv-isa-manual issue #217). The AMO and SC checks come last: QEMU 7.2 reports misaligned
 * AMOs as load-misaligned (cause 4) and does not trap a misaligned SC without a matching
 * reservation, so on QEMU this file fails at the first AMO case and everything before it is
 * cross-checked.
 *
 * Generated expectations: load pattern byte i = 0x81 + 0x13 * i (mod 256), store buffer byte i
 * = 0xa0 + i before every store. */
#include "test.h"

#define SENT 0x5a5a5a5a5a5a5a5a
/* fail unless reg == imm (clobbers EXP) */
#define EQ(reg, imm) li EXP, imm; beq reg, EXP, 93f; j fail; 93:
#define EQR(a, b) beq a, b, 93f; j fail; 93:
/* after an access labelled 3 at address `addr_reg + off`: if it trapped, require `cause`,
 * mtval = address, mepc = the access; then go on at label 95 (skipping value checks). */
#define IF_TRAPPED(cause, addr_reg, off)                                        \
    bltz s10, 94f;                                                              \
    EQ(s10, cause); addi t0, addr_reg, off; EQR(s11, t0);                       \
    la t0, 3b; EQR(s8, t0); j 95f;                                              \
94:
#define MKPTE(dst, sym, flags) la dst, sym; srli dst, dst, 12; slli dst, dst, 10; ori dst, dst, flags
#define RESET(n) li TESTNUM, n; li s10, -1; li s11, -1; li s8, -1

/* load: rd must get `exp` or the load must trap with cause 4 and leave rd alone */
#define TLOAD(n, insn, base, off, exp)                                          \
    RESET(n); la a1, base; li a0, SENT;                                         \
3:  insn a0, off(a1);                                                           \
    IF_TRAPPED(4, a1, off); EQ(a0, exp); j 96f;                                 \
95: EQ(a0, SENT);                                                               \
96:
/* store: refill sbuf, store `val` at sbuf + off; then the two dwords of sbuf must be `d0`, `d1`
 * (or, if it trapped with cause 6, the refill pattern) */
#define TSTORE(n, insn, off, val, d0, d1)                                       \
    RESET(n); call refill; la a1, sbuf; li a2, val;                             \
3:  insn a2, off(a1);                                                           \
    IF_TRAPPED(6, a1, off); ld t1, 0(a1); EQ(t1, d0); ld t1, 8(a1); EQ(t1, d1); \
    j 96f;                                                                      \
95: ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1);                   \
96:

#define FILL0 0xa7a6a5a4a3a2a1a0
#define FILL1 0xafaeadacabaaa9a8

RVTEST_CODE_BEGIN
  la t0, mtrap
  csrw mtvec, t0
  li t0, -1
  csrw pmpaddr0, t0
  li t0, 0x1f
  csrw pmpcfg0, t0

  /* ---- plain loads, every misaligned offset (and aligned controls) ---- */
  TLOAD(1, lb, ldat, 0, 0xffffffffffffff81)
  TLOAD(2, lh, ldat, 0, 0xffffffffffff9481)
  TLOAD(3, lh, ldat, 1, 0xffffffffffffa794)
  TLOAD(4, lh, ldat, 3, 0xffffffffffffcdba)
  TLOAD(5, lh, ldat, 5, 0xfffffffffffff3e0)
  TLOAD(6, lh, ldat, 7, 0x0000000000001906)
  TLOAD(7, lh, ldat, 8, 0x0000000000002c19)
  TLOAD(8, lhu, ldat, 0, 0x0000000000009481)
  TLOAD(9, lhu, ldat, 1, 0x000000000000a794)
  TLOAD(10, lhu, ldat, 3, 0x000000000000cdba)
  TLOAD(11, lhu, ldat, 5, 0x000000000000f3e0)
  TLOAD(12, lhu, ldat, 7, 0x0000000000001906)
  TLOAD(13, lhu, ldat, 8, 0x0000000000002c19)
  TLOAD(14, lw, ldat, 0, 0xffffffffbaa79481)
  TLOAD(15, lw, ldat, 1, 0xffffffffcdbaa794)
  TLOAD(16, lw, ldat, 2, 0xffffffffe0cdbaa7)
  TLOAD(17, lw, ldat, 3, 0xfffffffff3e0cdba)
  TLOAD(18, lw, ldat, 5, 0x000000001906f3e0)
  TLOAD(19, lw, ldat, 6, 0x000000002c1906f3)
  TLOAD(20, lw, ldat, 7, 0x000000003f2c1906)
  TLOAD(21, lw, ldat, 8, 0x00000000523f2c19)
  TLOAD(22, lwu, ldat, 0, 0x00000000baa79481)
  TLOAD(23, lwu, ldat, 1, 0x00000000cdbaa794)
  TLOAD(24, lwu, ldat, 2, 0x00000000e0cdbaa7)
  TLOAD(25, lwu, ldat, 3, 0x00000000f3e0cdba)
  TLOAD(26, lwu, ldat, 5, 0x000000001906f3e0)
  TLOAD(27, lwu, ldat, 6, 0x000000002c1906f3)
  TLOAD(28, lwu, ldat, 7, 0x000000003f2c1906)
  TLOAD(29, lwu, ldat, 8, 0x00000000523f2c19)
  TLOAD(30, ld, ldat, 0, 0x06f3e0cdbaa79481)
  TLOAD(31, ld, ldat, 1, 0x1906f3e0cdbaa794)
  TLOAD(32, ld, ldat, 2, 0x2c1906f3e0cdbaa7)
  TLOAD(33, ld, ldat, 3, 0x3f2c1906f3e0cdba)
  TLOAD(34, ld, ldat, 4, 0x523f2c1906f3e0cd)
  TLOAD(35, ld, ldat, 5, 0x65523f2c1906f3e0)
  TLOAD(36, ld, ldat, 6, 0x7865523f2c1906f3)
  TLOAD(37, ld, ldat, 7, 0x8b7865523f2c1906)
  TLOAD(38, ld, ldat, 8, 0x9e8b7865523f2c19)

  /* ---- plain stores ---- */
  TSTORE(39, sh, 0, 0x8877665544332211, 0xa7a6a5a4a3a22211, 0xafaeadacabaaa9a8)
  TSTORE(40, sh, 1, 0x8877665544332211, 0xa7a6a5a4a32211a0, 0xafaeadacabaaa9a8)
  TSTORE(41, sh, 3, 0x8877665544332211, 0xa7a6a52211a2a1a0, 0xafaeadacabaaa9a8)
  TSTORE(42, sh, 5, 0x8877665544332211, 0xa72211a4a3a2a1a0, 0xafaeadacabaaa9a8)
  TSTORE(43, sh, 7, 0x8877665544332211, 0x11a6a5a4a3a2a1a0, 0xafaeadacabaaa922)
  TSTORE(44, sh, 8, 0x8877665544332211, 0xa7a6a5a4a3a2a1a0, 0xafaeadacabaa2211)
  TSTORE(45, sw, 0, 0x8877665544332211, 0xa7a6a5a444332211, 0xafaeadacabaaa9a8)
  TSTORE(46, sw, 1, 0x8877665544332211, 0xa7a6a544332211a0, 0xafaeadacabaaa9a8)
  TSTORE(47, sw, 2, 0x8877665544332211, 0xa7a644332211a1a0, 0xafaeadacabaaa9a8)
  TSTORE(48, sw, 3, 0x8877665544332211, 0xa744332211a2a1a0, 0xafaeadacabaaa9a8)
  TSTORE(49, sw, 5, 0x8877665544332211, 0x332211a4a3a2a1a0, 0xafaeadacabaaa944)
  TSTORE(50, sw, 6, 0x8877665544332211, 0x2211a5a4a3a2a1a0, 0xafaeadacabaa4433)
  TSTORE(51, sw, 7, 0x8877665544332211, 0x11a6a5a4a3a2a1a0, 0xafaeadacab443322)
  TSTORE(52, sw, 8, 0x8877665544332211, 0xa7a6a5a4a3a2a1a0, 0xafaeadac44332211)
  TSTORE(53, sd, 0, 0x8877665544332211, 0x8877665544332211, 0xafaeadacabaaa9a8)
  TSTORE(54, sd, 1, 0x8877665544332211, 0x77665544332211a0, 0xafaeadacabaaa988)
  TSTORE(55, sd, 2, 0x8877665544332211, 0x665544332211a1a0, 0xafaeadacabaa8877)
  TSTORE(56, sd, 3, 0x8877665544332211, 0x5544332211a2a1a0, 0xafaeadacab887766)
  TSTORE(57, sd, 4, 0x8877665544332211, 0x44332211a3a2a1a0, 0xafaeadac88776655)
  TSTORE(58, sd, 5, 0x8877665544332211, 0x332211a4a3a2a1a0, 0xafaead8877665544)
  TSTORE(59, sd, 6, 0x8877665544332211, 0x2211a5a4a3a2a1a0, 0xafae887766554433)
  TSTORE(60, sd, 7, 0x8877665544332211, 0x11a6a5a4a3a2a1a0, 0xaf88776655443322)
  TSTORE(61, sd, 8, 0x8877665544332211, 0xa7a6a5a4a3a2a1a0, 0x8877665544332211)

  /* ---- FP loads/stores (plain accesses too) ---- */
  RESET(62); la a1, ldat; li t0, SENT; fmv.d.x fa0, t0
3: flw fa0, 1(a1)
  IF_TRAPPED(4, a1, 1); fmv.x.d a0, fa0; EQ(a0, 0xffffffffcdbaa794); j 96f
95: fmv.x.d a0, fa0; EQ(a0, SENT)
96:
  RESET(63); la a1, ldat; li t0, SENT; fmv.d.x fa0, t0
3: flw fa0, 2(a1)
  IF_TRAPPED(4, a1, 2); fmv.x.d a0, fa0; EQ(a0, 0xffffffffe0cdbaa7); j 96f
95: fmv.x.d a0, fa0; EQ(a0, SENT)
96:
  RESET(64); la a1, ldat; li t0, SENT; fmv.d.x fa0, t0
3: flw fa0, 3(a1)
  IF_TRAPPED(4, a1, 3); fmv.x.d a0, fa0; EQ(a0, 0xfffffffff3e0cdba); j 96f
95: fmv.x.d a0, fa0; EQ(a0, SENT)
96:
  RESET(65); la a1, ldat; li t0, SENT; fmv.d.x fa0, t0
3: flw fa0, 5(a1)
  IF_TRAPPED(4, a1, 5); fmv.x.d a0, fa0; EQ(a0, 0xffffffff1906f3e0); j 96f
95: fmv.x.d a0, fa0; EQ(a0, SENT)
96:
  RESET(66); la a1, ldat; li t0, SENT; fmv.d.x fa0, t0
3: fld fa0, 1(a1)
  IF_TRAPPED(4, a1, 1); fmv.x.d a0, fa0; EQ(a0, 0x1906f3e0cdbaa794); j 96f
95: fmv.x.d a0, fa0; EQ(a0, SENT)
96:
  RESET(67); la a1, ldat; li t0, SENT; fmv.d.x fa0, t0
3: fld fa0, 4(a1)
  IF_TRAPPED(4, a1, 4); fmv.x.d a0, fa0; EQ(a0, 0x523f2c1906f3e0cd); j 96f
95: fmv.x.d a0, fa0; EQ(a0, SENT)
96:
  RESET(68); la a1, ldat; li t0, SENT; fmv.d.x fa0, t0
3: fld fa0, 6(a1)
  IF_TRAPPED(4, a1, 6); fmv.x.d a0, fa0; EQ(a0, 0x7865523f2c1906f3); j 96f
95: fmv.x.d a0, fa0; EQ(a0, SENT)
96:
  RESET(69); la a1, ldat; li t0, SENT; fmv.d.x fa0, t0
3: fld fa0, 7(a1)
  IF_TRAPPED(4, a1, 7); fmv.x.d a0, fa0; EQ(a0, 0x8b7865523f2c1906); j 96f
95: fmv.x.d a0, fa0; EQ(a0, SENT)
96:
  RESET(70); call refill; la a1, sbuf; li t0, 0x8877665544332211; fmv.d.x fa1, t0
3: fsw fa1, 3(a1)
  IF_TRAPPED(6, a1, 3); ld t1, 0(a1); EQ(t1, 0xa744332211a2a1a0); ld t1, 8(a1); EQ(t1, 0xafaeadacabaaa9a8); j 96f
95: ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)
96:
  RESET(71); call refill; la a1, sbuf; li t0, 0x8877665544332211; fmv.d.x fa1, t0
3: fsd fa1, 5(a1)
  IF_TRAPPED(6, a1, 5); ld t1, 0(a1); EQ(t1, 0x332211a4a3a2a1a0); ld t1, 8(a1); EQ(t1, 0xafaead8877665544); j 96f
95: ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)
96:
  RESET(72); call refill; la a1, sbuf; li t0, 0x8877665544332211; fmv.d.x fa1, t0
3: fsd fa1, 2(a1)
  IF_TRAPPED(6, a1, 2); ld t1, 0(a1); EQ(t1, 0x665544332211a1a0); ld t1, 8(a1); EQ(t1, 0xafaeadacabaa8877); j 96f
95: ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)
96:

  /* ---- across a physical page boundary (M-mode): xlo = 8 bytes before it ---- */
  TLOAD(73, lh, xlo, 7, 0x000000000000523f)
  TLOAD(74, lhu, xlo, 7, 0x000000000000523f)
  TLOAD(75, lw, xlo, 5, 0x00000000523f2c19)
  TLOAD(76, lw, xlo, 6, 0x0000000065523f2c)
  TLOAD(77, lw, xlo, 7, 0x000000007865523f)
  TLOAD(78, lwu, xlo, 6, 0x0000000065523f2c)
  TLOAD(79, ld, xlo, 1, 0x523f2c1906f3e0cd)
  TLOAD(80, ld, xlo, 4, 0x8b7865523f2c1906)
  TLOAD(81, ld, xlo, 7, 0xc4b19e8b7865523f)
  /* stores across the boundary (xst = 8 bytes before one), both sides checked */
  RESET(82); la a1, xst; li t0, -0x1111111111111112; sd t0, 0(a1); sd t0, 8(a1); li a2, 0x8877665544332211
3: sh a2, 7(a1)
  IF_TRAPPED(6, a1, 7); ld t1, 0(a1); EQ(t1, 0x11eeeeeeeeeeeeee); ld t1, 8(a1); EQ(t1, 0xeeeeeeeeeeeeee22); j 96f
95: ld t1, 0(a1); EQ(t1, 0xeeeeeeeeeeeeeeee); ld t1, 8(a1); EQ(t1, 0xeeeeeeeeeeeeeeee)
96:
  RESET(83); la a1, xst; li t0, -0x1111111111111112; sd t0, 0(a1); sd t0, 8(a1); li a2, 0x8877665544332211
3: sw a2, 6(a1)
  IF_TRAPPED(6, a1, 6); ld t1, 0(a1); EQ(t1, 0x2211eeeeeeeeeeee); ld t1, 8(a1); EQ(t1, 0xeeeeeeeeeeee4433); j 96f
95: ld t1, 0(a1); EQ(t1, 0xeeeeeeeeeeeeeeee); ld t1, 8(a1); EQ(t1, 0xeeeeeeeeeeeeeeee)
96:
  RESET(84); la a1, xst; li t0, -0x1111111111111112; sd t0, 0(a1); sd t0, 8(a1); li a2, 0x8877665544332211
3: sd a2, 3(a1)
  IF_TRAPPED(6, a1, 3); ld t1, 0(a1); EQ(t1, 0x5544332211eeeeee); ld t1, 8(a1); EQ(t1, 0xeeeeeeeeee887766); j 96f
95: ld t1, 0(a1); EQ(t1, 0xeeeeeeeeeeeeeeee); ld t1, 8(a1); EQ(t1, 0xeeeeeeeeeeeeeeee)
96:
  RESET(85); la a1, xst; li t0, -0x1111111111111112; sd t0, 0(a1); sd t0, 8(a1); li a2, 0x8877665544332211
3: sd a2, 5(a1)
  IF_TRAPPED(6, a1, 5); ld t1, 0(a1); EQ(t1, 0x332211eeeeeeeeee); ld t1, 8(a1); EQ(t1, 0xeeeeee8877665544); j 96f
95: ld t1, 0(a1); EQ(t1, 0xeeeeeeeeeeeeeeee); ld t1, 8(a1); EQ(t1, 0xeeeeeeeeeeeeeeee)
96:

  /* ---- Sv39, S-mode: VA 0x4000_0000 -> vpa, VA 0x4000_1000 -> vpb (not physically next:
   * vpa's physical successor vdecoy holds other bytes), VA 0x4000_2000 unmapped ---- */
  li t0, (0x80000 << 10) | 0xcf
  la t1, root39
  sd t0, 16(t1)
  MKPTE(t0, l1, 0x01); la t1, root39; sd t0, 8(t1)
  MKPTE(t0, l0, 0x01); la t1, l1; sd t0, 0(t1)
  MKPTE(t0, vpa, 0xc7); la t1, l0; sd t0, 0(t1)
  MKPTE(t0, vpb, 0xc7); la t1, l0; sd t0, 8(t1)
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


  /* ---- LR: cause 4, mtval = address, rd and memory unchanged ---- */
  RESET(103); call refill; la a1, sbuf; addi a3, a1, 1; li a0, SENT; li a2, 0x8877665544332211
3: lr.w a0, (a3)
  EQ(s10, 4); EQR(s11, a3); la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)
  RESET(104); call refill; la a1, sbuf; addi a3, a1, 2; li a0, SENT; li a2, 0x8877665544332211
3: lr.w a0, (a3)
  EQ(s10, 4); EQR(s11, a3); la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)
  RESET(105); call refill; la a1, sbuf; addi a3, a1, 3; li a0, SENT; li a2, 0x8877665544332211
3: lr.w a0, (a3)
  EQ(s10, 4); EQR(s11, a3); la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)
  RESET(106); call refill; la a1, sbuf; addi a3, a1, 6; li a0, SENT; li a2, 0x8877665544332211
3: lr.w a0, (a3)
  EQ(s10, 4); EQR(s11, a3); la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)
  RESET(107); call refill; la a1, sbuf; addi a3, a1, 1; li a0, SENT; li a2, 0x8877665544332211
3: lr.d a0, (a3)
  EQ(s10, 4); EQR(s11, a3); la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)
  RESET(108); call refill; la a1, sbuf; addi a3, a1, 4; li a0, SENT; li a2, 0x8877665544332211
3: lr.d a0, (a3)
  EQ(s10, 4); EQR(s11, a3); la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)
  RESET(109); call refill; la a1, sbuf; addi a3, a1, 7; li a0, SENT; li a2, 0x8877665544332211
3: lr.d a0, (a3)
  EQ(s10, 4); EQR(s11, a3); la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)

  /* ---- AMOs: cause 6 (QEMU 7.2 wrongly reports 4 from here on) ---- */
  RESET(110); call refill; la a1, sbuf; addi a3, a1, 2; li a0, SENT; li a2, 0x8877665544332211
3: amoadd.w a0, a2, (a3)
  EQ(s10, 6); EQR(s11, a3); la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)
  RESET(111); call refill; la a1, sbuf; addi a3, a1, 1; li a0, SENT; li a2, 0x8877665544332211
3: amoswap.w a0, a2, (a3)
  EQ(s10, 6); EQR(s11, a3); la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)
  RESET(112); call refill; la a1, sbuf; addi a3, a1, 3; li a0, SENT; li a2, 0x8877665544332211
3: amoor.w a0, a2, (a3)
  EQ(s10, 6); EQR(s11, a3); la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)
  RESET(113); call refill; la a1, sbuf; addi a3, a1, 6; li a0, SENT; li a2, 0x8877665544332211
3: amoxor.w a0, a2, (a3)
  EQ(s10, 6); EQR(s11, a3); la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)
  RESET(114); call refill; la a1, sbuf; addi a3, a1, 4; li a0, SENT; li a2, 0x8877665544332211
3: amoand.d a0, a2, (a3)
  EQ(s10, 6); EQR(s11, a3); la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)
  RESET(115); call refill; la a1, sbuf; addi a3, a1, 1; li a0, SENT; li a2, 0x8877665544332211
3: amomax.d a0, a2, (a3)
  EQ(s10, 6); EQR(s11, a3); la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)
  RESET(116); call refill; la a1, sbuf; addi a3, a1, 6; li a0, SENT; li a2, 0x8877665544332211
3: amominu.d a0, a2, (a3)
  EQ(s10, 6); EQR(s11, a3); la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)
  RESET(117); call refill; la a1, sbuf; addi a3, a1, 7; li a0, SENT; li a2, 0x8877665544332211
3: amoswap.d a0, a2, (a3)
  EQ(s10, 6); EQR(s11, a3); la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)
  RESET(118); call refill; la a1, sbuf; addi a3, a1, 5; li a0, SENT; li a2, 0x8877665544332211
3: amomaxu.w a0, a2, (a3)
  EQ(s10, 6); EQR(s11, a3); la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)
  RESET(119); call refill; la a1, sbuf; addi a3, a1, 2; li a0, SENT; li a2, 0x8877665544332211
3: amomin.d a0, a2, (a3)
  EQ(s10, 6); EQR(s11, a3); la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)

  /* ---- SC: cause 6 with no reservation, and with one held on the aligned word/dword ---- */
  RESET(120); call refill; la a1, sbuf; addi a3, a1, 2; li a0, SENT; li a2, 0x8877665544332211
3: sc.w a0, a2, (a3)
  EQ(s10, 6); EQR(s11, a3); la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)
  RESET(121); call refill; la a1, sbuf; addi a3, a1, 1; li a0, SENT; li a2, 0x8877665544332211
3: sc.w a0, a2, (a3)
  EQ(s10, 6); EQR(s11, a3); la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)
  RESET(122); call refill; la a1, sbuf; addi a3, a1, 4; li a0, SENT; li a2, 0x8877665544332211
3: sc.d a0, a2, (a3)
  EQ(s10, 6); EQR(s11, a3); la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)
  RESET(123); call refill; la a1, sbuf; addi a3, a1, 3; li a0, SENT; li a2, 0x8877665544332211
3: sc.d a0, a2, (a3)
  EQ(s10, 6); EQR(s11, a3); la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)
  RESET(124); call refill; la a1, sbuf; addi a3, a1, 2; li a0, SENT; li a2, 0x8877665544332211; lr.w t2, (a1)
3: sc.w a0, a2, (a3)
  EQ(s10, 6); EQR(s11, a3); la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)
  RESET(125); call refill; la a1, sbuf; addi a3, a1, 4; li a0, SENT; li a2, 0x8877665544332211; lr.d t2, (a1)
3: sc.d a0, a2, (a3)
  EQ(s10, 6); EQR(s11, a3); la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)
  RESET(126); call refill; la a1, sbuf; addi a3, a1, 3; li a0, SENT; li a2, 0x8877665544332211; lr.w t2, (a1)
3: sc.w a0, a2, (a3)
  EQ(s10, 6); EQR(s11, a3); la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  ld t1, 0(a1); EQ(t1, FILL0); ld t1, 8(a1); EQ(t1, FILL1)
RVTEST_CODE_END

s_part:
  li s7, 0x40000ff8
  RESET(86); li a0, SENT
3: lh a0, 7(s7)
  IF_TRAPPED(4, s7, 7); EQ(a0, 0x0000000000001906); j 96f
95: EQ(a0, SENT)
96:
  RESET(87); li a0, SENT
3: lw a0, 5(s7)
  IF_TRAPPED(4, s7, 5); EQ(a0, 0x000000001906f3e0); j 96f
95: EQ(a0, SENT)
96:
  RESET(88); li a0, SENT
3: lwu a0, 7(s7)
  IF_TRAPPED(4, s7, 7); EQ(a0, 0x000000003f2c1906); j 96f
95: EQ(a0, SENT)
96:
  RESET(89); li a0, SENT
3: ld a0, 3(s7)
  IF_TRAPPED(4, s7, 3); EQ(a0, 0x3f2c1906f3e0cdba); j 96f
95: EQ(a0, SENT)
96:
  RESET(90); li a0, SENT
3: ld a0, 6(s7)
  IF_TRAPPED(4, s7, 6); EQ(a0, 0x7865523f2c1906f3); j 96f
95: EQ(a0, SENT)
96:
  RESET(91); li a2, 0x8877665544332211
3: sw a2, 6(s7)
  IF_TRAPPED(6, s7, 6); ld t1, 0(s7); EQ(t1, 0x2211e0cdbaa79481); ld t1, 8(s7); EQ(t1, 0x9e8b7865523f4433); j 96f
95: ld t1, 0(s7); EQ(t1, 0x06f3e0cdbaa79481); ld t1, 8(s7); EQ(t1, 0x9e8b7865523f2c19)
96:
  li t0, 0x06f3e0cdbaa79481; sd t0, 0(s7); li t0, 0x9e8b7865523f2c19; sd t0, 8(s7)
  RESET(92); li a2, 0x8877665544332211
3: sd a2, 1(s7)
  IF_TRAPPED(6, s7, 1); ld t1, 0(s7); EQ(t1, 0x7766554433221181); ld t1, 8(s7); EQ(t1, 0x9e8b7865523f2c88); j 96f
95: ld t1, 0(s7); EQ(t1, 0x06f3e0cdbaa79481); ld t1, 8(s7); EQ(t1, 0x9e8b7865523f2c19)
96:
  li t0, 0x06f3e0cdbaa79481; sd t0, 0(s7); li t0, 0x9e8b7865523f2c19; sd t0, 8(s7)
  la t1, vdecoy; ld t1, 0(t1); CHECK(93, t1, 0xdddddddddddddddd)
  li s7, 0x40001ff8
  RESET(94); li a0, SENT; li a2, 0x8877665544332211
3: lw a0, 6(s7)
  la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  li t0, 13; bne s10, t0, 92f; EQ(s11, 0x40002000); j 91f
92: EQ(s10, 4); EQ(s11, 0x40001ffe)
91:
  RESET(95); li a0, SENT; li a2, 0x8877665544332211
3: ld a0, 3(s7)
  la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  li t0, 13; bne s10, t0, 92f; EQ(s11, 0x40002000); j 91f
92: EQ(s10, 4); EQ(s11, 0x40001ffb)
91:
  RESET(96); li a0, SENT; li a2, 0x8877665544332211
3: lh a0, 7(s7)
  la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  li t0, 13; bne s10, t0, 92f; EQ(s11, 0x40002000); j 91f
92: EQ(s10, 4); EQ(s11, 0x40001fff)
91:
  RESET(97); li a0, SENT; li a2, 0x8877665544332211
3: ld a0, 1(s7)
  la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  li t0, 13; bne s10, t0, 92f; EQ(s11, 0x40002000); j 91f
92: EQ(s10, 4); EQ(s11, 0x40001ff9)
91:
  RESET(98); li a0, SENT; li a2, 0x8877665544332211
3: sh a2, 7(s7)
  la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  li t0, 15; bne s10, t0, 92f; EQ(s11, 0x40002000); j 91f
92: EQ(s10, 6); EQ(s11, 0x40001fff)
91:
  RESET(99); li a0, SENT; li a2, 0x8877665544332211
3: sw a2, 5(s7)
  la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  li t0, 15; bne s10, t0, 92f; EQ(s11, 0x40002000); j 91f
92: EQ(s10, 6); EQ(s11, 0x40001ffd)
91:
  RESET(100); li a0, SENT; li a2, 0x8877665544332211
3: sw a2, 6(s7)
  la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  li t0, 15; bne s10, t0, 92f; EQ(s11, 0x40002000); j 91f
92: EQ(s10, 6); EQ(s11, 0x40001ffe)
91:
  RESET(101); li a0, SENT; li a2, 0x8877665544332211
3: sd a2, 4(s7)
  la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  li t0, 15; bne s10, t0, 92f; EQ(s11, 0x40002000); j 91f
92: EQ(s10, 6); EQ(s11, 0x40001ffc)
91:
  RESET(102); li a0, SENT; li a2, 0x8877665544332211
3: sd a2, 1(s7)
  la t0, 3b; EQR(s8, t0); EQ(a0, SENT)
  li t0, 15; bne s10, t0, 92f; EQ(s11, 0x40002000); j 91f
92: EQ(s10, 6); EQ(s11, 0x40001ff9)
91:
  ecall

refill:
  la t0, sbuf
  li t1, FILL0
  sd t1, 0(t0)
  li t1, FILL1
  sd t1, 8(t0)
  ret

/* M handler: record mcause/mtval/mepc in s10/s11/s8; skip the access (staying in the trapping
 * mode), except an ecall from S, which returns to M at s9. */
  .align 2
mtrap:
  csrr s10, mcause
  csrr s11, mtval
  csrr s8, mepc
  li t0, 9
  bne s10, t0, 1f
  li t0, MPP_MASK
  csrs mstatus, t0
  csrw mepc, s9
  mret
1:
  addi t0, s8, 4
  csrw mepc, t0
  mret

RVTEST_DATA_BEGIN
  .align 4
ldat:
  .byte 0x81, 0x94, 0xa7, 0xba, 0xcd, 0xe0, 0xf3, 0x06, 0x19, 0x2c, 0x3f, 0x52, 0x65, 0x78, 0x8b, 0x9e, 0xb1, 0xc4, 0xd7, 0xea, 0xfd, 0x10, 0x23, 0x36
  .align 4
sbuf: .dword 0, 0
  .align 12
  .skip 0xff8
xlo:
  .byte 0xba, 0xcd, 0xe0, 0xf3, 0x06, 0x19, 0x2c, 0x3f
  .byte 0x52, 0x65, 0x78, 0x8b, 0x9e, 0xb1, 0xc4, 0xd7
  .align 12
  .skip 0xff8
xst:
  .dword 0, 0, 0, 0
  .align 12
root39: .fill 512, 8, 0
l1: .fill 512, 8, 0
l0: .fill 512, 8, 0
vpa:
  .skip 0xff8
  .byte 0x81, 0x94, 0xa7, 0xba, 0xcd, 0xe0, 0xf3, 0x06
vdecoy:
  .rept 512
  .dword 0xdddddddddddddddd
  .endr
  .align 12
vpb:
  .byte 0x19, 0x2c, 0x3f, 0x52, 0x65, 0x78, 0x8b, 0x9e
  .align 12
RVTEST_DATA_END
