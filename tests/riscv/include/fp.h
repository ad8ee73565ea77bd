/* fp.h: FP test-case macros shared by tests/riscv/fp_*.S (include after test.h).
 * FP_S/FP_D load three raw bit patterns into ft0, ft1, ft3, clear fflags, run the code, and
 * check RES against the expected result and fflags (t1) against the expected flags. */
#define FP_S(n, flags, result, a, b, c, code...)                \
    TEST_CASE(n, RES, result,                                   \
        li t0, XLEN_MASK(a); fmv.w.x ft0, t0;                   \
        li t0, XLEN_MASK(b); fmv.w.x ft1, t0;                   \
        li t0, XLEN_MASK(c); fmv.w.x ft3, t0;                   \
        fsflags x0;                                             \
        code;                                                   \
        frflags t1)                                             \
    CHECK(n, t1, flags)
#define FP_D(n, flags, result, a, b, c, code...)                \
    TEST_CASE(n, RES, result,                                   \
        li t0, XLEN_MASK(a); fmv.d.x ft0, t0;                   \
        li t0, XLEN_MASK(b); fmv.d.x ft1, t0;                   \
        li t0, XLEN_MASK(c); fmv.d.x ft3, t0;                   \
        fsflags x0;                                             \
        code;                                                   \
        frflags t1)                                             \
    CHECK(n, t1, flags)
/* Result from ft2 (single: sign-extended low word; double: all 64 bits). */
#define OP_S(inst, args...) inst ft2, args; fmv.x.w RES, ft2
#define OP_D(inst, args...) inst ft2, args; fmv.x.d RES, ft2
