# lib.s: helpers shared by the bare-metal x86-64 test guests: polled 16550 output on port 0x3f8,
# hex printing, and power-off through isa-debug-exit (port 0xf4, status (v << 1) | 1).
# Only port I/O: the same code works at ring 0 and at ring 3 with IOPL 3, under any accelerator.

# putc: print %al. Clobbers %dx.
putc:
    push %rax
1:  mov $0x3fd, %dx             # LSR
    in %dx, %al
    test $0x20, %al             # THR empty?
    jz 1b
    pop %rax
    mov $0x3f8, %dx
    out %al, %dx
    ret

# puts: print the NUL-terminated string at %rsi. Clobbers %rsi, %dx.
puts:
    push %rax
1:  lodsb
    test %al, %al
    jz 2f
    call putc
    jmp 1b
2:  pop %rax
    ret

# print_hex / print_hex32 / print_hex16: print the low 16 / 8 / 4 hex digits of %rax. Clobbers %dx.
print_hex:
    push %rax
    push %rbx
    push %rcx
    mov %rax, %rbx
    mov $16, %ecx
    jmp 1f
print_hex32:
    push %rax
    push %rbx
    push %rcx
    mov %rax, %rbx
    shl $32, %rbx
    mov $8, %ecx
    jmp 1f
print_hex16:
    push %rax
    push %rbx
    push %rcx
    mov %rax, %rbx
    shl $48, %rbx
    mov $4, %ecx
1:  rol $4, %rbx
    mov %bl, %al
    and $0xf, %al
    add $'0', %al
    cmp $'9', %al
    jbe 2f
    add $('a' - '9' - 1), %al
2:  call putc
    dec %ecx
    jnz 1b
    pop %rcx
    pop %rbx
    pop %rax
    ret

# print_fail: print "FAIL: ", the string at %rsi and a newline. Clobbers %rsi, %al, %dx.
print_fail:
    push %rsi
    lea s_fail(%rip), %rsi
    call puts
    pop %rsi
    call puts
    mov $'\n', %al
    jmp putc
s_fail: .asciz "FAIL: "

# exit: power off with isa-debug-exit value %al (process status (al << 1) | 1). Never returns.
exit:
    mov $0xf4, %dx
    out %al, %dx
1:  hlt
    jmp 1b
