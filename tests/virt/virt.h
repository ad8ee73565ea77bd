/* Tiny framework for the bare-metal `-M virt` device tests (tests/virt/*.S).
 *
 * PROTOCOL: the test starts in M-mode at _start (`-bios none -kernel x.elf`) and
 * exits through the sifive_test finisher at 0x100000:
 *   - pass: write 0x5555                -> emulator exits with status 0
 *   - fail: write (code << 16) | 0x3333 -> emulator exits with status `code`
 * Codes: 1..199 = the failing subtest (register TESTNUM = gp, set by TEST(n)),
 *        200+c  = unexpected synchronous trap with mcause c,
 *        250    = unexpected interrupt (the default vector took one),
 *        251    = the finisher write did not stop the machine,
 *        254    = failure before any numbered subtest.
 *
 * FILE SHAPE:
 *     #include "virt.h"
 *     VIRT_BEGIN
 *       TEST(1)  ... `j fail` / FAIL_IF_NE(reg, value) on error ...
 *     VIRT_END            // falls through to pass; defines pass, fail, stack
 *
 * Registers: gp = TESTNUM, sp = a 4 KiB stack; t0/t1 are clobbered by the
 * helpers below. Interrupts are off (mie = 0, mstatus.MIE = 0) at entry; mtvec
 * points at the default vector, which fails (200+mcause / 250). Tests install
 * their own handler with `csrw mtvec` where they expect a trap.
 */
#ifndef MIMIC_VIRT_H
#define MIMIC_VIRT_H

#define TESTNUM gp

/* ---- memory map (QEMU's hw/riscv/virt.c) ---- */
#define FINISHER        0x100000
#define FINISHER_PASS   0x5555
#define FINISHER_FAIL   0x3333
#define RTC_BASE        0x101000
#define RTC_TIME_LOW    0x00
#define RTC_TIME_HIGH   0x04
#define CLINT_BASE      0x2000000
#define CLINT_MSIP      0x0
#define CLINT_MTIMECMP  0x4000
#define CLINT_MTIME     0xbff8
#define PLIC_BASE       0xc000000
#define PLIC_PRIORITY(src)  (4 * (src))
#define PLIC_PENDING    0x1000
#define PLIC_ENABLE(ctx)    (0x2000 + 0x80 * (ctx))
#define PLIC_THRESHOLD(ctx) (0x200000 + 0x1000 * (ctx))
#define PLIC_CLAIM(ctx)     (0x200004 + 0x1000 * (ctx))
#define UART_BASE       0x10000000
#define UART_IRQ        10
#define VIRTIO_BASE     0x10001000
#define VIRTIO_STRIDE   0x1000
#define VIRTIO_SLOTS    8

/* NS16550A registers (reg shift 0) and bits */
#define UART_RBR 0
#define UART_THR 0
#define UART_IER 1
#define UART_IIR 2
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define IER_ERBFI 0x01
#define IER_ETBEI 0x02
#define IIR_NO_INT 0x01
#define IIR_ID_MASK 0x0f
#define IIR_THRE 0x02
#define IIR_RDA  0x04
#define IIR_CTI  0x0c
#define LSR_DR   0x01
#define LSR_THRE 0x20

#define MIP_MSIP (1 << 3)
#define MIP_MTIP (1 << 7)
#define MIP_MEIP (1 << 11)
#define MSTATUS_MIE (1 << 3)
#define MCAUSE_INT (1 << 63)

/* ---- helpers ---- */
#define TEST(n) li TESTNUM, n

/* if (reg != val) fail; clobbers t0 */
#define FAIL_IF_NE(reg, val) li t0, val; beq reg, t0, 1f; j fail; 1:
#define FAIL_IF_EQ(reg, val) li t0, val; bne reg, t0, 1f; j fail; 1:

/* 32-bit MMIO: dst = *(u32*)addr ; *(u32*)addr = src (clobber t1) */
#define R32(dst, addr) li t1, addr; lwu dst, 0(t1)
#define W32(addr, src) li t1, addr; sw src, 0(t1)
#define W32I(addr, imm) li t1, addr; li t0, imm; sw t0, 0(t1)
#define R8(dst, addr) li t1, addr; lbu dst, 0(t1)
#define W8I(addr, imm) li t1, addr; li t0, imm; sb t0, 0(t1)

/* print the NUL-terminated string at `label` by polling LSR.THRE */
#define PUTS(label) la a0, label; call virt_puts

#define VIRT_BEGIN                                              \
        .option norvc;                                          \
        .option norelax;                                        \
        .section .text.init, "ax", @progbits;                   \
        .globl _start;                                          \
    _start:                                                     \
        la t0, virt_default_vector;                             \
        csrw mtvec, t0;                                         \
        csrwi mie, 0;                                           \
        csrwi mstatus, 0;                                       \
        csrwi mip, 0;                                           \
        la sp, virt_stack_top;                                  \
        li TESTNUM, 0;                                          \
        j virt_body;                                            \
        .align 2;                                               \
    virt_default_vector:                                        \
        csrr t0, mcause;                                        \
        bltz t0, 1f;                                            \
        andi t0, t0, 31;                                        \
        addi TESTNUM, t0, 200;                                  \
        j fail;                                                 \
    1:  li TESTNUM, 250;                                        \
        j fail;                                                 \
    /* a0 = string; clobbers a0, t0, t1, t2 */                  \
    virt_puts:                                                  \
        li t1, UART_BASE;                                       \
    1:  lbu t2, 0(a0);                                          \
        beqz t2, 3f;                                            \
    2:  lbu t0, UART_LSR(t1);                                   \
        andi t0, t0, LSR_THRE;                                  \
        beqz t0, 2b;                                            \
        sb t2, UART_THR(t1);                                    \
        addi a0, a0, 1;                                         \
        j 1b;                                                   \
    3:  ret;                                                    \
    /* a0 = byte; clobbers t0, t1 */                            \
    virt_putc:                                                  \
        li t1, UART_BASE;                                       \
    1:  lbu t0, UART_LSR(t1);                                   \
        andi t0, t0, LSR_THRE;                                  \
        beqz t0, 1b;                                            \
        sb a0, UART_THR(t1);                                    \
        ret;                                                    \
        .text;                                                  \
    virt_body:

#define VIRT_END                                                \
    pass:                                                       \
        fence;                                                  \
        li t0, FINISHER_PASS;                                   \
        li t1, FINISHER;                                        \
        sw t0, 0(t1);                                           \
        li TESTNUM, 251;                                        \
        j virt_fail_code;                                       \
        .globl fail;                                            \
    fail:                                                       \
        fence;                                                  \
        bnez TESTNUM, virt_fail_code;                           \
        li TESTNUM, 254;                                        \
    virt_fail_code:                                             \
        slli t0, TESTNUM, 16;                                   \
        li t1, FINISHER_FAIL;                                   \
        or t0, t0, t1;                                          \
        li t1, FINISHER;                                        \
        sw t0, 0(t1);                                           \
    1:  wfi;                                                    \
        j 1b;                                                   \
        .bss;                                                   \
        .align 4;                                               \
        .space 4096;                                            \
    virt_stack_top:

#endif
