# compute_kernel.s: the benchmark's compute kernel, shared by the ring-3 guest and the native host
# program: %rdi iterations of xorshift64 plus a multiply-accumulate; returns a checksum in %rax.
compute:
    mov $0x9e3779b97f4a7c15, %rax
    xor %r8d, %r8d
1:  mov %rax, %rcx
    shl $13, %rcx
    xor %rcx, %rax
    mov %rax, %rcx
    shr $7, %rcx
    xor %rcx, %rax
    mov %rax, %rcx
    shl $17, %rcx
    xor %rcx, %rax
    imul %rax, %r8
    add %rax, %r8
    dec %rdi
    jnz 1b
    mov %r8, %rax
    ret
