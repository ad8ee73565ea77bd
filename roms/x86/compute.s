# compute.s: the benchmark guest. Builds its own GDT and page tables (user-accessible identity map
# of the first 1 GiB), drops to ring 3 with IOPL 3, runs the compute kernel ITERS times between two
# RDTSCs, prints "cycles <hex> checksum <hex>" and exits with value 0x24 (status 0x49) from ring 3.
# Assemble with --defsym ITERS=n.
    .code64
    .globl _start
    .set PML4, 0x200000
    .set PDPT, 0x201000
    .set PD,   0x202000
_start:
    mov $0x80000, %rsp
    # Page tables: 512 x 2 MiB pages, present | writable | user | large.
    mov $PD, %rdi
    xor %ecx, %ecx
1:  mov %rcx, %rax
    shl $21, %rax
    or $0x87, %rax
    mov %rax, (%rdi,%rcx,8)
    inc %ecx
    cmp $512, %ecx
    jne 1b
    movq $(PD | 0x7), PDPT
    movq $(PDPT | 0x7), PML4
    mov $PML4, %eax
    mov %rax, %cr3
    lgdt gdtr(%rip)
    # Reload CS with a far return, then the data segments.
    pushq $0x08
    lea 2f(%rip), %rax
    push %rax
    lretq
2:  mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    # iretq to ring 3: SS, RSP, RFLAGS (IOPL 3, IF 0), CS, RIP.
    pushq $0x23
    pushq $0x70000
    pushq $0x3002
    pushq $0x1b
    lea user(%rip), %rax
    push %rax
    iretq

user:
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
    lea s0(%rip), %rsi
    call puts
    call print_hex
    lea s1(%rip), %rsi
    call puts
    mov %r15, %rax
    call print_hex
    mov $'\n', %al
    call putc
    mov $0x24, %al
    jmp exit

    .include "compute_kernel.s"
    .include "lib.s"
    .balign 8
gdt:
    .quad 0
    .quad 0x00af9b000000ffff    # 0x08 kernel code 64
    .quad 0x00cf93000000ffff    # 0x10 kernel data
    .quad 0x00affb000000ffff    # 0x18 user code 64 (DPL 3)
    .quad 0x00cff3000000ffff    # 0x20 user data (DPL 3)
gdtr:
    .word gdtr - gdt - 1
    .quad gdt
s0: .asciz "cycles "
s1: .asciz " checksum "
