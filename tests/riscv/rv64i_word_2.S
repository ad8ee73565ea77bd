/* RV64I 32-bit word ops: addw subw addiw sllw srlw sraw slliw srliw sraiw:
 * results are sign-extended from bit 31, upper source bits ignored, 5-bit shift masking, x0 cases. */
#include "test.h"

RVTEST_CODE_BEGIN

  TEST_IMM_OP(2, srliw, 0xffffffff80000000, 0x0000000080000000, 0)
  TEST_IMM_OP(3, srliw, 0x0000000040000000, 0x0000000080000000, 1)
  TEST_IMM_OP(4, srliw, 0x0000000000010000, 0x0000000080000000, 15)
  TEST_IMM_OP(5, srliw, 0x0000000000000001, 0x0000000080000000, 31)
  TEST_IMM_OP(6, srliw, 0xffffffff89abcdef, 0x0123456789abcdef, 0)
  TEST_IMM_OP(7, srliw, 0x0000000044d5e6f7, 0x0123456789abcdef, 1)
  TEST_IMM_OP(8, srliw, 0x0000000000011357, 0x0123456789abcdef, 15)
  TEST_IMM_OP(9, srliw, 0x0000000000000001, 0x0123456789abcdef, 31)
  TEST_IMM_OP(10, srliw, 0x000000007fffffff, 0xffffffff7fffffff, 0)
  TEST_IMM_OP(11, srliw, 0x000000003fffffff, 0xffffffff7fffffff, 1)
  TEST_IMM_OP(12, srliw, 0x000000000000ffff, 0xffffffff7fffffff, 15)
  TEST_IMM_OP(13, srliw, 0x0000000000000000, 0xffffffff7fffffff, 31)
  TEST_IMM_SRC1_EQ_DEST(14, srliw, 0x00000000089abcde, 0x0123456789abcdef, 4)
  TEST_IMM_ZEROSRC1(15, srliw, 0x0000000000000000, 4)
  TEST_IMM_ZERODEST(16, srliw, 0x0123456789abcdef, 4)
  /* sraiw */
  TEST_IMM_OP(17, sraiw, 0x0000000000000001, 0x0000000000000001, 0)
  TEST_IMM_OP(18, sraiw, 0x0000000000000000, 0x0000000000000001, 1)
  TEST_IMM_OP(19, sraiw, 0x0000000000000000, 0x0000000000000001, 15)
  TEST_IMM_OP(20, sraiw, 0x0000000000000000, 0x0000000000000001, 31)
  TEST_IMM_OP(21, sraiw, 0xffffffffffffffff, 0xffffffffffffffff, 0)
  TEST_IMM_OP(22, sraiw, 0xffffffffffffffff, 0xffffffffffffffff, 1)
  TEST_IMM_OP(23, sraiw, 0xffffffffffffffff, 0xffffffffffffffff, 15)
  TEST_IMM_OP(24, sraiw, 0xffffffffffffffff, 0xffffffffffffffff, 31)
  TEST_IMM_OP(25, sraiw, 0xffffffff80000000, 0x0000000080000000, 0)
  TEST_IMM_OP(26, sraiw, 0xffffffffc0000000, 0x0000000080000000, 1)
  TEST_IMM_OP(27, sraiw, 0xffffffffffff0000, 0x0000000080000000, 15)
  TEST_IMM_OP(28, sraiw, 0xffffffffffffffff, 0x0000000080000000, 31)
  TEST_IMM_OP(29, sraiw, 0xffffffff89abcdef, 0x0123456789abcdef, 0)
  TEST_IMM_OP(30, sraiw, 0xffffffffc4d5e6f7, 0x0123456789abcdef, 1)
  TEST_IMM_OP(31, sraiw, 0xffffffffffff1357, 0x0123456789abcdef, 15)
  TEST_IMM_OP(32, sraiw, 0xffffffffffffffff, 0x0123456789abcdef, 31)
  TEST_IMM_OP(33, sraiw, 0x000000007fffffff, 0xffffffff7fffffff, 0)
  TEST_IMM_OP(34, sraiw, 0x000000003fffffff, 0xffffffff7fffffff, 1)
  TEST_IMM_OP(35, sraiw, 0x000000000000ffff, 0xffffffff7fffffff, 15)
  TEST_IMM_OP(36, sraiw, 0x0000000000000000, 0xffffffff7fffffff, 31)
  TEST_IMM_SRC1_EQ_DEST(37, sraiw, 0xfffffffff89abcde, 0x0123456789abcdef, 4)
  TEST_IMM_ZEROSRC1(38, sraiw, 0x0000000000000000, 4)
  TEST_IMM_ZERODEST(39, sraiw, 0x0123456789abcdef, 4)

RVTEST_CODE_END

RVTEST_DATA_BEGIN

RVTEST_DATA_END
