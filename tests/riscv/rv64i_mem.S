/* RV64I loads and stores: lb lh lw ld lbu lhu lwu sb sh sw sd with sign/zero extension,
 * positive and negative offsets, stores narrower than the word leaving neighbours intact,
 * x0 as load destination, and a load's base register being its own destination. */
#include "test.h"

RVTEST_CODE_BEGIN

  /* sign- and zero-extending loads of each width */
  TEST_LD_OP(1, lb,  0xffffffffffffff80, 0, bytes)
  TEST_LD_OP(2, lb,  0x000000000000007f, 1, bytes)
  TEST_LD_OP(3, lbu, 0x0000000000000080, 0, bytes)
  TEST_LD_OP(4, lbu, 0x00000000000000ff, 2, bytes)
  TEST_LD_OP(5, lb,  0xffffffffffffffff, 2, bytes)
  TEST_LD_OP(6, lh,  0xffffffffffff8001, 0, halves)
  TEST_LD_OP(7, lh,  0x0000000000007ffe, 2, halves)
  TEST_LD_OP(8, lhu, 0x0000000000008001, 0, halves)
  TEST_LD_OP(9, lhu, 0x000000000000ffff, 4, halves)
  TEST_LD_OP(10, lw,  0xffffffff80000001, 0, words)
  TEST_LD_OP(11, lw,  0x000000007ffffffe, 4, words)
  TEST_LD_OP(12, lwu, 0x0000000080000001, 0, words)
  TEST_LD_OP(13, lwu, 0x00000000ffffffff, 8, words)
  TEST_LD_OP(14, lw,  0xffffffffffffffff, 8, words)
  TEST_LD_OP(15, ld,  0x8000000000000001, 0, dwords)
  TEST_LD_OP(16, ld,  0x0123456789abcdef, 8, dwords)
  /* little-endian byte order within a doubleword */
  TEST_LD_OP(17, lbu, 0xef, 8, dwords)
  TEST_LD_OP(18, lbu, 0x01, 15, dwords)
  TEST_LD_OP(19, lhu, 0xcdef, 8, dwords)
  TEST_LD_OP(20, lwu, 0x01234567, 12, dwords)
  /* negative offsets from a base past the data */
  TEST_LD_OP(21, ld,  0x0123456789abcdef, -8, dwords_end)
  TEST_LD_OP(22, lw,  0x0000000001234567, -4, dwords_end)
  TEST_LD_OP(23, lh,  0x0000000000000123, -2, dwords_end)
  TEST_LD_OP(24, lb,  0x0000000000000001, -1, dwords_end)
  /* the extreme 12-bit offsets +2047 and -2048 */
  TEST_CASE(25, RES, 0x0123456789abcdef, la S1, dwords; addi S1, S1, -2039; ld RES, 2047(S1))
  TEST_CASE(26, RES, 0x0123456789abcdef, la S1, dwords; addi S1, S1, 2047; addi S1, S1, 9; ld RES, -2048(S1))

  /* store then reload each width, both sign- and zero-extending */
  TEST_ST_OP(30, ld,  sd, 0xaabbccdd11223344, 0xaabbccdd11223344, 0, scratch)
  TEST_ST_OP(31, lw,  sw, 0xffffffff80706050, 0x1234567880706050, 8, scratch)
  TEST_ST_OP(32, lwu, sw, 0x0000000080706050, 0x1234567880706050, 8, scratch)
  TEST_ST_OP(33, lh,  sh, 0xffffffffffff9abc, 0x123456789abc, 16, scratch)
  TEST_ST_OP(34, lhu, sh, 0x0000000000009abc, 0x123456789abc, 16, scratch)
  TEST_ST_OP(35, lb,  sb, 0xfffffffffffffff0, 0x1f0, 24, scratch)
  TEST_ST_OP(36, lbu, sb, 0x00000000000000f0, 0x1f0, 24, scratch)
  TEST_ST_OP(37, ld,  sd, 0x5555aaaa5555aaaa, 0x5555aaaa5555aaaa, -8, scratch_end)

  /* narrow stores touch only their bytes */
  TEST_CASE(40, RES, 0x11223344a5a6a7a8,
    la S1, scratch; li S2, 0x1122334455667788; sd S2, 32(S1);
    li S2, 0xa5a6a7a8; sw S2, 32(S1); ld RES, 32(S1))
  TEST_CASE(41, RES, 0x1122beefa5a6a7a8,
    la S1, scratch; li S2, 0xbeef; sh S2, 36(S1); ld RES, 32(S1))
  TEST_CASE(42, RES, 0x1122beefa5a6c3a8,
    la S1, scratch; li S2, 0xc3; sb S2, 33(S1); ld RES, 32(S1))
  TEST_CASE(43, RES, 0x0022beefa5a6c3a8,
    la S1, scratch; sb x0, 39(S1); ld RES, 32(S1))

  /* a load into x0 is discarded (but still executes) */
  TEST_CASE(50, x0, 0, la S1, dwords; ld x0, 0(S1))
  TEST_CASE(51, x0, 0, la S1, dwords; lw x0, 0(S1))
  /* destination equals base */
  TEST_CASE(52, S1, 0x0123456789abcdef, la S1, dwords; ld S1, 8(S1))
  TEST_CASE(53, S1, 0xffffffffffffff80, la S1, bytes; lb S1, 0(S1))
  /* load-after-store forwarding through a different base register */
  TEST_CASE(54, RES, 0x0706050403020100,
    la S1, scratch; addi a3, S1, 64; li S2, 0x0706050403020100; sd S2, 0(a3); ld RES, 64(S1))

RVTEST_CODE_END

RVTEST_DATA_BEGIN
  .align 3
bytes:  .byte 0x80, 0x7f, 0xff, 0x00, 0, 0, 0, 0
halves: .half 0x8001, 0x7ffe, 0xffff, 0x0000
words:  .word 0x80000001, 0x7ffffffe, 0xffffffff, 0
dwords: .dword 0x8000000000000001, 0x0123456789abcdef
dwords_end:
  .align 3
scratch: .fill 128, 1, 0
scratch_end:
RVTEST_DATA_END
