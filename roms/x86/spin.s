# spin.s: prints "spin: forever\n" and then loops without ever exiting to the VMM again (no
# port I/O, no HLT, interrupts off): only something that stops the vCPUs from outside, such as
# the console's Ctrl-A X, ends it.
    .code64
    .globl _start
_start:
    mov $0x80000, %rsp
    cli
    lea msg(%rip), %rsi
    call puts
1:  jmp 1b

    .include "lib.s"
msg: .asciz "spin: forever\n"
