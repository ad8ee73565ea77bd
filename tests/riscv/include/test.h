/* Mimic's RISC-V ISA test framework: the macros every tests/riscv/*.S file builds on.
 *
 * PROTOCOL (same as Spike's and QEMU's HTIF "exit" command):
 *   - The test runs bare metal in M-mode from 0x80000000 (`-M spike -bios none`).
 *   - Pass: the test stores 1 to `tohost`; the emulator exits with status 0.
 *   - Fail: it stores (code << 1) | 1; the emulator exits with status `code`
 *     (= tohost >> 1, truncated to 8 bits by the OS). Codes:
 *       1..199   number of the failing TEST_* case (register TESTNUM = gp)
 *       200+c    unexpected synchronous trap, c = mcause (0..31)
 *       250      unexpected interrupt
 *       254      RVTEST_FAIL reached before any numbered case ran
 *   - tohost/fromhost are 64-bit words, fromhost 64 bytes after tohost, in the
 *     4 KiB-aligned `.tohost` section (see link.ld; keep code off that page).
 *
 * FILE SHAPE:
 *     #include "test.h"
 *     RVTEST_CODE_BEGIN
 *       TEST_RR_OP(1, add, 3, 1, 2)
 *       ...
 *     RVTEST_CODE_END            // falls through to pass; defines `fail`
 *     RVTEST_DATA_BEGIN
 *       ... test data ...
 *     RVTEST_DATA_END
 *
 * Conventions: results land in RES (a0), sources are S1 (a1) and S2 (a2), the
 * expected value is loaded into EXP (t6). Cases compare with `beq` + `j fail`
 * because `fail` may be beyond a conditional branch's 4 KiB reach.
 * Code is assembled with `.option norvc` and `.option norelax` so every mnemonic
 * is the 32-bit encoding it names; compressed tests switch to `.option rvc` and
 * write explicit c.* mnemonics.
 *
 * Own trap handlers: either `csrw mtvec` to your handler, or define a global
 * symbol `test_trap_handler`; the default vector jumps there when it exists
 * and otherwise fails with code 200+mcause.
 */
#ifndef MIMIC_RISCV_TEST_H
#define MIMIC_RISCV_TEST_H

#define TESTNUM gp
#define RES a0
#define S1 a1
#define S2 a2
#define EXP t6

#define MSTATUS_FS_INITIAL (1 << 13)
#define MSTATUS_FS_MASK (3 << 13)
#define XLEN_MASK(x) ((x) & 0xffffffffffffffff)
#define SEXT_IMM(x) ((x) | (-(((x) >> 11) & 1) << 11))

/* ------------------------------------------------------------------ begin/end */

#define RVTEST_CODE_BEGIN                                       \
        .option norvc;                                          \
        .option norelax;                                        \
        .pushsection .tohost, "aw", @progbits;                  \
        .align 6; .globl tohost; tohost: .dword 0;              \
        .size tohost, 8; .type tohost, @object;                 \
        .align 6; .globl fromhost; fromhost: .dword 0;          \
        .size fromhost, 8; .type fromhost, @object;             \
        .popsection;                                            \
        .pushsection .rodata.test_hooks, "a", @progbits;        \
        .align 3;                                               \
        .weak test_trap_handler;                                \
    mimic_trap_hook: .dword test_trap_handler;                  \
        .popsection;                                            \
        .section .text.init, "ax", @progbits;                   \
        .globl _start;                                          \
    _start:                                                     \
        j mimic_reset;                                          \
        .align 2;                                               \
    mimic_trap_vector:                                          \
        /* a test-defined hook wins over the failing default */ \
        csrw mscratch, t0;                                      \
        la t0, mimic_trap_hook;                                 \
        ld t0, 0(t0);                                           \
        beqz t0, 1f;                                            \
        jr t0;                                                  \
    1:  csrr t0, mcause;                                        \
        bltz t0, 2f;                                            \
        andi t0, t0, 31;                                        \
        addi t0, t0, 200;                                       \
        j 3f;                                                   \
    2:  li t0, 250;                                             \
    3:  slli t0, t0, 1;                                         \
        ori t0, t0, 1;                                          \
        la t1, tohost;                                          \
        sd t0, 0(t1);                                           \
    4:  j 4b;                                                   \
    mimic_reset:                                                \
        INIT_XREGS;                                             \
        la t0, mimic_trap_vector;                               \
        csrw mtvec, t0;                                         \
        csrwi mie, 0;                                           \
        li t0, MSTATUS_FS_MASK;                                 \
        csrc mstatus, t0;                                       \
        li t0, MSTATUS_FS_INITIAL;                              \
        csrs mstatus, t0;                                       \
        csrwi fcsr, 0;                                          \
        li TESTNUM, 0;                                          \
        j mimic_test_body;                                      \
        .text;                                                  \
    mimic_test_body:

