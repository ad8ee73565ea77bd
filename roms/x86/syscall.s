# syscall.s: the SYSCALL/SYSRET round trip Linux makes for every system call, laid out as Linux
# lays it out, to find what a host does with it:
#  - GDT as Linux's: 0x10 kernel CS, 0x18 kernel DS, 0x23 user32 CS, 0x2b user DS, 0x33 user CS,
#    0x40 TSS (RSP0 for exceptions taken in ring 3);
#  - page tables: 0-1 GiB identity-mapped supervisor-only (the "kernel"); 1-2 GiB a user alias
#    of the same memory, where the ring-3 code runs (user RIP = kernel address + 1 GiB);
#  - EFER.SCE, STAR = 0x23 << 48 | 0x10 << 32, LSTAR = syscall_entry (a supervisor page),
#    SFMASK = Linux's (0x257fd5: IF, TF, DF, AC, NT, IOPL and the arithmetic flags),
#    KERNEL_GS_BASE = a per-CPU block (the entry uses SWAPGS and %gs: like Linux's);
#  - ring 3 entered with IRETQ (as Linux starts init); there: STC, SYSCALL 1, which must arrive
#    in syscall_entry at CPL 0 with CS 0x10, SS 0x18, RFLAGS = 0x2 (masked), RCX = the user
#    return address, R11 = the user flags (CF set); SYSRETQ back to ring 3 (CS 0x33, SS 0x2b,
#    RAX = 0x5a5a from the handler); then SYSCALL 60 reports and exits.
#  - With --defsym PTI=1 the user runs on a second CR3 (user alias + the supervisor entry page
#    only, as with page-table isolation) and the entry switches CR3 as Linux's does.
#  - With --defsym INT80=1 the user first makes an INT 0x80 through a DPL-3 interrupt gate
#    (the 32-bit system-call path), which must arrive at CPL 0 and IRETQ back.
# Success: "syscall: entry cs:ss 00100018 rflags 0002, sysret to cs:ss 0033002b, calls 2" and
# exit value 0x29 (status 0x53). A fault prints "FAIL: vector .. error .. rip .. cs .. cr2 ..
# rflags .. rsp .. ss .. rcx .. r11 .." and exits with 0x07 (status 0x0f), except two outcomes
# named first: the CPU at LSTAR still in ring 3, so the fetch from the supervisor entry page
# faults (#PF with U set; what Linux showed on the nested PVM host): "SYSCALL reached LSTAR
# still in ring 3: ", value 0x0a (status 0x15); INT 0x80 from ring 3 refused with #UD:
# "INT 0x80 from ring 3 raised #UD: ", value 0x0b (status 0x17).
    .code64
    .globl _start
    .ifndef PTI
    .set PTI, 0
    .endif
    .ifndef INT80
    .set INT80, 0
    .endif
    .set IDT,      0x210000
    .set PML4,     0x200000         # kernel: 0-1 GiB supervisor, 1-2 GiB user alias
    .set PDPT,     0x201000
    .set PD_K,     0x202000
    .set PD_U,     0x203000
    .set PML4_U,   0x204000         # PTI user view
    .set PDPT_U,   0x205000
    .set PERCPU,   0x206000         # 0: kernel stack top, 8: user RSP scratch, 16: kernel CR3 (PTI), 24: user CR3
    .set KSTACK,   0x80000
    .set EXSTACK,  0x70000          # TSS RSP0
    .set USTACK,   0x60000
    .set ALIAS,    0x40000000
_start:
    mov $KSTACK, %rsp
    # Page directories: 512 x 2 MiB each; kernel P|W|PS, user alias P|W|U|PS.
    xor %ecx, %ecx
