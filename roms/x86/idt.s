# idt.s: IDT gate setup shared by the x86-64 test guests that take interrupts or exceptions.
# The including guest defines IDT (the table's address) and loads IDTR itself.

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
