/* Interrupts and counters: CLINT msip raises MSIP (taken only with mie.MSIE and mstatus.MIE,
 * mcause = interrupt bit | 3, vectored mtvec goes to base + 4*cause), mtimecmp raises MTIP,
 * wfi wakes on a pending enabled interrupt even with MIE clear, and mcounteren/scounteren
 * gate cycle/instret from S and U. */
#include "test.h"

#define CLINT_MSIP 0x2000000
#define CLINT_MTIMECMP 0x2004000
#define CLINT_MTIME 0x200bff8

RVTEST_CODE_BEGIN
  li t0, -1
  csrw pmpaddr0, t0
  li t0, 0x1f
  csrw pmpcfg0, t0
  la t0, vec
  ori t0, t0, 1
  csrw mtvec, t0

  /* software interrupt pending but masked: nothing happens */
  li s10, 0
  li t1, CLINT_MSIP
  li t0, 1
  sw t0, 0(t1)
  csrr a0, mip
  andi a0, a0, 8
  CHECK(1, a0, 8)
  CHECK(2, s10, 0)
  li t0, 8
  csrs mie, t0
  nop
  CHECK(3, s10, 0)
  /* enable globally: taken at once through vector entry 3 */
  csrsi mstatus, 8
  nop
  nop
  csrci mstatus, 8
  li t0, (1 << 63) | 3
  sub s10, s10, t0
  CHECK(4, s10, 0)
  li t0, 8
  csrc mie, t0

  /* timer: mtimecmp in the past raises MTIP; wfi returns with MIE clear */
  li t1, CLINT_MTIME
  ld t2, 0(t1)
  addi t2, t2, 100
  li t1, CLINT_MTIMECMP
  sd t2, 0(t1)
  li t0, 0x80
  csrs mie, t0
  li s10, 0
1: wfi
  csrr a0, mip
  andi a0, a0, 0x80
  beqz a0, 1b
  CHECK(5, s10, 0)
  csrsi mstatus, 8
  nop
  csrci mstatus, 8
  li t0, (1 << 63) | 7
  sub s10, s10, t0
  CHECK(6, s10, 0)
  li t0, 0x80
  csrc mie, t0

  /* counters: S may read cycle only with mcounteren.CY, U also needs scounteren.CY */
  csrw mcounteren, zero
  csrw scounteren, zero
  li TESTNUM, 7
  li s11, 0
  ENTER(1, 1f)
1: rdcycle a0
  ecall
  CHECK(7, s11, 2)
  li t0, 5
  csrw mcounteren, t0
  li s11, 0
  ENTER(1, 1f)
1: rdinstret a0
  ecall
  CHECK(8, s11, 9)
  li s11, 0
  ENTER(0, 1f)
1: rdinstret a0
  ecall
  CHECK(9, s11, 2)
  csrwi scounteren, 4
  li s11, 0
  ENTER(0, 1f)
1: rdinstret a0
  ecall
  CHECK(10, s11, 8)
  /* minstret is writable */
  li t0, 1000000
  csrw minstret, t0
  csrr a0, minstret
  sub a0, a0, t0
  li t1, 1 << 30
  sltu a0, a0, t1
  CHECK(11, a0, 1)
RVTEST_CODE_END

/* Vector table: exceptions at +0 (s11 = first exception cause, back to M after the insn),
 * interrupts at +4*cause (s10 = mcause, then the source is cleared). */
  .align 6
vec:
  j exc
  j fail
  j fail
  j msi
  j fail
  j fail
  j fail
  j mti
  j fail
  j fail
  j fail
  j fail
exc:
  M_TRAP_FIRST_CAUSE_TO_M
msi:
  csrr s10, mcause
  li t0, CLINT_MSIP
  sw zero, 0(t0)
  mret
mti:
  csrr s10, mcause
  li t0, CLINT_MTIMECMP
  li t1, -1
  sd t1, 0(t0)
  mret

RVTEST_DATA_BEGIN
RVTEST_DATA_END
