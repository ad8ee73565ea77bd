# irq.s: an interrupt through the irqchip: the 8259 PIC (remapped to vector 0x20) in
# virtual-wire mode through the local APIC (LINT0 = ExtINT), driven by PIT channel 0 at ~100 Hz.
# Waits in HLT for three timer interrupts, then exits with value 0x22 (status 0x45). Any other
# vector prints its number and exits with 0x03.
    .code64
    .globl _start
    .set IDT, 0x210000
_start:
    mov $0x80000, %rsp
    lea unexpected(%rip), %rsi  # every vector -> unexpected
    call fill_idt
    mov $0x20, %edi
    lea timer(%rip), %rsi
    call set_gate
    mov $0x27, %edi             # PIC spurious IRQ7
    lea ignore(%rip), %rsi
    call set_gate
    mov $0xff, %edi             # APIC spurious vector
    lea ignore(%rip), %rsi
    call set_gate
    lidt idtr(%rip)

    # Local APIC: software-enable (spurious vector 0xff), LINT0 = ExtINT unmasked.
    mov $0xfee00000, %eax
    movl $0x1ff, 0xf0(%rax)
    movl $0x700, 0x350(%rax)

    # 8259 pair at vectors 0x20/0x28; unmask IRQ0 only.
    call init_8259s
    mov $0xfe, %al
    out %al, $0x21

    # PIT channel 0, mode 2 (rate generator), divisor 11932 (~100 Hz).
    mov $0x34, %al
    out %al, $0x43
    mov $(11932 & 0xff), %al
    out %al, $0x40
    mov $(11932 >> 8), %al
    out %al, $0x40

    sti
2:  hlt
    cmpl $3, ticks(%rip)
    jb 2b
    cli
    lea done(%rip), %rsi
    call puts
    mov $0x22, %al
    jmp exit

timer:
    push %rax
    incl ticks(%rip)
    mov $0x20, %al              # EOI to the master PIC
    out %al, $0x20
    pop %rax
    iretq

ignore:
    iretq

unexpected:
    lea unexp(%rip), %rsi
    call puts
    mov $0x03, %al
    jmp exit

    .include "idt.s"

    .include "lib.s"
    .balign 8
ticks: .long 0
idtr: .word 4095
      .quad IDT
done:  .asciz "timer irq0 x3 via PIT -> PIC -> LAPIC\n"
unexp: .asciz "FAIL: unexpected interrupt\n"
