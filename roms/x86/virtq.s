# virtq.s: waiting for a virtio-mmio device's used ring, and its interrupt handler, shared by the
# x86-64 test guests that drive one split virtqueue. The including guest defines VIRTIO (the
# slot's MMIO base), LAPIC, USED (its used ring), a dword `irqs` and a `fail_poll` label.

# wait_used: poll until used.idx reaches %ax (bounded; fails after ~100M polls).
wait_used:
    mov $100000000, %ecx
1:  cmpw %ax, USED + 2
    je 2f
    pause
    dec %ecx
    jnz 1b
    jmp fail_poll
2:  ret

# wait_irq: HLT until the interrupt handler has counted one more interrupt than before the
# last request (irqs >= used.idx). sti;hlt is atomic, so a wakeup cannot be missed.
wait_irq:
    movzwl USED + 2, %eax
1:  cli
    cmp %eax, irqs(%rip)
    jae 2f
    sti
    hlt
    jmp 1b
2:  sti
    ret

virtio_irq:
    push %rax
    push %r12
    mov $VIRTIO, %r12d
    mov 0x60(%r12), %eax        # InterruptStatus
    mov %eax, 0x64(%r12)        # InterruptACK (drops the level line)
    test $1, %eax
    jz 1f
    incl irqs(%rip)
1:  mov $LAPIC, %eax
    movl $0, 0xb0(%rax)         # EOI
    pop %r12
    pop %rax
    iretq

