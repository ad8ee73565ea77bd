/* Zbb ctzw with a zero low word but upper bits set: must count only bits 31..0 (result 32).
 * Kept apart from rv64zbb*.S because QEMU 7.2 gets this wrong (returns the 64-bit count). */
#include "test.h"

RVTEST_CODE_BEGIN

  TEST_R_OP(1, ctzw, 0x0000000000000020, 0x8000000000000000)
  TEST_R_OP(2, ctzw, 0x0000000000000020, 0x0000000100000000)
  TEST_R_OP(3, ctzw, 0x0000000000000020, 0xfffffffe00000000)
  TEST_R_OP(4, ctzw, 0x0000000000000020, 0xffffffff00000000)

RVTEST_CODE_END

RVTEST_DATA_BEGIN

RVTEST_DATA_END
