# serial_echo.s: host console input through the 16550's receive interrupt. The UART (port 0x3f8,
# IRQ 4) is set up with its FIFO (trigger level 1) and only the received-data interrupt enabled;
# IOAPIC pin 4 -> vector 0x31 (edge, as ISA IRQs are), the 8259s masked. After printing
# "serial_echo: ready\n" (the test sends its input only then) the guest waits in HLT; the
# handler drains the receiver (LSR.DR), echoes each byte with ASCII letters upper-cased and
# EOIs. A '\n' ends the run: "serial_echo: N bytes in M rx interrupts\n", then exit value 0x27
# (status 0x4f). An interrupt on any other vector prints "FAIL: ..." and exits with 0x05.
    .code64
    .globl _start
    .set IDT,    0x210000
    .set LAPIC,  0xfee00000
    .set VECTOR, 0x31
    .set COM1,   0x3f8
_start:
    mov $0x80000, %rsp
    # IOAPIC pin 4: vector 0x31, active high, edge (as ISA IRQs are), unmasked; the 8259s masked.
    mov $VECTOR, %edi
    lea uart_irq(%rip), %rsi
    mov $4, %edx
    mov $VECTOR, %ecx
    call setup_ioapic_irq

    # UART: FIFO on and cleared (trigger 1 byte), OUT2 (the PC's IRQ gate), IER = RDA only.
    mov $(COM1 + 2), %dx
    mov $0x07, %al
    out %al, %dx
    mov $(COM1 + 4), %dx
    mov $0x0b, %al              # DTR | RTS | OUT2
    out %al, %dx
    mov $(COM1 + 1), %dx
    mov $0x01, %al
    out %al, %dx

    lea s_ready(%rip), %rsi
    call puts
    # Wait for the newline; sti;hlt is atomic, so an interrupt cannot slip in between.
2:  cli
    cmpb $0, done(%rip)
    jne 3f
    sti
    hlt
    jmp 2b
3:  lea s_done(%rip), %rsi
    call puts
    mov nbytes(%rip), %eax
    call print_dec
    lea s_in(%rip), %rsi
    call puts
    mov nirqs(%rip), %eax
    call print_dec
    lea s_irqs(%rip), %rsi
    call puts
    mov $0x27, %al
    jmp exit

uart_irq:
    push %rax
    push %rdx
    incl nirqs(%rip)
1:  mov $(COM1 + 5), %dx        # LSR
    in %dx, %al
    test $1, %al                # data ready?
    jz 3f
    mov $COM1, %dx
    in %dx, %al
    cmp $'\n', %al
    jne 2f
    movb $1, done(%rip)
    call putc
    jmp 1b
2:  incl nbytes(%rip)
    cmp $'a', %al
    jb 4f
    cmp $'z', %al
    ja 4f
    sub $('a' - 'A'), %al
4:  call putc
    jmp 1b
3:  mov $LAPIC, %eax
    movl $0, 0xb0(%rax)         # EOI
    pop %rdx
    pop %rax
    iretq

ignore:
    iretq

unexpected:
    lea s_unexp(%rip), %rsi
    call puts
    mov $0x05, %al
    jmp exit

# print_dec: print %eax in decimal. Clobbers %rax, %rcx, %rdx.
print_dec:
    push %rbx
    mov $10, %ebx
    xor %ecx, %ecx
1:  xor %edx, %edx
    div %ebx
    push %rdx
    inc %ecx
    test %eax, %eax
    jnz 1b
2:  pop %rax
    add $'0', %al
    call putc
    dec %ecx
    jnz 2b
    pop %rbx
    ret

    .include "idt.s"
    .include "ioapic_irq.s"

    .include "lib.s"
    .balign 8
nbytes: .long 0
nirqs:  .long 0
done:   .byte 0
    .balign 8
idtr: .word 4095
      .quad IDT
s_ready: .asciz "serial_echo: ready\n"
s_done:  .asciz "serial_echo: "
s_in:    .asciz " bytes in "
s_irqs:  .asciz " rx interrupts\n"
s_unexp: .asciz "FAIL: unexpected interrupt\n"
