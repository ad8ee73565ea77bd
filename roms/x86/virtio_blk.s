# virtio_blk.s: a real virtqueue round trip with the virtio-blk device in virtio-mmio slot 0
# (0xfeb00000, GSI 5), as a bare-metal driver would do it:
#  - prints the kernel command line the VMM wrote (it announces the slots to Linux);
#  - resets the device, negotiates VIRTIO_F_VERSION_1 only, sets up split queue 0 (8 entries)
#    in guest RAM, DRIVER_OK;
#  - reads the capacity from the configuration space;
#  - READ: sectors 1-2 into a buffer filled with 0xaa (header, device-writable data, status),
#    notifies, polls the used ring, then waits in HLT for the used-buffer interrupt routed
#    IOAPIC pin 5 -> vector 0x30 (level-triggered; the handler acks InterruptStatus, then EOIs);
#    checks used id/len (1024 data + 1 status), the status byte and every data word against
#    the disk pattern the test wrote: word at disk offset o = (o * 0x9e3779b1) ^ 0x5a5a5a5a;
#  - WRITE: sector 4 with words (o * 0x85ebca6b) (the test checks the image file afterwards);
#  - slot 1 must be virtio-rng (device ID 4) and slot 2 empty (ID 0).
# Exits with value 0x25 (status 0x4b) on success, 0x04 after printing "FAIL: ...".
# Accelerator-agnostic: only port I/O, MMIO and interrupts.
    .code64
    .globl _start
    .set IDT,    0x210000
    .set DESC,   0x300000           # 8 x 16 bytes
    .set AVAIL,  0x301000           # flags, idx, ring[8], used_event
    .set USED,   0x302000           # flags, idx, ring[8] x (id, len), avail_event
    .set HDR,    0x303000           # virtio_blk_req header: type, reserved, sector
    .set STATUS, 0x303100
    .set DATA,   0x304000           # 1024 bytes
    .set VIRTIO, 0xfeb00000
    .set LAPIC,  0xfee00000
    .set VECTOR, 0x30
    .set QSIZE,  8
_start:
    mov $0x80000, %rsp
    mov %rsi, %r15              # zero page
    # Command line (boot_params.hdr.cmd_line_ptr at 0x228).
    lea s_cmd(%rip), %rsi
    call puts
    mov 0x228(%r15), %esi
    call puts
    mov $'\n', %al
    call putc

    # IDT: everything unexpected except the virtio vector and the spurious one; IOAPIC pin 5:
    # vector 0x30, active high, level, unmasked; the 8259s masked.
    mov $VECTOR, %edi
    lea virtio_irq(%rip), %rsi
    mov $5, %edx
    mov $(VECTOR | 0x8000), %ecx
    call setup_ioapic_irq

    # The three slots' identities.
    mov $VIRTIO, %r12d          # zero-extended: a 32-bit displacement would sign-extend
    cmpl $0x74726976, (%r12)
    jne fail_magic
    cmpl $2, 4(%r12)
    jne fail_magic
    cmpl $2, 8(%r12)            # block
    jne fail_id
    cmpl $4, 0x208(%r12)        # slot 1: entropy
    jne fail_id
    cmpl $0, 0x408(%r12)        # slot 2: empty
    jne fail_id

    # Initialisation (virtio 1.x 3.1.1).
    movl $0, 0x70(%r12)         # reset
    movl $1, 0x70(%r12)         # ACKNOWLEDGE
    movl $3, 0x70(%r12)         # DRIVER
    movl $1, 0x14(%r12)         # DeviceFeaturesSel = 1
    testl $1, 0x10(%r12)        # VERSION_1 (bit 32) offered?
    jz fail_features
    movl $0, 0x24(%r12)         # DriverFeaturesSel = 0
    movl $0, 0x20(%r12)
    movl $1, 0x24(%r12)
    movl $1, 0x20(%r12)         # VERSION_1
    movl $0xb, 0x70(%r12)       # FEATURES_OK
    testl $8, 0x70(%r12)
    jz fail_features

    # Queue 0 in zeroed RAM.
    mov $DESC, %edi
    mov $(0x3000 / 8), %ecx
    xor %eax, %eax
    rep stosq
    movl $0, 0x30(%r12)         # QueueSel
    cmpl $QSIZE, 0x34(%r12)     # QueueNumMax >= 8
    jb fail_queue
    cmpl $0, 0x44(%r12)         # not ready yet
    jne fail_queue
    movl $QSIZE, 0x38(%r12)
    movl $DESC, 0x80(%r12)
    movl $0, 0x84(%r12)
    movl $AVAIL, 0x90(%r12)
    movl $0, 0x94(%r12)
    movl $USED, 0xa0(%r12)
    movl $0, 0xa4(%r12)
    movl $1, 0x44(%r12)         # QueueReady
    cmpl $1, 0x44(%r12)
    jne fail_queue
    movl $0xf, 0x70(%r12)       # DRIVER_OK

    # Capacity (config offset 0, 64-bit, read as two words).
    lea s_cap(%rip), %rsi
    call puts
    mov 0x104(%r12), %eax
    shl $32, %rax
    mov 0x100(%r12), %ecx
    or %rcx, %rax
    call print_hex
    mov $'\n', %al
    call putc

    # READ sectors 1-2 into DATA (pre-filled with 0xaa), status pre-set to 0xff.
    mov $DATA, %edi
    mov $1024, %ecx
    mov $0xaa, %al
    rep stosb
    movb $0xff, STATUS
    movl $0, HDR                # VIRTIO_BLK_T_IN
    movl $0, HDR + 4
    movq $1, HDR + 8            # sector 1
    mov $0, %ebx                # head descriptor 0
    mov $2, %edx                # data: NEXT | WRITE
    call post
    sti
    movl $0, 0x50(%r12)         # QueueNotify 0
    mov $1, %eax
    call wait_used
    call wait_irq
    # Used element 0: id 0, len 1025.
    cmpl $0, USED + 4
    jne fail_used
    cmpl $1025, USED + 8
    jne fail_used
    cmpb $0, STATUS
    jne fail_status
    # Compare 256 words against the pattern.
    xor %ecx, %ecx
