/* HTIF console and exit for the benchmarks (device 1 command 1 = putchar, device 0 = exit),
 * plus the memset/memcpy the compiler may call. Built with -fno-builtin so these loops are
 * not turned back into calls to themselves. */
#include "rt.h"

volatile uint64_t tohost __attribute__((section(".tohost"), aligned(64)));
volatile uint64_t fromhost __attribute__((section(".tohost"), aligned(64)));

void htif_putchar(char c)
{
    tohost = (1ull << 56) | (1ull << 48) | (uint8_t)c;
    /* the host acknowledges each character through fromhost */
    while (fromhost == 0)
        ;
    fromhost = 0;
}

void htif_exit(int code)
{
    tohost = ((uint64_t)code << 1) | 1;
    for (;;)
        ;
}

void print_str(const char *s)
{
    while (*s)
        htif_putchar(*s++);
}

void print_dec(uint64_t v)
{
    char buf[24];
    int i = 0;
    do {
        buf[i++] = '0' + v % 10;
        v /= 10;
    } while (v);
    while (i)
        htif_putchar(buf[--i]);
}

void print_hex(uint64_t v)
{
    for (int i = 60; i >= 0; i -= 4)
        htif_putchar("0123456789abcdef"[(v >> i) & 15]);
}

void *memset(void *d, int c, size_t n)
{
    unsigned char *p = d;
    while (n--)
        *p++ = (unsigned char)c;
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    unsigned char *p = d;
    const unsigned char *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}
