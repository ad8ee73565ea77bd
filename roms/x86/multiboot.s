# multiboot.s: a multiboot (v1) kernel, built as an ELF32: the header (magic 0x1BADB002, flags
# "page-align modules" and "memory information", checksum) in the first 8 KiB; entered in 32-bit
# protected mode with paging off, EAX = 0x2BADB002, EBX = the multiboot information. Checks and
# prints:
#  - EAX; the information flags: mem_lower/upper (bit 0), cmdline (2), mmap (6);
#  - mem_lower and mem_upper in KiB (hex);
#  - the command line (between quotes);
#  - the memory map: entry count, and one RAM entry (type 1) covering 1 MiB;
#  - module 0 (the initrd, flag 3): its size and that it starts with "MIMIC-INITRD";
#  - the boot loader name.
# Exit value 0x2b (status 0x57); "FAIL: ..." and 0x09 otherwise.
    .section .multiboot, "a"
    .balign 4
    .long 0x1badb002
    .long 0x00000003
    .long -(0x1badb002 + 0x00000003)

    .text
    .code32
    .globl _start
_start:
    mov $0x80000, %esp
    mov %ebx, %edi              # multiboot information
    lea s_fail_magic, %esi
    cmp $0x2badb002, %eax
    jne fail
    lea s_magic, %esi
    call puts
    mov (%edi), %eax            # flags
    and $0x45, %eax             # mem, cmdline, mmap
    lea s_fail_flags, %esi
    cmp $0x45, %eax
    jne fail

    lea s_mem, %esi
    call puts
    mov 4(%edi), %eax
    call print_hex
    lea s_mem2, %esi
    call puts
    mov 8(%edi), %eax
    call print_hex
    mov $'\n', %al
    call putc

    lea s_cmdline, %esi
    call puts
    mov 16(%edi), %esi
    call puts
    lea s_quote_nl, %esi
    call puts

    # mmap: entries of (size, base_addr u64, length u64, type); the next is size + 4 further.
    lea s_fail_mmap, %esi
    mov 48(%edi), %ebx          # mmap_addr
    mov %ebx, %ebp
    add 44(%edi), %ebp          # end
    xor %ecx, %ecx              # entries
    xor %edx, %edx              # found RAM at 1M
1:  cmp %ebp, %ebx
    jae 4f
    inc %ecx
    cmpl $1, 20(%ebx)
    jne 2f
    cmpl $0, 8(%ebx)            # base < 4 GiB
    jne 2f
    mov 4(%ebx), %eax
    cmp $0x100000, %eax
    ja 2f
    add 12(%ebx), %eax
    cmp $0x100000, %eax
    ja 3f
    cmpl $0, 16(%ebx)
    je 2f
3:  mov $1, %edx
2:  add (%ebx), %ebx
    add $4, %ebx
    jmp 1b
4:  test %edx, %edx
    jz fail
    lea s_mmap, %esi
    call puts
    mov %ecx, %eax
    call print_hex
    lea s_mmap2, %esi
    call puts

    # Module 0: mod_start, mod_end, string, reserved.
    lea s_fail_module, %esi
    testl $0x8, (%edi)
    jz fail
    cmpl $1, 20(%edi)           # mods_count
    jne fail
    mov 24(%edi), %ebx          # mods_addr
    mov (%ebx), %eax
    test $0xfff, %eax           # page-aligned, as the header asked
    jnz fail
    call is_marker
    jne fail
    lea s_module, %esi
    call puts
    mov 4(%ebx), %eax
    sub (%ebx), %eax
    call print_hex
    lea s_module2, %esi
    call puts

    lea s_fail_name, %esi
    testl $0x200, (%edi)
    jz fail
    lea s_name, %esi
    call puts
    mov 64(%edi), %esi
    call puts
    mov $'\n', %al
    call putc
    mov $0x2b, %al
    jmp exit

fail:
    call print_fail
    mov $0x09, %al
    jmp exit

    .include "lib32.s"
s_magic:       .asciz "multiboot: eax 2badb002\n"
s_mem:         .asciz "multiboot: mem_lower "
s_mem2:        .asciz " KiB, mem_upper "
s_cmdline:     .asciz "multiboot: cmdline '"
s_quote_nl:    .asciz "'\n"
s_mmap:        .asciz "multiboot: mmap "
s_mmap2:       .asciz " entries, ram at 1M\n"
s_module:      .asciz "multiboot: module 0 "
s_module2:     .asciz " bytes 'MIMIC-INITRD'\n"
s_name:        .asciz "multiboot: loader "
s_fail_magic:  .asciz "EAX is not 0x2BADB002"
s_fail_flags:  .asciz "information flags lack mem/cmdline/mmap"
s_fail_mmap:   .asciz "memory map has no RAM entry at 1 MiB"
s_fail_module: .asciz "module 0 is not the page-aligned initrd"
s_fail_name:   .asciz "no boot loader name"
