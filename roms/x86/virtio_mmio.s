# virtio_mmio.s: reads the identification registers of the eight virtio-mmio slots at
# 0xfeb00000 + 0x200*i through MMIO, prints slot 0's, and exits with value 0x23 (status 0x47)
# when every slot answers MagicValue "virt" and Version 2, else with 0x02.
    .code64
    .globl _start
_start:
    mov $0x80000, %rsp
    mov $0xfeb00000, %r12d      # zero-extended: a 32-bit displacement would sign-extend
    lea s0(%rip), %rsi
    call puts
    mov (%r12), %eax
    call print_hex
    lea s1(%rip), %rsi
    call puts
    mov 4(%r12), %eax
    call print_hex
    lea s2(%rip), %rsi
    call puts
    mov 8(%r12), %eax
    call print_hex
    mov $'\n', %al
    call putc
    xor %ebx, %ebx              # good slots
    mov $8, %ecx
1:  cmpl $0x74726976, (%r12)
    jne 2f
    cmpl $2, 4(%r12)
    jne 2f
    inc %ebx
2:  add $0x200, %r12
    dec %ecx
    jnz 1b
    mov %rbx, %rax
    lea s3(%rip), %rsi
    call puts
    call print_hex
    mov $'\n', %al
    call putc
    cmp $8, %ebx
    jne bad
    mov $0x23, %al
    jmp exit
bad:
    mov $0x02, %al
    jmp exit

    .include "lib.s"
s0: .asciz "virtio-mmio slot0 magic "
s1: .asciz " version "
s2: .asciz " device "
s3: .asciz "virtio-mmio slots ok: "
