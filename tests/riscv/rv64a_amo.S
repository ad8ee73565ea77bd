/* RV64A atomic memory operations: every amo*.w and amo*.d (swap add xor and or min max minu maxu)
 * returning the old value (sign-extended from 32 bits for .w, even for minu/maxu), the new memory
 * value (a .w op leaves the neighbouring word intact), signed vs unsigned min/max, wrap-around,
 * rd = x0, rd == rs2, and every aq/rl ordering-bit combination. */
#include "test.h"

/* Case n checks the returned old value, case m the whole doubleword after the AMO, which
 * starts as all ones so a .w op that writes 64 bits is caught; `stinst` stores the initial value. */
#define TEST_AMO(n, m, inst, stinst, old, new, init, operand)         \
    TEST_CASE(n, RES, old,                                            \
        la a3, amo_area; li t0, -1; sd t0, 0(a3); sd t0, 8(a3);       \
        li S1, XLEN_MASK(init); stinst S1, 0(a3);                     \
        li S2, XLEN_MASK(operand); inst RES, S2, (a3))                \
    TEST_CASE(m, S1, new, ld S1, 0(a3))

RVTEST_CODE_BEGIN

  /* amoswap.d */
  TEST_AMO(1, 2, amoswap.d, sd, 0x0000000000000005, 0x0000000000000003, 0x0000000000000005, 0x0000000000000003)
  TEST_AMO(3, 4, amoswap.d.aq, sd, 0xffffffffffffffff, 0x0000000000000001, 0xffffffffffffffff, 0x0000000000000001)
  TEST_AMO(5, 6, amoswap.d.rl, sd, 0x7fffffffffffffff, 0x0000000000000001, 0x7fffffffffffffff, 0x0000000000000001)
  TEST_AMO(7, 8, amoswap.d.aqrl, sd, 0x8000000000000000, 0x7fffffffffffffff, 0x8000000000000000, 0x7fffffffffffffff)
  TEST_AMO(9, 10, amoswap.d, sd, 0x0123456789abcdef, 0xfedcba9876543210, 0x0123456789abcdef, 0xfedcba9876543210)
  /* amoadd.d */
  TEST_AMO(11, 12, amoadd.d, sd, 0x0000000000000005, 0x0000000000000008, 0x0000000000000005, 0x0000000000000003)
  TEST_AMO(13, 14, amoadd.d.aq, sd, 0xffffffffffffffff, 0x0000000000000000, 0xffffffffffffffff, 0x0000000000000001)
  TEST_AMO(15, 16, amoadd.d.rl, sd, 0x7fffffffffffffff, 0x8000000000000000, 0x7fffffffffffffff, 0x0000000000000001)
  TEST_AMO(17, 18, amoadd.d.aqrl, sd, 0x8000000000000000, 0xffffffffffffffff, 0x8000000000000000, 0x7fffffffffffffff)
  TEST_AMO(19, 20, amoadd.d, sd, 0x0123456789abcdef, 0xffffffffffffffff, 0x0123456789abcdef, 0xfedcba9876543210)
  /* amoxor.d */
  TEST_AMO(21, 22, amoxor.d, sd, 0x0000000000000005, 0x0000000000000006, 0x0000000000000005, 0x0000000000000003)
  TEST_AMO(23, 24, amoxor.d.aq, sd, 0xffffffffffffffff, 0xfffffffffffffffe, 0xffffffffffffffff, 0x0000000000000001)
  TEST_AMO(25, 26, amoxor.d.rl, sd, 0x7fffffffffffffff, 0x7ffffffffffffffe, 0x7fffffffffffffff, 0x0000000000000001)
  TEST_AMO(27, 28, amoxor.d.aqrl, sd, 0x8000000000000000, 0xffffffffffffffff, 0x8000000000000000, 0x7fffffffffffffff)
  TEST_AMO(29, 30, amoxor.d, sd, 0x0123456789abcdef, 0xffffffffffffffff, 0x0123456789abcdef, 0xfedcba9876543210)
  /* amoand.d */
  TEST_AMO(31, 32, amoand.d, sd, 0x0000000000000005, 0x0000000000000001, 0x0000000000000005, 0x0000000000000003)
  TEST_AMO(33, 34, amoand.d.aq, sd, 0xffffffffffffffff, 0x0000000000000001, 0xffffffffffffffff, 0x0000000000000001)
  TEST_AMO(35, 36, amoand.d.rl, sd, 0x7fffffffffffffff, 0x0000000000000001, 0x7fffffffffffffff, 0x0000000000000001)
  TEST_AMO(37, 38, amoand.d.aqrl, sd, 0x8000000000000000, 0x0000000000000000, 0x8000000000000000, 0x7fffffffffffffff)
  TEST_AMO(39, 40, amoand.d, sd, 0x0123456789abcdef, 0x0000000000000000, 0x0123456789abcdef, 0xfedcba9876543210)
  /* amoor.d */
  TEST_AMO(41, 42, amoor.d, sd, 0x0000000000000005, 0x0000000000000007, 0x0000000000000005, 0x0000000000000003)
  TEST_AMO(43, 44, amoor.d.aq, sd, 0xffffffffffffffff, 0xffffffffffffffff, 0xffffffffffffffff, 0x0000000000000001)
  TEST_AMO(45, 46, amoor.d.rl, sd, 0x7fffffffffffffff, 0x7fffffffffffffff, 0x7fffffffffffffff, 0x0000000000000001)
  TEST_AMO(47, 48, amoor.d.aqrl, sd, 0x8000000000000000, 0xffffffffffffffff, 0x8000000000000000, 0x7fffffffffffffff)
  TEST_AMO(49, 50, amoor.d, sd, 0x0123456789abcdef, 0xffffffffffffffff, 0x0123456789abcdef, 0xfedcba9876543210)
  /* amomin.d */
  TEST_AMO(51, 52, amomin.d, sd, 0x0000000000000005, 0x0000000000000003, 0x0000000000000005, 0x0000000000000003)
  TEST_AMO(53, 54, amomin.d.aq, sd, 0xffffffffffffffff, 0xffffffffffffffff, 0xffffffffffffffff, 0x0000000000000001)
  TEST_AMO(55, 56, amomin.d.rl, sd, 0x7fffffffffffffff, 0x0000000000000001, 0x7fffffffffffffff, 0x0000000000000001)
  TEST_AMO(57, 58, amomin.d.aqrl, sd, 0x8000000000000000, 0x8000000000000000, 0x8000000000000000, 0x7fffffffffffffff)
  TEST_AMO(59, 60, amomin.d, sd, 0x0123456789abcdef, 0xfedcba9876543210, 0x0123456789abcdef, 0xfedcba9876543210)
  /* amomax.d */
  TEST_AMO(61, 62, amomax.d, sd, 0x0000000000000005, 0x0000000000000005, 0x0000000000000005, 0x0000000000000003)
  TEST_AMO(63, 64, amomax.d.aq, sd, 0xffffffffffffffff, 0x0000000000000001, 0xffffffffffffffff, 0x0000000000000001)
  TEST_AMO(65, 66, amomax.d.rl, sd, 0x7fffffffffffffff, 0x7fffffffffffffff, 0x7fffffffffffffff, 0x0000000000000001)
  TEST_AMO(67, 68, amomax.d.aqrl, sd, 0x8000000000000000, 0x7fffffffffffffff, 0x8000000000000000, 0x7fffffffffffffff)
  TEST_AMO(69, 70, amomax.d, sd, 0x0123456789abcdef, 0x0123456789abcdef, 0x0123456789abcdef, 0xfedcba9876543210)
  /* amominu.d */
  TEST_AMO(71, 72, amominu.d, sd, 0x0000000000000005, 0x0000000000000003, 0x0000000000000005, 0x0000000000000003)
  TEST_AMO(73, 74, amominu.d.aq, sd, 0xffffffffffffffff, 0x0000000000000001, 0xffffffffffffffff, 0x0000000000000001)
  TEST_AMO(75, 76, amominu.d.rl, sd, 0x7fffffffffffffff, 0x0000000000000001, 0x7fffffffffffffff, 0x0000000000000001)
  TEST_AMO(77, 78, amominu.d.aqrl, sd, 0x8000000000000000, 0x7fffffffffffffff, 0x8000000000000000, 0x7fffffffffffffff)
  TEST_AMO(79, 80, amominu.d, sd, 0x0123456789abcdef, 0x0123456789abcdef, 0x0123456789abcdef, 0xfedcba9876543210)
  /* amomaxu.d */
  TEST_AMO(81, 82, amomaxu.d, sd, 0x0000000000000005, 0x0000000000000005, 0x0000000000000005, 0x0000000000000003)
  TEST_AMO(83, 84, amomaxu.d.aq, sd, 0xffffffffffffffff, 0xffffffffffffffff, 0xffffffffffffffff, 0x0000000000000001)
  TEST_AMO(85, 86, amomaxu.d.rl, sd, 0x7fffffffffffffff, 0x7fffffffffffffff, 0x7fffffffffffffff, 0x0000000000000001)
  TEST_AMO(87, 88, amomaxu.d.aqrl, sd, 0x8000000000000000, 0x8000000000000000, 0x8000000000000000, 0x7fffffffffffffff)
  TEST_AMO(89, 90, amomaxu.d, sd, 0x0123456789abcdef, 0xfedcba9876543210, 0x0123456789abcdef, 0xfedcba9876543210)
  /* amoswap.w */
  TEST_AMO(91, 92, amoswap.w, sw, 0x0000000000000005, 0xffffffff00000003, 0x0000000000000005, 0x0000000000000003)
  TEST_AMO(93, 94, amoswap.w.aq, sw, 0xffffffffffffffff, 0xffffffff00000001, 0x00000000ffffffff, 0x0000000000000001)
  TEST_AMO(95, 96, amoswap.w.rl, sw, 0x000000007fffffff, 0xffffffff00000001, 0x000000007fffffff, 0x0000000000000001)
  TEST_AMO(97, 98, amoswap.w.aqrl, sw, 0xffffffff80000000, 0xffffffff7fffffff, 0x0000000080000000, 0x000000007fffffff)
  TEST_AMO(99, 100, amoswap.w, sw, 0xffffffff89abcdef, 0xffffffff76543210, 0x0000000089abcdef, 0x7654321076543210)
  /* amoadd.w */
  TEST_AMO(101, 102, amoadd.w, sw, 0x0000000000000005, 0xffffffff00000008, 0x0000000000000005, 0x0000000000000003)
  TEST_AMO(103, 104, amoadd.w.aq, sw, 0xffffffffffffffff, 0xffffffff00000000, 0x00000000ffffffff, 0x0000000000000001)
  TEST_AMO(105, 106, amoadd.w.rl, sw, 0x000000007fffffff, 0xffffffff80000000, 0x000000007fffffff, 0x0000000000000001)
  TEST_AMO(107, 108, amoadd.w.aqrl, sw, 0xffffffff80000000, 0xffffffffffffffff, 0x0000000080000000, 0x000000007fffffff)
  TEST_AMO(109, 110, amoadd.w, sw, 0xffffffff89abcdef, 0xffffffffffffffff, 0x0000000089abcdef, 0x7654321076543210)
  /* amoxor.w */
  TEST_AMO(111, 112, amoxor.w, sw, 0x0000000000000005, 0xffffffff00000006, 0x0000000000000005, 0x0000000000000003)
  TEST_AMO(113, 114, amoxor.w.aq, sw, 0xffffffffffffffff, 0xfffffffffffffffe, 0x00000000ffffffff, 0x0000000000000001)
  TEST_AMO(115, 116, amoxor.w.rl, sw, 0x000000007fffffff, 0xffffffff7ffffffe, 0x000000007fffffff, 0x0000000000000001)
  TEST_AMO(117, 118, amoxor.w.aqrl, sw, 0xffffffff80000000, 0xffffffffffffffff, 0x0000000080000000, 0x000000007fffffff)
  TEST_AMO(119, 120, amoxor.w, sw, 0xffffffff89abcdef, 0xffffffffffffffff, 0x0000000089abcdef, 0x7654321076543210)
  /* amoand.w */
  TEST_AMO(121, 122, amoand.w, sw, 0x0000000000000005, 0xffffffff00000001, 0x0000000000000005, 0x0000000000000003)
  TEST_AMO(123, 124, amoand.w.aq, sw, 0xffffffffffffffff, 0xffffffff00000001, 0x00000000ffffffff, 0x0000000000000001)
  TEST_AMO(125, 126, amoand.w.rl, sw, 0x000000007fffffff, 0xffffffff00000001, 0x000000007fffffff, 0x0000000000000001)
  TEST_AMO(127, 128, amoand.w.aqrl, sw, 0xffffffff80000000, 0xffffffff00000000, 0x0000000080000000, 0x000000007fffffff)
  TEST_AMO(129, 130, amoand.w, sw, 0xffffffff89abcdef, 0xffffffff00000000, 0x0000000089abcdef, 0x7654321076543210)
  /* amoor.w */
  TEST_AMO(131, 132, amoor.w, sw, 0x0000000000000005, 0xffffffff00000007, 0x0000000000000005, 0x0000000000000003)
  TEST_AMO(133, 134, amoor.w.aq, sw, 0xffffffffffffffff, 0xffffffffffffffff, 0x00000000ffffffff, 0x0000000000000001)
  TEST_AMO(135, 136, amoor.w.rl, sw, 0x000000007fffffff, 0xffffffff7fffffff, 0x000000007fffffff, 0x0000000000000001)
  TEST_AMO(137, 138, amoor.w.aqrl, sw, 0xffffffff80000000, 0xffffffffffffffff, 0x0000000080000000, 0x000000007fffffff)
  TEST_AMO(139, 140, amoor.w, sw, 0xffffffff89abcdef, 0xffffffffffffffff, 0x0000000089abcdef, 0x7654321076543210)
  /* amomin.w */
  TEST_AMO(141, 142, amomin.w, sw, 0x0000000000000005, 0xffffffff00000003, 0x0000000000000005, 0x0000000000000003)
  TEST_AMO(143, 144, amomin.w.aq, sw, 0xffffffffffffffff, 0xffffffffffffffff, 0x00000000ffffffff, 0x0000000000000001)
  TEST_AMO(145, 146, amomin.w.rl, sw, 0x000000007fffffff, 0xffffffff00000001, 0x000000007fffffff, 0x0000000000000001)
  TEST_AMO(147, 148, amomin.w.aqrl, sw, 0xffffffff80000000, 0xffffffff80000000, 0x0000000080000000, 0x000000007fffffff)
  TEST_AMO(149, 150, amomin.w, sw, 0xffffffff89abcdef, 0xffffffff89abcdef, 0x0000000089abcdef, 0x7654321076543210)
  /* amomax.w */
  TEST_AMO(151, 152, amomax.w, sw, 0x0000000000000005, 0xffffffff00000005, 0x0000000000000005, 0x0000000000000003)
  TEST_AMO(153, 154, amomax.w.aq, sw, 0xffffffffffffffff, 0xffffffff00000001, 0x00000000ffffffff, 0x0000000000000001)
  TEST_AMO(155, 156, amomax.w.rl, sw, 0x000000007fffffff, 0xffffffff7fffffff, 0x000000007fffffff, 0x0000000000000001)
  TEST_AMO(157, 158, amomax.w.aqrl, sw, 0xffffffff80000000, 0xffffffff7fffffff, 0x0000000080000000, 0x000000007fffffff)
  TEST_AMO(159, 160, amomax.w, sw, 0xffffffff89abcdef, 0xffffffff76543210, 0x0000000089abcdef, 0x7654321076543210)
  /* amominu.w */
  TEST_AMO(161, 162, amominu.w, sw, 0x0000000000000005, 0xffffffff00000003, 0x0000000000000005, 0x0000000000000003)
  TEST_AMO(163, 164, amominu.w.aq, sw, 0xffffffffffffffff, 0xffffffff00000001, 0x00000000ffffffff, 0x0000000000000001)
  TEST_AMO(165, 166, amominu.w.rl, sw, 0x000000007fffffff, 0xffffffff00000001, 0x000000007fffffff, 0x0000000000000001)
  TEST_AMO(167, 168, amominu.w.aqrl, sw, 0xffffffff80000000, 0xffffffff7fffffff, 0x0000000080000000, 0x000000007fffffff)
  TEST_AMO(169, 170, amominu.w, sw, 0xffffffff89abcdef, 0xffffffff76543210, 0x0000000089abcdef, 0x7654321076543210)
  /* amomaxu.w */
  TEST_AMO(171, 172, amomaxu.w, sw, 0x0000000000000005, 0xffffffff00000005, 0x0000000000000005, 0x0000000000000003)
  TEST_AMO(173, 174, amomaxu.w.aq, sw, 0xffffffffffffffff, 0xffffffffffffffff, 0x00000000ffffffff, 0x0000000000000001)
  TEST_AMO(175, 176, amomaxu.w.rl, sw, 0x000000007fffffff, 0xffffffff7fffffff, 0x000000007fffffff, 0x0000000000000001)
  TEST_AMO(177, 178, amomaxu.w.aqrl, sw, 0xffffffff80000000, 0xffffffff80000000, 0x0000000080000000, 0x000000007fffffff)
  TEST_AMO(179, 180, amomaxu.w, sw, 0xffffffff89abcdef, 0xffffffff89abcdef, 0x0000000089abcdef, 0x7654321076543210)

  /* rd = x0 still performs the memory update */
  TEST_CASE(191, RES, 12, la a3, amo_area; li S1, 5; sd S1, 0(a3); li S2, 7; amoadd.d x0, S2, (a3); ld RES, 0(a3))
  /* rd == rs2: old value lands in rd, memory gets the original rs2 */
  TEST_CASE(192, S2, 12, li S2, 100; amoswap.d S2, S2, (a3))
  TEST_CASE(193, RES, 100, ld RES, 0(a3))
  /* .w on the upper word of a doubleword leaves the lower word alone */
  TEST_CASE(194, RES, 0x0000000711111111, li S1, 0x0000000511111111; sd S1, 0(a3); addi a4, a3, 4; li S2, 2; amoadd.w RES, S2, (a4); ld RES, 0(a3))

RVTEST_CODE_END

RVTEST_DATA_BEGIN
  .align 4
amo_area: .dword 0, 0
RVTEST_DATA_END