1:  mov %rcx, %rax
    shl $21, %rax
    lea 0x83(%rax), %rdx
    mov %rdx, PD_K(,%rcx,8)
    lea 0x87(%rax), %rdx
    mov %rdx, PD_U(,%rcx,8)
    inc %ecx
    cmp $512, %ecx
    jne 1b
    # Upper levels carry U so the leaf decides (as in Linux).
    movq $(PD_K | 0x7), PDPT
    movq $(PD_U | 0x7), PDPT + 8
    movq $(PDPT | 0x7), PML4
    # PTI user view: the user alias, and of the kernel only the first 4 MiB (entry code, GDT,
    # IDT, TSS, the per-CPU block), supervisor-only, through a page directory of its own.
    lea PD_K2(%rip), %rax
    lea 0x7(%rax), %rdx
    mov %rdx, PDPT_U
    movq $0x83, (%rax)
    movq $0x200083, 8(%rax)
    movq $(PD_U | 0x7), PDPT_U + 8
    movq $(PDPT_U | 0x7), PML4_U
    mov $PML4, %eax
    mov %rax, %cr3

    lgdt gdtr(%rip)
    # TSS descriptor (base = tss, limit 0x67, type 9 = available 64-bit TSS, present).
    lea tss(%rip), %rax
    mov %rax, %rdx
    and $0xffffff, %edx
    shl $16, %rdx
    or $0x67, %rdx
    mov $0x89, %ecx
    shl $40, %rcx
    or %rcx, %rdx
    mov %rax, %rcx
    shr $24, %rcx
    and $0xff, %ecx
    shl $56, %rcx
    or %rcx, %rdx
    mov %rdx, gdt_tss(%rip)
    mov %rax, %rdx
    shr $32, %rdx
    mov %rdx, gdt_tss + 8(%rip)
    movq $EXSTACK, tss + 4(%rip)    # RSP0
    # CS via a far return, then the data segments and the TSS.
    pushq $0x10
    lea 2f(%rip), %rax
    push %rax
    lretq
2:  mov $0x18, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %eax, %eax
    mov %ax, %fs
    mov %ax, %gs
    mov $0x40, %ax
    ltr %ax

    # IDT: a stub per exception vector (0-31) reporting the fault, everything else unexpected.
    xor %edi, %edi
3:  lea stubs(%rip), %rsi
    mov %edi, %eax
    shl $4, %eax
    add %rax, %rsi
    cmp $32, %edi
    jb 4f
    lea unexpected(%rip), %rsi
4:  call set_gate
    inc %edi
    cmp $256, %edi
    jne 3b
    mov $0x80, %edi             # the 32-bit system-call gate, reachable from ring 3
    lea int80_entry(%rip), %rsi
    call set_gate
    movb $0xee, IDT + 0x80 * 16 + 5
    lidt idtr(%rip)

    # Per-CPU block.
    movq $KSTACK, PERCPU
    movq $0, PERCPU + 8
    .if PTI
    movq $PML4, PERCPU + 16
    movq $PML4_U, PERCPU + 24
    .else
    movq $0, PERCPU + 16
    movq $0, PERCPU + 24
    .endif

    # SYSCALL MSRs.
    mov $0xc0000080, %ecx       # EFER.SCE
    rdmsr
    or $1, %eax
    wrmsr
    mov $0xc0000081, %ecx       # STAR
    xor %eax, %eax
    mov $0x00230010, %edx
    wrmsr
    mov $0xc0000082, %ecx       # LSTAR
    lea syscall_entry(%rip), %rax
    mov %rax, %rdx
    shr $32, %rdx
    wrmsr
    mov $0xc0000084, %ecx       # SFMASK
    mov $0x257fd5, %eax
    xor %edx, %edx
    wrmsr
    mov $0xc0000102, %ecx       # KERNEL_GS_BASE
    mov $PERCPU, %eax
    xor %edx, %edx
    wrmsr

    # IRETQ to ring 3 on the user alias: SS, RSP, RFLAGS (IF 0, IOPL 0), CS, RIP.
    .if PTI
    mov $PML4_U, %eax
    mov %rax, %cr3
    .endif
    pushq $0x2b
    mov $(ALIAS + USTACK), %rax
    push %rax
    pushq $0x2
    pushq $0x33
    lea user(%rip), %rax
    add $ALIAS, %rax
    push %rax
    iretq

# Ring 3, running at the user alias (all code here is RIP-relative).
user:
    .if INT80
user_int80:
    int $0x80                   # through a DPL-3 interrupt gate first
    .endif
    stc
    mov $1, %eax
    syscall
user_ret1:
    xor %edi, %edi
    cmp $0x5a5a, %rax
    jne 1f
    inc %edi                    # rdi = 1: the handler's return value arrived
