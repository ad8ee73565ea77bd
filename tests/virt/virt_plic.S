/* -M virt PLIC (0xc000000) claim/complete semantics, driven by the only source software
 * can raise on virt: the UART's THRE interrupt (source 10; raised by IER.ETBEI while THR
 * is empty, dropped by reading IIR or clearing IER). Interrupts stay globally off
 * (mstatus.MIE = 0, mie.MEIE = 1): the test watches mip.MEIP/SEIP instead of trapping.
 *  1 pending bit 10 set once the UART raises its line
 *  2 threshold == priority masks: no MEIP, claim returns 0        3 ... pending survives it
 *  4 threshold > priority masks: no MEIP, claim returns 0
 *  5 priority 0 never interrupts: no MEIP, claim returns 0
 *  6 enable bit clear masks: no MEIP, claim returns 0             7 ... pending survives it
 *  8 enabled with priority > threshold: MEIP set (after a threshold write, for QEMU 7.2;
 *    an enable write alone must suffice too: virt_plic_enable.S)
 *  9 claim returns 10    10 claim clears pending bit 10    11 MEIP drops after the claim
 * 12 a second claim returns 0
 * 13 re-raised while claimed: no MEIP, claim returns 0
 * 14 complete re-arms: MEIP set again, claim returns 10
 * 15 line dropped before complete: nothing after the complete (no MEIP, claim 0)
 * 16 ctx1 (hart0 S-mode) routing: enabled only in ctx1 -> mip.SEIP, not MEIP; ctx0 claim 0
 * 17 ctx1 claim returns 10     18 ctx1 complete; SEIP drops once the line is dropped
 * 19 priority/threshold/enable registers read back what was written */
#include "virt.h"

#define PRIO   (PLIC_BASE + PLIC_PRIORITY(UART_IRQ))
#define PEND   (PLIC_BASE + PLIC_PENDING)
#define EN0    (PLIC_BASE + PLIC_ENABLE(0))
#define EN1    (PLIC_BASE + PLIC_ENABLE(1))
#define THR0   (PLIC_BASE + PLIC_THRESHOLD(0))
#define THR1   (PLIC_BASE + PLIC_THRESHOLD(1))
#define CLAIM0 (PLIC_BASE + PLIC_CLAIM(0))
#define CLAIM1 (PLIC_BASE + PLIC_CLAIM(1))
#define MIP_SEIP (1 << 9)

/* a1 = mip & bit, after giving the interrupt path a moment to settle */
#define MIP_BIT(bit) li a1, 1000; 2: addi a1, a1, -1; bnez a1, 2b; csrr a1, mip; li t0, bit; and a1, a1, t0
/* spin (bounded) until mip & bit != 0; a1 = mip & bit */
#define WAIT_MIP(bit) li a2, 100000; 2: csrr a1, mip; li t0, bit; and a1, a1, t0; bnez a1, 3f; addi a2, a2, -1; bnez a2, 2b; 3:
#define PEND10(dst) R32(dst, PEND); srli dst, dst, UART_IRQ; andi dst, dst, 1

#define UART_RAISE li t1, UART_BASE; li t0, IER_ETBEI; sb t0, UART_IER(t1)
#define UART_DROP  li t1, UART_BASE; sb zero, UART_IER(t1); lbu t0, UART_IIR(t1)

VIRT_BEGIN
        li t0, MIP_MEIP
        csrs mie, t0                    /* MEIP visible, never taken: mstatus.MIE = 0 */
        UART_DROP
        W32I(EN1, 0)
        W32I(THR1, 7)
        W32I(PRIO, 3)
        W32I(EN0, 1 << UART_IRQ)
        W32I(THR0, 3)
        /* drain anything left over from reset */
        R32(a1, CLAIM0)
        beqz a1, 5f
        W32(CLAIM0, a1)
5:
        TEST(1)
        UART_RAISE
        li a2, 100000
6:      PEND10(a1)
        bnez a1, 7f
        addi a2, a2, -1
        bnez a2, 6b
