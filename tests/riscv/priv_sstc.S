/* Sstc: with menvcfg.STCE, stimecmp drives mip.STIP (time >= stimecmp) and STIP is read-only in
 * mip; without it, stimecmp raises nothing and S-mode may not access it. S-mode also needs
 * mcounteren.TM. A delegated supervisor timer interrupt is taken in S-mode with scause =
 * interrupt | 5, and wfi in S-mode wakes for it. */
#include "test.h"

#define STIP 0x20
/* Case n: mip.STIP reads as `v`. */
#define CHECK_STIP(n, v) csrr a0, mip; andi a0, a0, STIP; CHECK(n, a0, v)
/* Case n: S-mode reads stimecmp into a0 and returns to M with an ecall; the first trap's cause
 * must be `cause` (9: only the ecall, the read was allowed; 2: the read was illegal). */
#define S_READ_STIMECMP(n, cause) li s11, 0; ENTER(1, 1f); 1: csrr a0, stimecmp; ecall; CHECK(n, s11, cause)

RVTEST_CODE_BEGIN
  li t0, -1
  csrw pmpaddr0, t0
  li t0, 0x1f
  csrw pmpcfg0, t0
  la t0, mtrap
  csrw mtvec, t0
  la t0, strap
  csrw stvec, t0
  csrwi mcounteren, 2

  /* STCE clear: a past stimecmp raises nothing; M-mode still accesses it */
  csrw stimecmp, zero
  CHECK_STIP(1, 0)
  /* ... and S-mode may not */
  S_READ_STIMECMP(2, 2)

  /* STCE set: stimecmp 0 <= time raises STIP, which software cannot clear */
  li t0, 1
  slli t0, t0, 63
  csrs menvcfg, t0
  csrr a0, menvcfg
  srli a0, a0, 63
  CHECK(3, a0, 1)
  csrw stimecmp, zero
  CHECK_STIP(4, STIP)
  li t0, STIP
  csrc mip, t0
  CHECK_STIP(5, STIP)
  /* a compare value in the far future clears it */
  li t0, -1
  csrw stimecmp, t0
  CHECK_STIP(6, 0)

  /* S-mode with STCE and mcounteren.TM reads stimecmp */
  S_READ_STIMECMP(7, 9)
  CHECK(8, a0, -1)
  /* without mcounteren.TM it may not */
  csrwi mcounteren, 0
  S_READ_STIMECMP(9, 2)
  csrwi mcounteren, 2

  /* delegated supervisor timer interrupt, armed from S-mode, waited for with wfi */
  li t0, STIP
  csrs mideleg, t0
  csrs mie, t0
  li s10, 0
  ENTER(1, 1f)
1: csrsi sstatus, 2
  rdtime t0
  addi t0, t0, 200
  csrw stimecmp, t0
2: wfi
  beqz s10, 2b
  ecall
  li t0, (1 << 63) | 5
  sub s10, s10, t0
  CHECK(10, s10, 0)
RVTEST_CODE_END

/* M-mode traps (exceptions only): s11 = the first cause, back to M after the instruction. */
  .align 2
mtrap:
  M_TRAP_FIRST_CAUSE_TO_M

/* S-mode traps (the timer interrupt only): s10 = scause, the timer disarmed. */
  .align 2
strap:
  csrr s10, scause
  li t0, -1
  csrw stimecmp, t0
  sret

RVTEST_DATA_BEGIN
RVTEST_DATA_END