2:  lea 512(,%rcx,4), %eax      # disk offset of word rcx
    imul $0x9e3779b1, %eax, %eax
    xor $0x5a5a5a5a, %eax
    cmp DATA(,%rcx,4), %eax
    jne fail_data
    inc %ecx
    cmp $256, %ecx
    jne 2b
    lea s_read(%rip), %rsi
    call puts
    mov DATA, %rax
    call print_hex
    mov $'\n', %al
    call putc

    # WRITE sector 4 from DATA: word at disk offset o = o * 0x85ebca6b.
    xor %ecx, %ecx
3:  lea 2048(,%rcx,4), %eax
    imul $0x85ebca6b, %eax, %eax
    mov %eax, DATA(,%rcx,4)
    inc %ecx
    cmp $128, %ecx
    jne 3b
    movb $0xff, STATUS
    movl $1, HDR                # VIRTIO_BLK_T_OUT
    movq $4, HDR + 8
    mov $3, %ebx                # head descriptor 3
    mov $0, %edx                # data: NEXT only (device-readable)
    movl $512, %r8d
    call post_len
    movl $0, 0x50(%r12)
    mov $2, %eax
    call wait_used
    call wait_irq
    cmpl $3, USED + 12
    jne fail_used
    cmpl $1, USED + 16          # only the status byte was written
    jne fail_used
    cmpb $0, STATUS
    jne fail_status
    cli
    lea s_write(%rip), %rsi
    call puts
    mov irqs(%rip), %eax
    call print_hex
    mov $'\n', %al
    call putc
    mov $0x25, %al
    jmp exit

# post: a 3-descriptor chain from head %ebx (header, 1024-byte DATA with extra flags %edx,
# STATUS), published in the avail ring. post_len: the same with %r8d data bytes.
post:
    mov $1024, %r8d
post_len:
    mov %ebx, %edi
    shl $4, %edi
    add $DESC, %edi
    movq $HDR, (%rdi)
    movl $16, 8(%rdi)
    movw $1, 12(%rdi)           # NEXT
    lea 1(%rbx), %eax
    mov %ax, 14(%rdi)
    movq $DATA, 16(%rdi)
    mov %r8d, 24(%rdi)
    lea 1(%rdx), %eax           # NEXT | flags
    mov %ax, 28(%rdi)
    lea 2(%rbx), %eax
    mov %ax, 30(%rdi)
    movq $STATUS, 32(%rdi)
    movl $1, 40(%rdi)
    movw $2, 44(%rdi)           # WRITE
    movw $0, 46(%rdi)
    # avail.ring[idx % QSIZE] = head; then idx++ (x86 stores are ordered).
    movzwl AVAIL + 2, %eax
    mov %eax, %ecx
    and $(QSIZE - 1), %ecx
    mov %bx, AVAIL + 4(,%rcx,2)
    inc %eax
    mov %ax, AVAIL + 2
    ret

ignore:
    iretq

unexpected:
    lea s_unexp(%rip), %rsi
    jmp fail

fail_magic:
    lea s_magic(%rip), %rsi
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
fail_status:
    lea s_status(%rip), %rsi
    jmp fail
fail_data:
    lea s_data(%rip), %rsi
    jmp fail
fail_poll:
    lea s_poll(%rip), %rsi
fail:
    call print_fail
    mov $0x04, %al
    jmp exit

    .include "idt.s"
    .include "ioapic_irq.s"
    .include "virtq.s"

    .include "lib.s"
    .balign 8
irqs: .long 0
idtr: .word 4095
      .quad IDT
s_cmd:    .asciz "cmdline: "
s_cap:    .asciz "virtio-blk capacity "
s_read:   .asciz "virtio-blk read ok, first word "
s_write:  .asciz "virtio-blk write ok, used-buffer interrupts "
s_unexp:  .asciz "unexpected interrupt"
s_magic:  .asciz "slot 0 magic/version"
s_id:     .asciz "device IDs (want blk, rng, empty)"
s_feat:   .asciz "feature negotiation"
s_queue:  .asciz "queue setup"
s_used:   .asciz "used ring element"
s_status: .asciz "request status"
s_data:   .asciz "read data differs from the disk image"
s_poll:   .asciz "used ring never advanced"
