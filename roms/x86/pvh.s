# pvh.s: a PVH kernel: an ELF64 image with Xen's PHYS32_ENTRY note (type 18), entered in 32-bit
# protected mode with paging off and EBX = the hvm_start_info. Checks and prints:
#  - the CPU state: CR0.PE set, CR0.PG and EFER.LMA clear;
#  - start info magic 0x336ec578 and version >= 1;
#  - the command line (printed between quotes);
#  - the memory map: how many entries, and that one RAM entry (type 1) covers 1 MiB, where the
#    kernel is;
#  - module 0 (the initrd): its size, and that it starts with "MIMIC-INITRD".
# Output: "pvh: protected mode, paging off\npvh: start info v<n>\npvh: cmdline '<...>'\n
# pvh: memmap <n> entries, ram at 1M\npvh: module 0 <size> bytes 'MIMIC-INITRD'\n", exit value
# 0x2a (status 0x55); "FAIL: ..." and 0x08 otherwise.
    .section .note.Xen, "a", @note
    .balign 4
    .long 4                     # name size ("Xen\0")
    .long 4                     # descriptor size
    .long 18                    # XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .long pvh_start

    .text
    .code32
    .globl pvh_start
pvh_start:
    mov $0x80000, %esp
    mov %ebx, %edi              # start info
    lea s_fail_state, %esi
    mov %cr0, %eax
    test $1, %eax               # PE
    jz fail
    test $0x80000000, %eax      # PG
    jnz fail
    mov $0xc0000080, %ecx       # EFER
    rdmsr
    test $0x400, %eax           # LMA
    jnz fail
    lea s_state, %esi
    call puts

    lea s_fail_magic, %esi
    cmpl $0x336ec578, (%edi)
    jne fail
    cmpl $1, 4(%edi)
    jb fail
    lea s_version, %esi
    call puts
    mov 4(%edi), %eax
    call print_hex
    mov $'\n', %al
    call putc

    lea s_cmdline, %esi
    call puts
    mov 24(%edi), %esi          # cmdline_paddr (below 4 GiB: the high half is checked below)
    lea s_fail_cmdline, %eax
    cmpl $0, 28(%edi)
    jne fail_eax
    test %esi, %esi
    jz fail_eax
    call puts
    lea s_quote_nl, %esi
    call puts

    # Memory map: entries of 24 bytes (addr, size, type, reserved).
    lea s_fail_memmap, %esi
    mov 48(%edi), %ecx          # entries
    test %ecx, %ecx
    jz fail
    mov 40(%edi), %ebx          # memmap_paddr
    xor %edx, %edx              # found RAM at 1M
1:  cmpl $1, 16(%ebx)
    jne 2f
    cmpl $0, 4(%ebx)            # addr < 4 GiB
    jne 2f
    mov (%ebx), %eax
    cmp $0x100000, %eax
    ja 2f
    add 8(%ebx), %eax           # end (low 32 bits; the high half only makes it larger)
    cmp $0x100000, %eax
    ja 3f
    cmpl $0, 12(%ebx)
    je 2f
3:  mov $1, %edx
2:  add $24, %ebx
    dec %ecx
    jnz 1b
    test %edx, %edx
    jz fail
    lea s_memmap, %esi
    call puts
    mov 48(%edi), %eax
    call print_hex
    lea s_memmap2, %esi
    call puts

    # Module 0: paddr, size, cmdline_paddr, reserved (64-bit each).
    lea s_fail_module, %esi
    cmpl $1, 12(%edi)           # nr_modules
    jne fail
    mov 16(%edi), %ebx          # modlist_paddr
    mov (%ebx), %eax            # module paddr
    call is_marker
    jne fail
    lea s_module, %esi
    call puts
    mov 8(%ebx), %eax
    call print_hex
    lea s_module2, %esi
    call puts
    mov $0x2a, %al
    jmp exit

fail_eax:
    mov %eax, %esi
fail:
    call print_fail
    mov $0x08, %al
    jmp exit

    .include "lib32.s"
s_state:        .asciz "pvh: protected mode, paging off\n"
s_version:      .asciz "pvh: start info v"
s_cmdline:      .asciz "pvh: cmdline '"
s_quote_nl:     .asciz "'\n"
s_memmap:       .asciz "pvh: memmap "
s_memmap2:      .asciz " entries, ram at 1M\n"
s_module:       .asciz "pvh: module 0 "
s_module2:      .asciz " bytes 'MIMIC-INITRD'\n"
s_fail_state:   .asciz "not in 32-bit protected mode without paging"
s_fail_magic:   .asciz "start info magic/version"
s_fail_cmdline: .asciz "no command line"
s_fail_memmap:  .asciz "memory map has no RAM entry at 1 MiB"
s_fail_module:  .asciz "module 0 is not the initrd"