1:  mov %cs, %esi
    shl $16, %esi
    mov %ss, %ax
    movzwl %ax, %eax
    or %eax, %esi               # rsi = cs:ss after SYSRET
    mov $60, %eax
    syscall
    ud2                         # never returns

# INT 0x80 from ring 3: the CPU switches to CPL 0 through the gate (SS becomes NULL).
# Says "int 0x80: from:to cs 00330010" (interrupted CS, handler CS).
int80_entry:
    push %rax
    push %rcx
    push %rdx
    push %rsi
    lea s_int80(%rip), %rsi
    call puts
    mov 40(%rsp), %eax          # the interrupted CS (above the four pushes and RIP)
    shl $16, %eax
    mov %cs, %ecx
    or %ecx, %eax
    call print_hex32
    mov $'\n', %al
    call putc
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rax
    iretq

syscall_entry:
    swapgs
    mov %rsp, %gs:8
    cmpq $0, %gs:16
    je 1f
    mov %gs:16, %rsp            # PTI: kernel CR3
    mov %rsp, %cr3
1:  mov %gs:0, %rsp
    mov %cs, %r8d               # what the CPU made of the transition
    mov %r8w, entry_cs(%rip)
    mov %ss, %r8d
    mov %r8w, entry_ss(%rip)
    pushfq
    popq entry_flags(%rip)
    incl ncalls(%rip)
    cmp $60, %eax
    je report
    # SYSCALL 1: RCX must be the user return address, R11 the user flags with CF.
    mov %rcx, entry_rcx(%rip)
    mov %r11, entry_r11(%rip)
    mov $0x5a5a, %eax
    cmpq $0, %gs:24
    je 2f
    mov %gs:24, %rsp            # PTI: back to the user CR3
    mov %rsp, %cr3
2:  mov %gs:8, %rsp
    swapgs
    sysretq

report:
    mov %rdi, %r12              # user's verdict on the return value
    mov %rsi, %r13              # user's cs:ss
    lea s_entry(%rip), %rsi
    call puts
    movzwl entry_cs(%rip), %eax
    shl $16, %eax
    movzwl entry_ss(%rip), %ecx
    or %ecx, %eax
    call print_hex32
    lea s_flags(%rip), %rsi
    call puts
    mov entry_flags(%rip), %rax
    call print_hex16
    lea s_sysret(%rip), %rsi
    call puts
    mov %r13d, %eax
    call print_hex32
    lea s_calls(%rip), %rsi
    call puts
    mov ncalls(%rip), %eax
    add $'0', %al
    call putc
    mov $'\n', %al
    call putc
    # Verdict.
    lea s_bad_entry(%rip), %rsi
    cmpw $0x10, entry_cs(%rip)
    jne fail
    cmpw $0x18, entry_ss(%rip)
    jne fail
    cmpq $2, entry_flags(%rip)
    jne fail
    lea s_bad_rcx(%rip), %rsi
    lea user_ret1(%rip), %rax
    add $ALIAS, %rax
    cmp %rax, entry_rcx(%rip)
    jne fail
    testq $1, entry_r11(%rip)
    jz fail
    lea s_bad_ret(%rip), %rsi
    cmp $1, %r12
    jne fail
    cmp $0x0033002b, %r13d
    jne fail
    mov $0x29, %al
    jmp exit

fail:
    call print_fail
    mov $0x07, %al
    jmp exit

# Exception stubs, 16 bytes apart: push a zero error code where the CPU does not, then the
# vector. Vectors with an error code: 8, 10-14, 17, 21, 29, 30.
    .balign 16
stubs:
    .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .balign 16
    .if (\v == 8) || (\v >= 10 && \v <= 14) || (\v == 17) || (\v == 21) || (\v == 29) || (\v == 30)
    pushq $\v
    .else
    pushq $0
    pushq $\v
    .endif
    jmp exception
    .endr

# Frame: vector, error code, RIP, CS, RFLAGS, RSP, SS. Two outcomes are recognised by name:
# the CPU at LSTAR still in ring 3 (#PF on the supervisor entry page), and INT 0x80 from
# ring 3 refused with #UD; both then exit with their own value after the register report.
exception:
    mov $0x07, %bl              # exit value: plain failure
    testb $3, 24(%rsp)
    jz 2f                       # from ring 0: not one of the two
    lea syscall_entry(%rip), %rax
    cmpq $14, (%rsp)
    jne 1f
    cmp %rax, 16(%rsp)
    jne 2f
    lea s_defect_syscall(%rip), %rsi
    call puts
    mov $0x0a, %bl
    jmp 2f
