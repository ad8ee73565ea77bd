# native_compute.s: the benchmark's host side: the same compute kernel as compute.s, run natively
# as a static Linux program, printing "cycles <hex> checksum <hex>" through write(2).
# Assemble with --defsym ITERS=n.
    .code64
    .globl _start
_start:
    rdtsc
    shl $32, %rdx
    or %rdx, %rax
    mov %rax, %r14
    mov $ITERS, %rdi
    call compute
    mov %rax, %r15
    rdtsc
    shl $32, %rdx
    or %rdx, %rax
    sub %r14, %rax
    lea out(%rip), %rdi
    lea s0(%rip), %rsi
    call copy
    call hex
    lea s1(%rip), %rsi
    call copy
    mov %r15, %rax
    call hex
    movb $'\n', (%rdi)
    inc %rdi
    lea out(%rip), %rsi
    mov %rdi, %rdx
    sub %rsi, %rdx
    mov $1, %edi                # write(1, out, len)
    mov $1, %eax
    syscall
    xor %edi, %edi              # exit(0)
    mov $60, %eax
    syscall

copy:                           # append NUL-terminated %rsi at %rdi
1:  lodsb
    test %al, %al
    jz 2f
    stosb
    jmp 1b
2:  ret

hex:                            # append %rax as 16 hex digits at %rdi
    mov %rax, %rbx
    mov $16, %ecx
1:  rol $4, %rbx
    mov %bl, %al
    and $0xf, %al
    add $'0', %al
    cmp $'9', %al
    jbe 2f
    add $('a' - '9' - 1), %al
2:  stosb
    dec %ecx
    jnz 1b
    ret

    .include "compute_kernel.s"
s0: .asciz "cycles "
s1: .asciz " checksum "
    .bss
out: .skip 64