#define INIT_XREGS                                              \
        li x1, 0; li x2, 0; li x3, 0; li x4, 0; li x5, 0;       \
        li x6, 0; li x7, 0; li x8, 0; li x9, 0; li x10, 0;      \
        li x11, 0; li x12, 0; li x13, 0; li x14, 0; li x15, 0;  \
        li x16, 0; li x17, 0; li x18, 0; li x19, 0; li x20, 0;  \
        li x21, 0; li x22, 0; li x23, 0; li x24, 0; li x25, 0;  \
        li x26, 0; li x27, 0; li x28, 0; li x29, 0; li x30, 0;  \
        li x31, 0

#define RVTEST_PASS                                             \
        fence;                                                  \
        li t0, 1;                                               \
        la t1, tohost;                                          \
        sd t0, 0(t1);                                           \
    99: j 99b;

#define RVTEST_FAIL                                             \
        fence;                                                  \
        bnez TESTNUM, 98f;                                      \
        li TESTNUM, 254;                                        \
    98: slli t0, TESTNUM, 1;                                    \
        ori t0, t0, 1;                                          \
        la t1, tohost;                                          \
        sd t0, 0(t1);                                           \
    99: j 99b;

#define RVTEST_CODE_END                                         \
        .option norvc;                                          \
        RVTEST_PASS                                             \
        .globl fail;                                            \
    fail:                                                       \
        RVTEST_FAIL

#define RVTEST_DATA_BEGIN .data; .align 4;
#define RVTEST_DATA_END .align 4;

/* ------------------------------------------------------------------ generic */

/* Run `code`, then require register `reg` == `expected` (a 64-bit constant). */
#define TEST_CASE(n, reg, expected, code...)                    \
    test_##n:                                                   \
        li TESTNUM, n;                                          \
        code;                                                   \
        li EXP, XLEN_MASK(expected);                            \
        beq reg, EXP, 97f;                                      \
        j fail;                                                 \
    97:

/* Fail case n unless `reg` == `expected` (use after arbitrary code). */
#define CHECK(n, reg, expected)                                 \
        li TESTNUM, n;                                          \
        li EXP, XLEN_MASK(expected);                            \
        beq reg, EXP, 97f;                                      \
        j fail;                                                 \
    97:

/* ------------------------------------------------------------------ reg-reg */

#define TEST_RR_OP(n, inst, result, v1, v2)                     \
    TEST_CASE(n, RES, result,                                   \
        li S1, XLEN_MASK(v1); li S2, XLEN_MASK(v2);             \
        inst RES, S1, S2)

#define TEST_RR_SRC1_EQ_DEST(n, inst, result, v1, v2)           \
    TEST_CASE(n, S1, result,                                    \
        li S1, XLEN_MASK(v1); li S2, XLEN_MASK(v2);             \
        inst S1, S1, S2)

#define TEST_RR_SRC2_EQ_DEST(n, inst, result, v1, v2)           \
    TEST_CASE(n, S2, result,                                    \
        li S1, XLEN_MASK(v1); li S2, XLEN_MASK(v2);             \
        inst S2, S1, S2)

#define TEST_RR_SRC12_EQ_DEST(n, inst, result, v1)              \
    TEST_CASE(n, S1, result,                                    \
        li S1, XLEN_MASK(v1);                                   \
        inst S1, S1, S1)

/* x0 as rs1 / rs2 reads zero. */
#define TEST_RR_ZEROSRC1(n, inst, result, v2)                   \
    TEST_CASE(n, RES, result,                                   \
        li S2, XLEN_MASK(v2);                                   \
        inst RES, x0, S2)

#define TEST_RR_ZEROSRC2(n, inst, result, v1)                   \
    TEST_CASE(n, RES, result,                                   \
        li S1, XLEN_MASK(v1);                                   \
        inst RES, S1, x0)

/* Writes to x0 are discarded. */
#define TEST_RR_ZERODEST(n, inst, v1, v2)                       \
    TEST_CASE(n, x0, 0,                                         \
        li S1, XLEN_MASK(v1); li S2, XLEN_MASK(v2);             \
        inst x0, S1, S2)

/* Single-source ops (clz, sext.b, ...). */
#define TEST_R_OP(n, inst, result, v1)                          \
    TEST_CASE(n, RES, result,                                   \
        li S1, XLEN_MASK(v1);                                   \
        inst RES, S1)

#define TEST_R_SRC1_EQ_DEST(n, inst, result, v1)                \
    TEST_CASE(n, S1, result,                                    \
        li S1, XLEN_MASK(v1);                                   \
        inst S1, S1)

