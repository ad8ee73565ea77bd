/* Benchmark start-up: stack, zeroed .bss, FPU on (gcc may use FP regs for copies), then
 * exit(main()) through HTIF. Traps are fatal and reported as exit code 255. */
  .section .text.init, "ax", @progbits
  .globl _start
_start:
  .option push
  .option norelax
  la sp, __stack_top
  .option pop
  la t0, trap
  csrw mtvec, t0
  li t0, (1 << 13)
  csrs mstatus, t0
  csrwi fcsr, 0
  la t0, __bss_start
  la t1, __bss_end
1:
  bgeu t0, t1, 2f
  sd zero, 0(t0)
  addi t0, t0, 8
  j 1b
2:
  call main
  call htif_exit
3:
  j 3b

  .align 2
trap:
  li a0, 255
  call htif_exit
  j trap
