# virtio_console.s: a virtqueue round trip on the transmit queue of the virtio console in
# virtio-mmio slot 0 (0xfeb00000, GSI 5; `-device virtio-serial-device`):
#  - device ID 3, VERSION_1 negotiated alone, queues 0 (receive) and 1 (transmit) of 8 entries;
#  - two transmit requests: a two-descriptor chain ("hello from " + "virtio-console\n") and a
#    one-descriptor one ("virtio-console tx 2\n"); the device writes them to the machine's
#    console, the test finds them there;
#  - each is checked in the used ring (id of the chain head, written length 0) and completed by
#    the used-buffer interrupt, IOAPIC pin 5 -> vector 0x30 (level; InterruptACK, then EOI).
# The UART then says "virtio-console tx ok, used-buffer interrupts N" and the guest exits with
# value 0x28 (status 0x51); "FAIL: ..." and value 0x06 otherwise.
    .code64
    .globl _start
    .set IDT,    0x210000
    .set DESC,   0x300000           # transmit queue: 8 x 16 bytes
    .set AVAIL,  0x301000
    .set USED,   0x302000
    .set RXDESC, 0x303000           # receive queue (set up, never used)
    .set RXAVAIL, 0x304000
    .set RXUSED, 0x305000
    .set VIRTIO, 0xfeb00000
    .set LAPIC,  0xfee00000
    .set VECTOR, 0x30
    .set QSIZE,  8
_start:
    mov $0x80000, %rsp
    # IOAPIC pin 5: vector 0x30, active high, level, unmasked; the 8259s masked.
    mov $VECTOR, %edi
    lea virtio_irq(%rip), %rsi
    mov $5, %edx
    mov $(VECTOR | 0x8000), %ecx
    call setup_ioapic_irq

    mov $VIRTIO, %r12d          # zero-extended: a 32-bit displacement would sign-extend
    cmpl $0x74726976, (%r12)
    jne fail_id
    cmpl $2, 4(%r12)
    jne fail_id
    cmpl $3, 8(%r12)            # console
    jne fail_id

    movl $0, 0x70(%r12)         # reset
    movl $1, 0x70(%r12)         # ACKNOWLEDGE
    movl $3, 0x70(%r12)         # DRIVER
    movl $1, 0x14(%r12)
    testl $1, 0x10(%r12)        # VERSION_1 offered?
    jz fail_features
    movl $0, 0x24(%r12)
    movl $0, 0x20(%r12)
    movl $1, 0x24(%r12)
    movl $1, 0x20(%r12)
    movl $0xb, 0x70(%r12)       # FEATURES_OK
    testl $8, 0x70(%r12)
    jz fail_features

    # Both queues in zeroed RAM.
    mov $DESC, %edi
    mov $(0x6000 / 8), %ecx
    xor %eax, %eax
    rep stosq
    xor %ebx, %ebx
    mov $RXDESC, %eax
    call setup_queue
    mov $1, %ebx
    mov $DESC, %eax
    call setup_queue
    movl $0xf, 0x70(%r12)       # DRIVER_OK
    sti

    # Request 1: descriptors 0 -> 1.
    mov $DESC, %edi
    lea m_hello(%rip), %rax
    mov %rax, (%rdi)
    movl $(m_hello_end - m_hello), 8(%rdi)
    movw $1, 12(%rdi)           # NEXT
    movw $1, 14(%rdi)
    lea m_vc(%rip), %rax
    mov %rax, 16(%rdi)
    movl $(m_vc_end - m_vc), 24(%rdi)
    movw $0, 28(%rdi)
    xor %eax, %eax
    call publish
    mov $1, %eax
    call wait_used
    call wait_irq
    cmpl $0, USED + 4           # id = head 0
    jne fail_used
    cmpl $0, USED + 8           # nothing written for the driver
    jne fail_used

    # Request 2: descriptor 2 alone.
    mov $DESC + 32, %edi
    lea m_tx2(%rip), %rax
    mov %rax, (%rdi)
    movl $(m_tx2_end - m_tx2), 8(%rdi)
    movw $0, 12(%rdi)
    mov $2, %eax
    call publish
    mov $2, %eax
    call wait_used
    call wait_irq
    cmpl $2, USED + 12
    jne fail_used
    cmpl $0, USED + 16
    jne fail_used
    cli
    lea s_ok(%rip), %rsi
    call puts
    mov irqs(%rip), %eax
    call print_hex
    mov $'\n', %al
    call putc
    mov $0x28, %al
    jmp exit

# setup_queue: queue %ebx with descriptors at %eax, avail at +0x1000, used at +0x2000.
setup_queue:
    mov %ebx, 0x30(%r12)        # QueueSel
    cmpl $QSIZE, 0x34(%r12)
    jb fail_queue
    cmpl $0, 0x44(%r12)
    jne fail_queue
    movl $QSIZE, 0x38(%r12)
    mov %eax, 0x80(%r12)
    movl $0, 0x84(%r12)
    add $0x1000, %eax
    mov %eax, 0x90(%r12)
    movl $0, 0x94(%r12)
    add $0x1000, %eax
    mov %eax, 0xa0(%r12)
    movl $0, 0xa4(%r12)
    movl $1, 0x44(%r12)         # QueueReady
    cmpl $1, 0x44(%r12)
    jne fail_queue
    ret

# publish: head %ax into the transmit avail ring, idx++, notify queue 1.
publish:
    movzwl AVAIL + 2, %ecx
    mov %ecx, %edx
    and $(QSIZE - 1), %edx
    mov %ax, AVAIL + 4(,%rdx,2)
    inc %ecx
    mov %cx, AVAIL + 2
    movl $1, 0x50(%r12)         # QueueNotify 1
    ret

ignore:
    iretq

unexpected:
    lea s_unexp(%rip), %rsi
    jmp fail
fail_id:
    lea s_id(%rip), %rsi
    jmp fail
fail_features:
    lea s_feat(%rip), %rsi
    jmp fail
fail_queue:
    lea s_queue(%rip), %rsi
    jmp fail
fail_used:
    lea s_used(%rip), %rsi
    jmp fail
fail_poll:
    lea s_poll(%rip), %rsi
fail:
    call print_fail
    mov $0x06, %al
    jmp exit

    .include "idt.s"
    .include "ioapic_irq.s"
    .include "virtq.s"

    .include "lib.s"
    .balign 8
irqs: .long 0
idtr: .word 4095
      .quad IDT
m_hello: .ascii "hello from "
m_hello_end:
m_vc:    .ascii "virtio-console\n"
m_vc_end:
m_tx2:   .ascii "virtio-console tx 2\n"
m_tx2_end:
s_ok:     .asciz "virtio-console tx ok, used-buffer interrupts "
s_unexp:  .asciz "unexpected interrupt"
s_id:     .asciz "slot 0 is not a virtio 1.x console"
s_feat:   .asciz "feature negotiation"
s_queue:  .asciz "queue setup"
s_used:   .asciz "used ring element"
s_poll:   .asciz "used ring never advanced"