1:  cmpq $6, (%rsp)
    jne 2f
    .if INT80
    lea user_int80(%rip), %rax
    add $ALIAS, %rax
    cmp %rax, 16(%rsp)
    jne 2f
    lea s_defect_int80(%rip), %rsi
    call puts
    mov $0x0b, %bl
    .endif
2:
    lea s_fail(%rip), %rsi
    call puts
    lea s_vec(%rip), %rsi
    call puts
    mov (%rsp), %rax
    call print_hex
    lea s_err(%rip), %rsi
    call puts
    mov 8(%rsp), %rax
    call print_hex
    lea s_rip(%rip), %rsi
    call puts
    mov 16(%rsp), %rax
    call print_hex
    lea s_cs(%rip), %rsi
    call puts
    mov 24(%rsp), %rax
    call print_hex
    lea s_cr2(%rip), %rsi
    call puts
    mov %cr2, %rax
    call print_hex
    lea s_fl(%rip), %rsi
    call puts
    mov 32(%rsp), %rax
    call print_hex
    lea s_rsp(%rip), %rsi
    call puts
    mov 40(%rsp), %rax
    call print_hex
    lea s_ss(%rip), %rsi
    call puts
    mov 48(%rsp), %rax
    call print_hex
    lea s_rcx(%rip), %rsi
    call puts
    mov %rcx, %rax
    call print_hex
    lea s_r11(%rip), %rsi
    call puts
    mov %r11, %rax
    call print_hex
    mov $'\n', %al
    call putc
    mov %bl, %al
    jmp exit

unexpected:
    lea s_unexp(%rip), %rsi
    jmp fail

    .include "idt.s"
    .include "lib.s"

    .balign 8
entry_cs:    .word 0
entry_ss:    .word 0
    .balign 8
entry_flags: .quad 0
entry_rcx:   .quad 0
entry_r11:   .quad 0
ncalls:      .long 0
    .balign 8
gdt:
    .quad 0
    .quad 0x00cf9b000000ffff    # 0x08 kernel code 32
    .quad 0x00af9b000000ffff    # 0x10 kernel code 64
    .quad 0x00cf93000000ffff    # 0x18 kernel data
    .quad 0x00cffb000000ffff    # 0x23 user code 32
    .quad 0x00cff3000000ffff    # 0x2b user data
    .quad 0x00affb000000ffff    # 0x33 user code 64
    .quad 0
gdt_tss:
    .quad 0, 0                  # 0x40 TSS (filled in at run time)
gdtr:
    .word gdtr - gdt - 1
    .quad gdt
idtr:
    .word 4095
    .quad IDT
    .balign 16
tss:
    .fill 0x68, 1, 0
    .balign 4096
PD_K2:
    .fill 4096, 1, 0
s_int80:     .asciz "int 0x80: from:to cs "
s_entry:     .asciz "syscall: entry cs:ss "
s_flags:     .asciz " rflags "
s_sysret:    .asciz ", sysret to cs:ss "
s_calls:     .asciz ", calls "
s_bad_entry: .asciz "SYSCALL did not arrive at CPL 0 with CS 0x10, SS 0x18 and RFLAGS masked"
s_bad_rcx:   .asciz "RCX/R11 at the entry are not the user return address/flags"
s_bad_ret:   .asciz "SYSRET did not return to ring 3 (CS 0x33, SS 0x2b) with RAX"
s_unexp:     .asciz "unexpected interrupt"
s_defect_syscall: .asciz "SYSCALL reached LSTAR still in ring 3: "
s_defect_int80:   .asciz "INT 0x80 from ring 3 raised #UD: "
s_vec:       .asciz "vector "
s_err:       .asciz " error "
s_rip:       .asciz " rip "
s_cs:        .asciz " cs "
s_cr2:       .asciz " cr2 "
s_fl:        .asciz " rflags "
s_rsp:       .asciz " rsp "
s_ss:        .asciz " ss "
s_rcx:       .asciz " rcx "
s_r11:       .asciz " r11 "
