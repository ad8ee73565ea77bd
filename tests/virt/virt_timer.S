/* -M virt CLINT (0x2000000): mtime, mtimecmp and msip.
 *  1 mtime (MMIO, 64-bit) advances; the `time` CSR follows it
 *  2 mtimecmp = -1: mip.MTIP clear; mtimecmp read-back
 *  3 mtimecmp in the past (mstatus.MIE = 0): mip.MTIP set without a trap
 *  4 mtimecmp = -1 clears mip.MTIP again
 *  5 mtimecmp = mtime + 1000, mie.MTIE + mstatus.MIE, wfi: the trap comes (bounded wait)
 *  6 ... with mcause = 0x8000000000000007     7 ... and not before mtime >= mtimecmp
 *  8 the handler's mtimecmp = -1 cleared mip.MTIP
 *  9 msip = 1 (MIE off): msip reads 1 and mip.MSIP set
 * 10 mie.MSIE + mstatus.MIE: trap with mcause = 0x8000000000000003
 * 11 the handler's msip = 0 cleared mip.MSIP and msip reads 0 */
#include "virt.h"

#define MTIME    (CLINT_BASE + CLINT_MTIME)
#define MTIMECMP (CLINT_BASE + CLINT_MTIMECMP)
#define MSIP     (CLINT_BASE + CLINT_MSIP)

#define MIP_BIT(bit) li a1, 1000; 2: addi a1, a1, -1; bnez a1, 2b; csrr a1, mip; li t0, bit; and a1, a1, t0
#define WAIT_MIP(bit) li a2, 1000000; 2: csrr a1, mip; li t0, bit; and a1, a1, t0; bnez a1, 3f; addi a2, a2, -1; bnez a2, 2b; 3:

VIRT_BEGIN
        li s10, MTIME
        li s11, MTIMECMP
        TEST(1)
        ld s0, 0(s10)
        li a2, 1000000
10:     ld s1, 0(s10)
        bne s1, s0, 11f
        addi a2, a2, -1
        bnez a2, 10b
        j fail
11:     bltu s1, s0, fail               /* went backwards */
        csrr a1, time
        bltu a1, s1, fail
        ld a2, 0(s10)
        bltu a2, a1, fail

        TEST(2)
        li t0, -1
        sd t0, 0(s11)
        ld a1, 0(s11)
        FAIL_IF_NE(a1, -1)
        MIP_BIT(MIP_MTIP)
        FAIL_IF_NE(a1, 0)

        TEST(3)
        li t0, MIP_MTIP
        csrs mie, t0                    /* enabled, but mstatus.MIE = 0 */
        ld t0, 0(s10)
        sd t0, 0(s11)
        WAIT_MIP(MIP_MTIP)
        FAIL_IF_EQ(a1, 0)

        TEST(4)
        li t0, -1
        sd t0, 0(s11)
        MIP_BIT(MIP_MTIP)
        FAIL_IF_NE(a1, 0)

        TEST(5)
        la t0, timer_handler
        csrw mtvec, t0
        li s2, 0                        /* mcause seen by the handler */
        li s3, 0                        /* mtime seen by the handler */
        ld s4, 0(s10)
        addi s4, s4, 1000
        sd s4, 0(s11)
        li s5, 1000000                  /* bound on wakeups */
        csrsi mstatus, MSTATUS_MIE
20:     bnez s2, 21f
        addi s5, s5, -1
        beqz s5, fail
        wfi
        j 20b
21:     csrci mstatus, MSTATUS_MIE
        TEST(6)
        li t0, 0x8000000000000007
        bne s2, t0, fail
        TEST(7)
        bltu s3, s4, fail
        TEST(8)
        MIP_BIT(MIP_MTIP)
        FAIL_IF_NE(a1, 0)

        TEST(9)
        li t0, MIP_MTIP
        csrc mie, t0
        li t0, MIP_MSIP
        csrs mie, t0
        li s9, MSIP
        li t0, 1
        sw t0, 0(s9)
        lwu a1, 0(s9)
        FAIL_IF_NE(a1, 1)
        WAIT_MIP(MIP_MSIP)
        FAIL_IF_EQ(a1, 0)

        TEST(10)
        la t0, soft_handler
        csrw mtvec, t0
        li s2, 0
        csrsi mstatus, MSTATUS_MIE
        li s5, 1000000
30:     bnez s2, 31f
        addi s5, s5, -1
        bnez s5, 30b
        j fail
31:     csrci mstatus, MSTATUS_MIE
        li t0, 0x8000000000000003
        bne s2, t0, fail
        TEST(11)
        MIP_BIT(MIP_MSIP)
        FAIL_IF_NE(a1, 0)
        lwu a1, 0(s9)
        FAIL_IF_NE(a1, 0)

        PUTS(msg_ok)
        j pass

        .align 2
timer_handler:
        csrr s2, mcause
        ld s3, 0(s10)
        li t0, -1
        sd t0, 0(s11)                   /* clears MTIP */
        mret

        .align 2
soft_handler:
        csrr s2, mcause
        sw zero, 0(s9)                  /* clears MSIP */
        mret
VIRT_END

        .data
msg_ok: .asciz "virt_timer: ok\n"