/* ------------------------------------------------------------------ immediate */

#define TEST_IMM_OP(n, inst, result, v1, imm)                   \
    TEST_CASE(n, RES, result,                                   \
        li S1, XLEN_MASK(v1);                                   \
        inst RES, S1, imm)

#define TEST_IMM_SRC1_EQ_DEST(n, inst, result, v1, imm)         \
    TEST_CASE(n, S1, result,                                    \
        li S1, XLEN_MASK(v1);                                   \
        inst S1, S1, imm)

#define TEST_IMM_ZEROSRC1(n, inst, result, imm)                 \
    TEST_CASE(n, RES, result,                                   \
        inst RES, x0, imm)

#define TEST_IMM_ZERODEST(n, inst, v1, imm)                     \
    TEST_CASE(n, x0, 0,                                         \
        li S1, XLEN_MASK(v1);                                   \
        inst x0, S1, imm)

/* ------------------------------------------------------------------ privilege */

/* mstatus.MPP, and a switch to privilege `mode` (0 U, 1 S, 3 M) continuing at `target`. */
#define MPP_MASK (3 << 11)
#define ENTER(mode, target) \
    li t0, MPP_MASK; csrc mstatus, t0; li t0, (mode) << 11; csrs mstatus, t0; \
    la t0, target; csrw mepc, t0; mret

/* An M-mode exception handler: keep the first mcause in s11 (a later ecall must not hide an
 * earlier illegal instruction), then go on in M-mode after the 4-byte trapping instruction. */
#define M_TRAP_FIRST_CAUSE_TO_M                                 \
    bnez s11, 1f; csrr s11, mcause;                             \
    1: csrr t0, mepc; addi t0, t0, 4; csrw mepc, t0;            \
    li t0, MPP_MASK; csrs mstatus, t0; mret

/* ------------------------------------------------------------------ memory */

/* Load from base+offset and compare. */
#define TEST_LD_OP(n, inst, result, offset, base)               \
    TEST_CASE(n, RES, result,                                   \
        la S1, base;                                            \
        inst RES, offset(S1))

/* Store `value`, read it back with `ldinst`, compare with `result`. */
#define TEST_ST_OP(n, ldinst, stinst, result, value, offset, base) \
    TEST_CASE(n, RES, result,                                   \
        la S1, base;                                            \
        li S2, XLEN_MASK(value);                                \
        stinst S2, offset(S1);                                  \
        ldinst RES, offset(S1))

/* ------------------------------------------------------------------ branches */

/* Branch must be taken, both forwards and backwards. */
#define TEST_BR2_TAKEN(n, inst, v1, v2)                         \
    test_##n:                                                   \
        li TESTNUM, n;                                          \
        li S1, XLEN_MASK(v1);                                   \
        li S2, XLEN_MASK(v2);                                   \
        inst S1, S2, 96f;                                       \
        j fail;                                                 \
    95: j 94f;                                                  \
    96: inst S1, S2, 95b;                                       \
        j fail;                                                 \
    94:

/* Branch must fall through, both directions. */
#define TEST_BR2_NOT_TAKEN(n, inst, v1, v2)                     \
    test_##n:                                                   \
        li TESTNUM, n;                                          \
        li S1, XLEN_MASK(v1);                                   \
        li S2, XLEN_MASK(v2);                                   \
    95: inst S1, S2, 96f;                                       \
        inst S1, S2, 95b;                                       \
        j 94f;                                                  \
    96: j fail;                                                 \
    94:

/* ------------------------------------------------------------------ floating point
 * Operands and results are raw IEEE bit patterns moved through integer registers,
 * so tests state exact bits and are independent of assembler float parsing.
 * `flags` is the exact fflags value expected afterwards (fflags is cleared first). */

#define TEST_FP_RR_D(n, inst, flags, result, a, b)              \
    TEST_CASE(n, RES, result,                                   \
        li t0, XLEN_MASK(a); fmv.d.x ft0, t0;                   \
        li t0, XLEN_MASK(b); fmv.d.x ft1, t0;                   \
        fsflags x0;                                             \
        inst ft2, ft0, ft1;                                     \
        frflags t1;                                             \
        fmv.x.d RES, ft2)                                       \
    CHECK(n, t1, flags)

#define TEST_FP_RR_S(n, inst, flags, result, a, b)              \
    TEST_CASE(n, RES, result,                                   \
        li t0, XLEN_MASK(a); fmv.w.x ft0, t0;                   \
        li t0, XLEN_MASK(b); fmv.w.x ft1, t0;                   \
        fsflags x0;                                             \
        inst ft2, ft0, ft1;                                     \
        frflags t1;                                             \
        fmv.x.w RES, ft2)                                       \
    CHECK(n, t1, flags)

#endif
