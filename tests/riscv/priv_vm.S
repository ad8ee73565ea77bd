/* Sv39 and Sv48 paging from S-mode: 4 KiB and 1 GiB pages, A/D set by the walker in the PTE,
 * load/store page faults with stval-style mtval, U pages need SUM, read-only pages fault on
 * stores, sfence.vma makes a PTE change visible, non-canonical VAs fault under Sv39 but map
 * under Sv48. */
#include "test.h"

/* dst = PTE pointing at symbol `sym` with `flags`. */
#define MKPTE(dst, sym, flags) la dst, sym; srli dst, dst, 12; slli dst, dst, 10; ori dst, dst, flags
#define STPTE(table, index, sym, flags) MKPTE(t0, sym, flags); la t1, table; sd t0, (index) * 8(t1)
#define HIGH_VA ((1 << 39) | 0x40000000)

RVTEST_CODE_BEGIN
  la t0, mtrap
  csrw mtvec, t0
  li t0, -1
  csrw pmpaddr0, t0
  li t0, 0x1f
  csrw pmpcfg0, t0

  /* Sv39: root[2] = 1 GiB identity leaf over RAM; root[1] -> l1 -> l0 (4 KiB pages at 0x4000_0000). */
  li t0, (0x80000 << 10) | 0xcf
  la t1, root39
  sd t0, 16(t1)
  STPTE(root39, 1, l1, 0x01)
  STPTE(l1, 0, l0, 0x01)
  STPTE(l0, 0, page_a, 0x07)   /* RW, A/D clear */
  STPTE(l0, 2, page_ro, 0x43)  /* R, A */
  STPTE(l0, 3, page_u, 0xd7)   /* RWU, A, D */
  /* Sv48: root48[0] and root48[1] both reuse root39 as their level-2 table. */
  STPTE(root48, 0, root39, 0x01)
  STPTE(root48, 1, root39, 0x01)

  la t0, root39
  srli t0, t0, 12
  li t1, 8 << 60
  or t0, t0, t1
  csrw satp, t0
  sfence.vma
  ENTER(1, s39)
back39:

  la t0, root48
  srli t0, t0, 12
  li t1, 9 << 60
  or t0, t0, t1
  csrw satp, t0
  csrr t1, satp
  sub t1, t1, t0
  CHECK(20, t1, 0)
  sfence.vma
  ENTER(1, s48)
back48:
  csrw satp, zero
RVTEST_CODE_END

s39:
  li t1, 0x40000000
  ld a0, 0(t1)
  CHECK(1, a0, 0x1111)
  la t2, l0
  ld a1, 0(t2)
  andi a1, a1, 0xc0
  CHECK(2, a1, 0x40)
  li a0, 0x5555
  sd a0, 0(t1)
  ld a1, 0(t2)
  andi a1, a1, 0xc0
  CHECK(3, a1, 0xc0)
  la t3, page_a
  ld a0, 0(t3)
  CHECK(4, a0, 0x5555)
  /* unmapped: load page fault, mtval = VA */
  li s10, 0
  li t1, 0x40001008
  ld a0, 0(t1)
  CHECK(5, s10, 13)
  CHECK(6, s11, 0x40001008)
  /* store to a read-only page */
  li s10, 0
  li t1, 0x40002000
  ld a0, 0(t1)
  CHECK(7, a0, 0x3333)
  sd a0, 0(t1)
  CHECK(8, s10, 15)
  /* U page from S: faults without SUM, readable with it */
  li s10, 0
  li t1, 0x40003000
  ld a0, 0(t1)
  CHECK(9, s10, 13)
  li t0, 1 << 18
  csrs sstatus, t0
  li s10, 0
  ld a0, 0(t1)
  CHECK(10, s10, 0)
  CHECK(11, a0, 0x4444)
  li t0, 1 << 18
  csrc sstatus, t0
  /* remap VA 0x4000_0000 to page_b; sfence.vma makes it visible */
  MKPTE(t0, page_b, 0xc7)
  sd t0, 0(t2)
  sfence.vma
  li t1, 0x40000000
  ld a0, 0(t1)
  CHECK(12, a0, 0x2222)
  /* bit 39 set: not canonical for Sv39 */
  li s10, 0
  li t1, HIGH_VA
  ld a0, 0(t1)
  CHECK(13, s10, 13)
  ecall
  j back39

s48:
  li t1, HIGH_VA
  ld a0, 0(t1)
  CHECK(21, a0, 0x2222)
  li t1, 0x40000000
  ld a0, 0(t1)
  CHECK(22, a0, 0x2222)
  li s10, 0
  li t1, (1 << 47) | 0x40000000
  ld a0, 0(t1)
  CHECK(23, s10, 13)
  ecall
  j back48

/* M handler: record mcause/mtval and skip the instruction; an S ecall returns to M. */
  .align 2
mtrap:
  csrr s10, mcause
  csrr s11, mtval
  li t0, 9
  bne s10, t0, 1f
  li t0, MPP_MASK
  csrs mstatus, t0
1: csrr t0, mepc
  addi t0, t0, 4
  csrw mepc, t0
  mret

RVTEST_DATA_BEGIN
  .align 12
root39: .fill 512, 8, 0
l1: .fill 512, 8, 0
l0: .fill 512, 8, 0
root48: .fill 512, 8, 0
page_a: .dword 0x1111
  .align 12
page_b: .dword 0x2222
  .align 12
page_ro: .dword 0x3333
  .align 12
page_u: .dword 0x4444
  .align 12
RVTEST_DATA_END
