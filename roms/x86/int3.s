# int3.s: INT3, FWAIT, LDMXCSR and STMXCSR in ring 0. INT3 must reach the #BP handler (vector 3) with the pushed
# RIP just past it; FWAIT must do nothing. Exits with value 0x26 (status 0x4d) after printing
# "int3 -> #BP x2, fwait ok, mxcsr ok"; any other vector, a wrong return address or MXCSR
# value exits with 0x05. LDMXCSR/STMXCSR must round-trip MXCSR.
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
    # LDMXCSR/STMXCSR (RIP-relative and base-register operands): reset value, then FZ set.
    stmxcsr mx0(%rip)
    cmpl $0x1f80, mx0(%rip)
    jne bad
    movl $0x9f80, mx1(%rip)
    ldmxcsr mx1(%rip)
    lea mx2(%rip), %rbx
    stmxcsr (%rbx)
    cmpl $0x9f80, mx2(%rip)
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

    .include "idt.s"

    .include "lib.s"
    .balign 8
hits: .long 0
mx0:  .long 0
mx1:  .long 0
mx2:  .long 0
idtr: .word 4095
      .quad IDT
s_ok:  .asciz "int3 -> #BP x2, fwait ok, mxcsr ok\n"
s_bad: .asciz "FAIL: unexpected interrupt or #BP return address\n"
