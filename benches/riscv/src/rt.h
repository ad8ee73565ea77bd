/* Tiny freestanding runtime for the benchmarks: HTIF console output/exit and minstret. */
#ifndef MIMIC_BENCH_RT_H
#define MIMIC_BENCH_RT_H
#include <stdint.h>
#include <stddef.h>

void htif_putchar(char c);
void htif_exit(int code) __attribute__((noreturn));
void print_str(const char *s);
void print_dec(uint64_t v);
void print_hex(uint64_t v);
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);

static inline uint64_t read_minstret(void)
{
    uint64_t v;
    __asm__ volatile("csrr %0, minstret" : "=r"(v));
    return v;
}

/* Common tail: the checksum line the harness compares and the retired-instruction count. */
static inline int bench_report(const char *name, uint64_t checksum, uint64_t insns)
{
    print_str(name);
    print_str(" checksum: ");
    print_hex(checksum);
    print_str("\ninstret: ");
    print_dec(insns);
    print_str("\n");
    return 0;
}
#endif
