/* -M virt -smp 4: harts, atomics across harts, IPIs through the CLINT, PLIC contexts per hart.
 * Every hart starts here with a0 = its hart id; hart 0 checks and reports, the others work and
 * then park in wfi. Counting loops put a delay loop between LR and SC, so an emulator that runs
 * harts in turn switches harts between the two: the other harts' increments must then make the
 * SC fail, or counts are lost.
 *  1 a0 == mhartid on every hart (a hart that disagrees fails with this number)
 *  2 all 4 harts arrive, with 4 distinct hart ids (amoor bitmap == 0xf)
 *  3 LR/SC counter == 4 * COUNT after every hart incremented it COUNT times
 *  4 AMOADD counter == 4 * COUNT
 *  5 hart 0 sends an IPI (CLINT msip) to harts 1..3: each wakes from wfi with mip.MSIP, clears
 *    its own msip and sees mip.MSIP clear again (else it stores a failure flag)
 *  6 hart 0's own mip.MSIP stayed clear
 *  7 the UART interrupt enabled only in PLIC context 2 (hart 1, M-mode) reaches hart 1, which
 *    claims source 10 from context 2
 *  8 hart 0 (context 0, source not enabled) never saw mip.MEIP
 *  9 no secondary hart reported a failure */
#include "virt.h"

#define NHARTS 4
#define COUNT 5000
/* waits are bounded by time, not iterations: QEMU runs the 4 harts on however many host cores
 * are free, and contended LR/SC is slow there */
#define WAIT_TICKS 50000000 /* 5 s of mtime at 10 MHz */
#define SPIN 50000000
#define MIE_MSIE (1 << 3)
#define MIE_MEIE (1 << 11)

/* wait until the word at `label` equals `val`, at most WAIT_TICKS; clobbers t0, t1, t2, a6, a7 */
#define WAIT_EQ(label, val) \
        li a6, CLINT_BASE + CLINT_MTIME; ld t2, 0(a6); li t0, WAIT_TICKS; add t2, t2, t0; \
    8:  la t1, label; lw t0, 0(t1); li a7, val; beq t0, a7, 9f; ld t0, 0(a6); bltu t0, t2, 8b; j fail; 9:

VIRT_BEGIN
        TEST(1)
        csrr s0, mhartid
        bne a0, s0, hart_fail
        li t0, 1
        sll t0, t0, s0
        la t1, hart_bitmap
        amoor.w zero, t0, (t1)
        la t1, arrived
        li t0, 1
        amoadd.w zero, t0, (t1)
        bnez s0, secondary

        /* ---- hart 0 ---- */
        TEST(2)
        WAIT_EQ(arrived, NHARTS)
        la t1, hart_bitmap
        lw a1, 0(t1)
        FAIL_IF_NE(a1, 0xf)
        la t1, go
        li t0, 1
        sw t0, 0(t1)
        call count
        TEST(3)
        WAIT_EQ(counted, NHARTS)
        la t1, lrsc_counter
        lw a1, 0(t1)
        FAIL_IF_NE(a1, NHARTS * COUNT)
        TEST(4)
        la t1, amo_counter
        lw a1, 0(t1)
        FAIL_IF_NE(a1, NHARTS * COUNT)

        TEST(5)
        li s1, 1
        li s2, CLINT_BASE + CLINT_MSIP + 4
1:      li t0, 1
        sw t0, 0(s2)
        addi s2, s2, 4
        addi s1, s1, 1
        li t0, NHARTS
        bltu s1, t0, 1b
        WAIT_EQ(ipi_seen, NHARTS - 1)
        TEST(6)
        csrr t0, mip
        andi t0, t0, MIP_MSIP
        bnez t0, fail

        TEST(7)
        W32I(PLIC_BASE + PLIC_PRIORITY(UART_IRQ), 1)
        W32I(PLIC_BASE + PLIC_ENABLE(0), 0)
        W32I(PLIC_BASE + PLIC_THRESHOLD(2), 0)
        W32I(PLIC_BASE + PLIC_ENABLE(2), 1 << UART_IRQ)
        /* THR is empty: enabling the THRE interrupt raises the UART's line at once */
        W8I(UART_BASE + UART_IER, IER_ETBEI)
        WAIT_EQ(hart1_claimed, UART_IRQ)
        TEST(8)
        csrr t0, mip
        li t1, MIP_MEIP
        and t0, t0, t1
        bnez t0, fail
        TEST(9)
        la t1, secondary_failed
        lw t0, 0(t1)
        bnez t0, fail
        PUTS(ok_msg)
        j pass

/* every hart: COUNT increments of lrsc_counter (LR and SC blocks apart) and of
 * amo_counter, then counted += 1; clobbers t0, t1, t2, a1, a2 */
count:
        li a1, COUNT
        la a2, lrsc_counter
1:      lr.w t0, (a2)
        addi t0, t0, 1
        /* widen the LR..SC window over several blocks, so that harts taking turns switch
         * inside it most of the time */
        li t2, 16
2:      addi t2, t2, -1
        bnez t2, 2b
        sc.w t1, t0, (a2)
        bnez t1, 1b
        la t1, amo_counter
        li t0, 1
        amoadd.w zero, t0, (t1)
        addi a1, a1, -1
        bnez a1, 1b
        la t1, counted
        li t0, 1
        amoadd.w zero, t0, (t1)
        ret

/* ---- harts 1..3 (no stack: they share sp with hart 0) ---- */
secondary:
        WAIT_EQ(go, 1)
        call count
        /* wait for hart 0's IPI with mstatus.MIE = 0: wfi wakes on a pending enabled interrupt */
        li t0, MIE_MSIE
        csrs mie, t0
        li t2, SPIN
1:      csrr t0, mip
        andi t0, t0, MIP_MSIP
        bnez t0, 2f
        addi t2, t2, -1
        beqz t2, secondary_fail
        wfi
        j 1b
2:      li t1, CLINT_BASE + CLINT_MSIP
        slli t0, s0, 2
        add t1, t1, t0
        sw zero, 0(t1)
        csrr t0, mip
        andi t0, t0, MIP_MSIP
        bnez t0, secondary_fail
        li t0, MIE_MSIE
        csrc mie, t0
        la t1, ipi_seen
        li t0, 1
        amoadd.w zero, t0, (t1)
        li t0, 1
        bne s0, t0, park

        /* hart 1: the UART interrupt through PLIC context 2 */
        li t0, MIE_MEIE
        csrs mie, t0
        li t2, SPIN
3:      csrr t0, mip
        li t1, MIP_MEIP
        and t0, t0, t1
        bnez t0, 4f
        addi t2, t2, -1
        beqz t2, secondary_fail
        wfi
        j 3b
4:      R32(a1, PLIC_BASE + PLIC_CLAIM(2))
        W8I(UART_BASE + UART_IER, 0)
        W32(PLIC_BASE + PLIC_CLAIM(2), a1)
        la t1, hart1_claimed
        sw a1, 0(t1)
park:
        csrw mie, zero
1:      wfi
        j 1b

secondary_fail:
        la t1, secondary_failed
        li t0, 1
        sw t0, 0(t1)
        j park

/* a0 != mhartid: report as subtest 1 (harts other than 0 cannot print) */
hart_fail:
        li TESTNUM, 1
        j fail

VIRT_END

        .data
        .align 3
arrived:        .word 0
hart_bitmap:    .word 0
go:             .word 0
counted:        .word 0
lrsc_counter:   .word 0
amo_counter:    .word 0
ipi_seen:       .word 0
hart1_claimed:  .word 0
secondary_failed: .word 0
ok_msg: .asciz "virt_smp: ok\n"
