/* -M virt goldfish RTC (0x101000): TIME_LOW (latches TIME_HIGH) then TIME_HIGH give
 * nanoseconds since the Unix epoch.
 *  1 the first reading is a 2020+ date (>= 2020-01-01) and before 2100
 *  2 a later reading is strictly greater (bounded number of re-reads)
 *  3 across ~20 ms of mtime (10 MHz) the RTC advances by 1 ms .. 10 s
 *  4 ... and that reading is still before 2100 */
#include "virt.h"

#define NS_2020 1577836800000000000     /* 2020-01-01T00:00:00Z */
#define NS_2100 4102444800000000000     /* 2100-01-01T00:00:00Z */

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

        PUTS(msg_ok)
        j pass
VIRT_END

        .data
msg_ok: .asciz "virt_rtc: ok\n"
