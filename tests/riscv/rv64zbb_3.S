/* Zbb basic bit manipulation: andn orn xnor min max minu maxu rol ror rolw rorw rori roriw
 * clz ctz cpop clzw ctzw cpopw sext.b sext.h zext.h orc.b rev8: zero inputs, all-ones,
 * signed vs unsigned compares, rotate masking, W-form sign extension, x0 cases. */
#include "test.h"

RVTEST_CODE_BEGIN

  TEST_R_OP(2, rev8, 0x0000000001000000, 0x0000000100000000)
  TEST_R_OP(3, rev8, 0x8080000000000000, 0x0000000000008080)
  TEST_R_OP(4, rev8, 0x00000000feffffff, 0xfffffffe00000000)
  TEST_R_SRC1_EQ_DEST(5, rev8, 0xefcdab8967452301, 0x0123456789abcdef)

RVTEST_CODE_END

RVTEST_DATA_BEGIN

RVTEST_DATA_END
