# int3.s: INT3 and FWAIT in ring 0. INT3 must reach the #BP handler (vector 3) with the pushed
# RIP just past it; FWAIT must do nothing. Exits with value 0x26 (status 0x4d) after printing
# "int3 -> #BP x2, fwait ok"; any other vector, or a wrong return address, exits with 0x05.
# (Some nested hosts' ring-0 emulators refuse these; the VMM then performs them.)
    .code64
    .globl _start
    .set IDT, 0x210000
_start:
    mov $0x80000, %rsp
    xor %edi, %edi
1:  lea unexpected(%rip), %rsi
    call set_gate
    inc %edi
    cmp $256, %edi
    jne 1b
    mov $3, %edi
    lea bp(%rip), %rsi
    call set_gate
    lidt idtr(%rip)
    int3
after1:
    fwait
    int3
after2:
    cmpl $2, hits(%rip)
    jne bad
    lea s_ok(%rip), %rsi
    call puts
    mov $0x26, %al
    jmp exit

# #BP handler: the saved RIP must be after1 or after2.
bp:
    push %rax
    mov 8(%rsp), %rax
    lea after1(%rip), %rsi
    cmp %rsi, %rax
    je 1f
    lea after2(%rip), %rsi
    cmp %rsi, %rax
    jne bad
1:  incl hits(%rip)
    pop %rax
    iretq

unexpected:
bad:
    lea s_bad(%rip), %rsi
    call puts
    mov $0x05, %al
    jmp exit

# set_gate: IDT gate %edi -> handler %rsi (64-bit interrupt gate, current CS).
set_gate:
    mov %edi, %eax
    shl $4, %rax
    add $IDT, %rax
    mov %si, (%rax)
    mov %cs, %dx
    mov %dx, 2(%rax)
    movw $0x8e00, 4(%rax)
    mov %rsi, %rdx
    shr $16, %rdx
    mov %dx, 6(%rax)
    shr $16, %rdx
    mov %edx, 8(%rax)
    movl $0, 12(%rax)
    ret

    .include "lib.s"
    .balign 8
hits: .long 0
idtr: .word 4095
      .quad IDT
s_ok:  .asciz "int3 -> #BP x2, fwait ok\n"
s_bad: .asciz "FAIL: unexpected interrupt or #BP return address\n"
