/* -M virt goldfish RTC (0x101000): TIME_LOW (latches TIME_HIGH) then TIME_HIGH give
 * nanoseconds since the Unix epoch.
 *  1 the first reading is a 2020+ date (>= 2020-01-01) and before 2100
 *  2 a later reading is strictly greater (bounded number of re-reads)
 *  3 across ~20 ms of mtime (10 MHz) the RTC advances by 1 ms .. 10 s
 *  4 ... and that reading is still before 2100
 *  5 an alarm 5 ms ahead (IRQ_ENABLED = 1) reads ALARM_STATUS = 1 while armed, and raises
 *    PLIC source 11 -> mip.MEIP within 1 s of mtime (mstatus.MIE = 0)
 *  6 ... not before the alarm time
 *  7 context 0 claims source 11
 *  8 CLEAR_INTERRUPT + complete: mip.MEIP clear, ALARM_STATUS = 0 */
#include "virt.h"

#define NS_2020 1577836800000000000     /* 2020-01-01T00:00:00Z */
#define NS_2100 4102444800000000000     /* 2100-01-01T00:00:00Z */
#define RTC_ALARM_LOW       0x08
#define RTC_ALARM_HIGH      0x0c
#define RTC_IRQ_ENABLED     0x10
#define RTC_ALARM_STATUS    0x18
#define RTC_CLEAR_INTERRUPT 0x1c
#define RTC_IRQ             11
#define MIE_MEIE            (1 << 11)

/* dst = 64-bit RTC nanoseconds; clobbers t0 */
#define RTC_READ(dst) lwu dst, RTC_TIME_LOW(s11); lwu t0, RTC_TIME_HIGH(s11); slli t0, t0, 32; or dst, dst, t0

VIRT_BEGIN
        li s11, RTC_BASE
        TEST(1)
        RTC_READ(s0)
        li t1, NS_2020
        bltu s0, t1, fail
        li t1, NS_2100
        bgeu s0, t1, fail

        TEST(2)
        li a2, 1000000
10:     RTC_READ(s1)
        bltu s1, s0, fail               /* went backwards */
        bne s1, s0, 11f
        addi a2, a2, -1
        bnez a2, 10b
        j fail
11:
        TEST(3)
        li t1, CLINT_BASE + CLINT_MTIME
        ld s2, 0(t1)
        li t0, 200000                   /* 20 ms at 10 MHz */
        add s2, s2, t0
20:     ld t0, 0(t1)
        bltu t0, s2, 20b
        RTC_READ(s3)
        sub a1, s3, s1
        li t1, 1000000                  /* >= 1 ms */
        bltu a1, t1, fail
        li t1, 10000000000              /* < 10 s */
        bgeu a1, t1, fail
        TEST(4)
        li t1, NS_2100
        bgeu s3, t1, fail

        TEST(5)
        W32I(PLIC_BASE + PLIC_PRIORITY(RTC_IRQ), 1)
        W32I(PLIC_BASE + PLIC_THRESHOLD(0), 0)
        W32I(PLIC_BASE + PLIC_ENABLE(0), 1 << RTC_IRQ)
        li t0, MIE_MEIE
        csrw mie, t0
        RTC_READ(s4)
        li t0, 5000000                  /* 5 ms */
        add s4, s4, t0
        li t0, 1
        sw t0, RTC_IRQ_ENABLED(s11)
        srli t0, s4, 32
        sw t0, RTC_ALARM_HIGH(s11)
        sw s4, RTC_ALARM_LOW(s11)       /* the low half arms it */
        lwu a1, RTC_ALARM_STATUS(s11)
        FAIL_IF_NE(a1, 1)
        li t1, CLINT_BASE + CLINT_MTIME
        ld s5, 0(t1)
        li t0, 10000000                 /* 1 s at 10 MHz */
        add s5, s5, t0
30:     csrr a1, mip
        li t0, MIP_MEIP
        and a1, a1, t0
        bnez a1, 31f
        ld t0, 0(t1)
        bgeu t0, s5, fail               /* a spin, not wfi: nothing else would wake it */
        j 30b
31:     TEST(6)
        RTC_READ(s6)
        bltu s6, s4, fail
        TEST(7)
        R32(a1, PLIC_BASE + PLIC_CLAIM(0))
        FAIL_IF_NE(a1, RTC_IRQ)
        TEST(8)
        li t0, 1
        sw t0, RTC_CLEAR_INTERRUPT(s11)
        W32(PLIC_BASE + PLIC_CLAIM(0), a1)
        li a2, 1000                     /* let the line settle */
32:     addi a2, a2, -1
        bnez a2, 32b
        csrr a1, mip
        li t0, MIP_MEIP
        and a1, a1, t0
        bnez a1, fail
        lwu a1, RTC_ALARM_STATUS(s11)
        FAIL_IF_NE(a1, 0)
        csrw mie, zero

        PUTS(msg_ok)
        j pass
VIRT_END

        .data
msg_ok: .asciz "virt_rtc: ok\n"
