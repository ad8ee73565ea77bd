/* -M virt PLIC: a write to an enable register alone re-evaluates the interrupt outputs.
 * Source 10 (UART THRE) pending with priority 1 > threshold 0 but disabled in ctx0:
 *  1 the pending bit is set, mip.MEIP clear
 *  2 writing enable bit 10 in ctx0 (and nothing else) raises mip.MEIP
 *  3 clearing it again (and nothing else) drops mip.MEIP
 *  4 re-enabled: claim returns 10; after dropping the line and completing, claim 0
 * QEMU 7.2 fails 2: its sifive_plic stores enable writes without updating the outputs. */
#include "virt.h"

#define PRIO   (PLIC_BASE + PLIC_PRIORITY(UART_IRQ))
#define PEND   (PLIC_BASE + PLIC_PENDING)
#define EN0    (PLIC_BASE + PLIC_ENABLE(0))
#define THR0   (PLIC_BASE + PLIC_THRESHOLD(0))
#define CLAIM0 (PLIC_BASE + PLIC_CLAIM(0))

#define MIP_BIT(bit) li a1, 1000; 2: addi a1, a1, -1; bnez a1, 2b; csrr a1, mip; li t0, bit; and a1, a1, t0
#define WAIT_MIP(bit) li a2, 100000; 2: csrr a1, mip; li t0, bit; and a1, a1, t0; bnez a1, 3f; addi a2, a2, -1; bnez a2, 2b; 3:

VIRT_BEGIN
        li t0, MIP_MEIP
        csrs mie, t0                    /* MEIP visible, never taken: mstatus.MIE = 0 */
        li s11, UART_BASE
        sb zero, UART_IER(s11)
        W32I(PLIC_BASE + PLIC_ENABLE(1), 0)
        W32I(EN0, 0)
        W32I(PRIO, 1)
        W32I(THR0, 0)

        TEST(1)
        li t0, IER_ETBEI
        sb t0, UART_IER(s11)            /* THR empty: source 10 raised */
        li a2, 100000
5:      R32(a1, PEND)
        srli a1, a1, UART_IRQ
        andi a1, a1, 1
        bnez a1, 6f
        addi a2, a2, -1
        bnez a2, 5b
6:      FAIL_IF_NE(a1, 1)
        MIP_BIT(MIP_MEIP)
        FAIL_IF_NE(a1, 0)

        TEST(2)
        W32I(EN0, 1 << UART_IRQ)
        WAIT_MIP(MIP_MEIP)
        FAIL_IF_EQ(a1, 0)

        TEST(3)
        W32I(EN0, 0)
        MIP_BIT(MIP_MEIP)
        FAIL_IF_NE(a1, 0)

        TEST(4)
        W32I(EN0, 1 << UART_IRQ)
        R32(s0, CLAIM0)
        FAIL_IF_NE(s0, UART_IRQ)
        sb zero, UART_IER(s11)
        lbu t0, UART_IIR(s11)
        W32(CLAIM0, s0)
        R32(a1, CLAIM0)
        FAIL_IF_NE(a1, 0)

        PUTS(msg_ok)
        j pass
VIRT_END

        .data
msg_ok: .asciz "virt_plic_enable: ok\n"
