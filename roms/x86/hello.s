# hello.s: checks that the guest starts in 64-bit long mode (EFER.LMA), says hello on the UART
# and powers off through isa-debug-exit with value 0x21 (exit status 0x43).
    .code64
    .globl _start
_start:
    mov $0x80000, %rsp
    mov $0xc0000080, %ecx       # IA32_EFER
    rdmsr
    bt $10, %eax                # LMA
    jnc not_long
    lea hello(%rip), %rsi
    call puts
    mov $0x21, %al
    jmp exit
not_long:
    lea nolm(%rip), %rsi
    call puts
    mov $0x01, %al
    jmp exit

    .include "lib.s"
hello: .asciz "hello from 64-bit long mode\n"
nolm:  .asciz "FAIL: not in long mode\n"
