# lib32.s: lib.s for 32-bit protected-mode guests (PVH, multiboot): polled 16550 output on port
# 0x3f8, hex printing and isa-debug-exit, with 32-bit registers.

# putc: print %al. Clobbers %dx.
putc:
    push %eax
1:  mov $0x3fd, %dx             # LSR
    in %dx, %al
    test $0x20, %al             # THR empty?
    jz 1b
    pop %eax
    mov $0x3f8, %dx
    out %al, %dx
    ret

# puts: print the NUL-terminated string at %esi. Clobbers %esi, %dx.
puts:
    push %eax
1:  lodsb
    test %al, %al
    jz 2f
    call putc
    jmp 1b
2:  pop %eax
    ret

# print_hex: print %eax as 8 hex digits. Clobbers %dx.
print_hex:
    push %eax
    push %ebx
    push %ecx
    mov %eax, %ebx
    mov $8, %ecx
1:  rol $4, %ebx
    mov %bl, %al
    and $0xf, %al
    add $'0', %al
    cmp $'9', %al
    jbe 2f
    add $('a' - '9' - 1), %al
2:  call putc
    dec %ecx
    jnz 1b
    pop %ecx
    pop %ebx
    pop %eax
    ret

# print_fail: print "FAIL: ", the string at %esi and a newline. Clobbers %esi, %al, %dx.
print_fail:
    push %esi
    lea s_fail, %esi
    call puts
    pop %esi
    call puts
    mov $'\n', %al
    jmp putc
s_fail: .asciz "FAIL: "

# is_marker: ZF set if the 12 bytes at %eax are "MIMIC-INITRD" (the tests' initrd).
is_marker:
    cmpl $0x494d494d, (%eax)    # "MIMI"
    jne 1f
    cmpl $0x4e492d43, 4(%eax)   # "C-IN"
    jne 1f
    cmpl $0x44525449, 8(%eax)   # "ITRD"
1:  ret

# exit: power off with isa-debug-exit value %al (status (al << 1) | 1). Never returns.
exit:
    mov $0xf4, %dx
    out %al, %dx
1:  hlt
    jmp 1b
