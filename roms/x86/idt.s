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

# fill_idt: every one of the 256 gates -> handler %rsi. Clobbers %rax, %rdx, %edi.
fill_idt:
    xor %edi, %edi
1:  call set_gate
    inc %edi
    cmp $256, %edi
    jne 1b
    ret

# init_8259s: ICW1..4 for the 8259 pair (master at vectors 0x20, slave at 0x28, cascade on IRQ2),
# leaving every line masked: guests routing through the IOAPIC keep them so (the ISA GSIs reach
# the 8259s too), a guest using one unmasks it afterwards. Clobbers %al.
init_8259s:
    mov $0x11, %al
    out %al, $0x20
    out %al, $0xa0
    mov $0x20, %al
    out %al, $0x21
    mov $0x28, %al
    out %al, $0xa1
    mov $0x04, %al
    out %al, $0x21
    mov $0x02, %al
    out %al, $0xa1
    mov $0x01, %al
    out %al, $0x21
    out %al, $0xa1
    mov $0xff, %al
    out %al, $0x21
    out %al, $0xa1
    ret

# ioapic_route: the local APIC software-enabled (spurious vector 0xff) with LINT0 masked, and
# IOAPIC pin %edi -> redirection entry low word %esi (vector | trigger/polarity bits), fixed
# delivery to APIC 0. Clobbers %eax, %edx.
ioapic_route:
    mov $0xfee00000, %eax
    movl $0x1ff, 0xf0(%rax)
    movl $0x10000, 0x350(%rax)
    mov $0xfec00000, %eax
    lea 0x11(,%rdi,2), %edx     # high word of entry %edi: destination APIC 0
    mov %edx, (%rax)
    movl $0, 0x10(%rax)
    dec %edx
    mov %edx, (%rax)
    mov %esi, 0x10(%rax)
    ret