7:      FAIL_IF_NE(a1, 1)

        TEST(2)                         /* threshold 3 == priority 3 */
        MIP_BIT(MIP_MEIP)
        FAIL_IF_NE(a1, 0)
        R32(a1, CLAIM0)
        FAIL_IF_NE(a1, 0)
        TEST(3)
        PEND10(a1)
        FAIL_IF_NE(a1, 1)

        TEST(4)                         /* threshold 4 > priority 3 */
        W32I(THR0, 4)
        MIP_BIT(MIP_MEIP)
        FAIL_IF_NE(a1, 0)
        R32(a1, CLAIM0)
        FAIL_IF_NE(a1, 0)

        TEST(5)                         /* priority 0 = never, even with threshold 0 */
        W32I(PRIO, 0)
        W32I(THR0, 0)
        MIP_BIT(MIP_MEIP)
        FAIL_IF_NE(a1, 0)
        R32(a1, CLAIM0)
        FAIL_IF_NE(a1, 0)

        TEST(6)                         /* priority 3 > threshold 0 but not enabled */
        W32I(EN0, 0)
        W32I(PRIO, 3)
        MIP_BIT(MIP_MEIP)
        FAIL_IF_NE(a1, 0)
        R32(a1, CLAIM0)
        FAIL_IF_NE(a1, 0)
        TEST(7)
        PEND10(a1)
        FAIL_IF_NE(a1, 1)

        TEST(19)                        /* register read-back */
        R32(a1, PRIO)
        FAIL_IF_NE(a1, 3)
        R32(a1, THR0)
        FAIL_IF_NE(a1, 0)
        R32(a1, THR1)
        FAIL_IF_NE(a1, 7)
        R32(a1, EN0)
        FAIL_IF_NE(a1, 0)

        TEST(8)                         /* enable: delivered */
        W32I(EN0, 1 << UART_IRQ)
        R32(a1, EN0)
        FAIL_IF_NE(a1, 1 << UART_IRQ)
        W32I(THR0, 0)                   /* QEMU 7.2 re-evaluates only on this write: see virt_plic_enable.S */
        WAIT_MIP(MIP_MEIP)
        FAIL_IF_EQ(a1, 0)

        TEST(9)
        R32(s0, CLAIM0)
        FAIL_IF_NE(s0, UART_IRQ)
        TEST(10)
        PEND10(a1)
        FAIL_IF_NE(a1, 0)
        TEST(11)
        MIP_BIT(MIP_MEIP)
        FAIL_IF_NE(a1, 0)
        TEST(12)
        R32(a1, CLAIM0)
        FAIL_IF_NE(a1, 0)

        TEST(13)                        /* raise again while claimed: held back */
        UART_DROP
        UART_RAISE
        MIP_BIT(MIP_MEIP)
        FAIL_IF_NE(a1, 0)
        R32(a1, CLAIM0)
        FAIL_IF_NE(a1, 0)

        TEST(14)                        /* complete re-arms: the raised line is delivered */
        W32(CLAIM0, s0)
        WAIT_MIP(MIP_MEIP)
        FAIL_IF_EQ(a1, 0)
        R32(s0, CLAIM0)
        FAIL_IF_NE(s0, UART_IRQ)

        TEST(15)                        /* line dropped while claimed: nothing more */
        UART_DROP
        W32(CLAIM0, s0)
        MIP_BIT(MIP_MEIP)
        FAIL_IF_NE(a1, 0)
        R32(a1, CLAIM0)
        FAIL_IF_NE(a1, 0)

        TEST(16)                        /* ctx1 = hart0 S-mode external interrupt */
        W32I(EN0, 0)
        W32I(THR1, 0)
        W32I(EN1, 1 << UART_IRQ)
        UART_RAISE
        WAIT_MIP(MIP_SEIP)
        FAIL_IF_EQ(a1, 0)
        MIP_BIT(MIP_MEIP)
        FAIL_IF_NE(a1, 0)
        R32(a1, CLAIM0)
        FAIL_IF_NE(a1, 0)
        TEST(17)
        R32(s0, CLAIM1)
        FAIL_IF_NE(s0, UART_IRQ)
        TEST(18)
        UART_DROP
        W32(CLAIM1, s0)
        MIP_BIT(MIP_SEIP)
        FAIL_IF_NE(a1, 0)
        R32(a1, CLAIM1)
        FAIL_IF_NE(a1, 0)

        PUTS(msg_ok)
        j pass
VIRT_END

        .data
msg_ok: .asciz "virt_plic: ok\n"
