# ioapic_irq.s: interrupt set-up for the x86-64 test guests that take one device interrupt through
# the IOAPIC. The including guest includes idt.s and defines IDT, `idtr`, and the handlers
# `unexpected` (every other vector) and `ignore` (the local APIC's spurious vector 0xff).

# setup_ioapic_irq: IDT gate %edi -> handler %rsi, every other gate -> unexpected, 0xff -> ignore,
# IDTR loaded; the 8259s initialised and masked (the ISA GSIs reach them too); IOAPIC pin %edx ->
# redirection entry low word %ecx (vector | trigger/polarity bits, see ioapic_route).
# Clobbers %rax, %rcx, %rdx, %rsi, %rdi.
setup_ioapic_irq:
    push %rdx
    push %rcx
    push %rdi
    push %rsi
    lea unexpected(%rip), %rsi
    call fill_idt
    pop %rsi
    pop %rdi
    call set_gate
    mov $0xff, %edi
    lea ignore(%rip), %rsi
    call set_gate
    lidt idtr(%rip)
    call init_8259s
    pop %rsi
    pop %rdi
    jmp ioapic_route
