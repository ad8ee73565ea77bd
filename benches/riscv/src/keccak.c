/* Benchmark: Keccak-f[1600] (FIPS 202) permutations over a state kept in memory, one round per
 * call as Linux's generic SHA-3 does: long straight-line blocks of 64-bit loads, stores, xors and
 * rotates, more live values than x86-64 has registers. This is the code shape of the kernel's
 * jitterentropy start-up and SHA-3 self-tests, which a Linux boot spends ~4% of its time in.
 * Checksum folds the final state. */
#include "rt.h"

#define PERMUTATIONS 100000

static const uint64_t RC[24] = {
    0x0000000000000001ull, 0x0000000000008082ull, 0x800000000000808aull, 0x8000000080008000ull,
    0x000000000000808bull, 0x0000000080000001ull, 0x8000000080008081ull, 0x8000000000008009ull,
    0x000000000000008aull, 0x0000000000000088ull, 0x0000000080008009ull, 0x000000008000000aull,
    0x000000008000808bull, 0x800000000000008bull, 0x8000000000008089ull, 0x8000000000008003ull,
    0x8000000000008002ull, 0x8000000000000080ull, 0x000000000000800aull, 0x800000008000000aull,
    0x8000000080008081ull, 0x8000000000008080ull, 0x0000000080000001ull, 0x8000000080008008ull,
};

static inline uint64_t rol(uint64_t x, unsigned n)
{
    return n ? (x << n) | (x >> (64 - n)) : x;
}

/* Lane (x, y) is a[x + 5y]. Rho offsets and the pi permutation are spelled out lane by lane so
 * the compiler emits straight-line code, as it does for the kernel's keccakf_round. */
static void __attribute__((noinline)) round1600(uint64_t a[25], uint64_t rc)
{
    uint64_t c0 = a[0] ^ a[5] ^ a[10] ^ a[15] ^ a[20];
    uint64_t c1 = a[1] ^ a[6] ^ a[11] ^ a[16] ^ a[21];
    uint64_t c2 = a[2] ^ a[7] ^ a[12] ^ a[17] ^ a[22];
    uint64_t c3 = a[3] ^ a[8] ^ a[13] ^ a[18] ^ a[23];
    uint64_t c4 = a[4] ^ a[9] ^ a[14] ^ a[19] ^ a[24];
    uint64_t d0 = c4 ^ rol(c1, 1), d1 = c0 ^ rol(c2, 1), d2 = c1 ^ rol(c3, 1);
    uint64_t d3 = c2 ^ rol(c4, 1), d4 = c3 ^ rol(c0, 1);

    /* theta, then rho and pi into b: b[y + 5((2x + 3y) mod 5)] = rol(a[x + 5y], r[x][y]) */
    uint64_t b[25];
    b[0] = rol(a[0] ^ d0, 0);
    b[16] = rol(a[5] ^ d0, 36);
    b[7] = rol(a[10] ^ d0, 3);
    b[23] = rol(a[15] ^ d0, 41);
    b[14] = rol(a[20] ^ d0, 18);
    b[10] = rol(a[1] ^ d1, 1);
    b[1] = rol(a[6] ^ d1, 44);
    b[17] = rol(a[11] ^ d1, 10);
    b[8] = rol(a[16] ^ d1, 45);
    b[24] = rol(a[21] ^ d1, 2);
    b[20] = rol(a[2] ^ d2, 62);
    b[11] = rol(a[7] ^ d2, 6);
    b[2] = rol(a[12] ^ d2, 43);
    b[18] = rol(a[17] ^ d2, 15);
    b[9] = rol(a[22] ^ d2, 61);
    b[5] = rol(a[3] ^ d3, 28);
    b[21] = rol(a[8] ^ d3, 55);
    b[12] = rol(a[13] ^ d3, 25);
    b[3] = rol(a[18] ^ d3, 21);
    b[19] = rol(a[23] ^ d3, 56);
    b[15] = rol(a[4] ^ d4, 27);
    b[6] = rol(a[9] ^ d4, 20);
    b[22] = rol(a[14] ^ d4, 39);
    b[13] = rol(a[19] ^ d4, 8);
    b[4] = rol(a[24] ^ d4, 14);

    /* chi, then iota */
    for (int y = 0; y < 25; y += 5) {
        uint64_t e0 = b[y], e1 = b[y + 1], e2 = b[y + 2], e3 = b[y + 3], e4 = b[y + 4];
        a[y] = e0 ^ (~e1 & e2);
        a[y + 1] = e1 ^ (~e2 & e3);
        a[y + 2] = e2 ^ (~e3 & e4);
        a[y + 3] = e3 ^ (~e4 & e0);
        a[y + 4] = e4 ^ (~e0 & e1);
    }
    a[0] ^= rc;
}

static void keccak_f1600(uint64_t a[25])
{
    for (int r = 0; r < 24; r++)
        round1600(a, RC[r]);
}

static uint64_t state[25];

int main(void)
{
    uint64_t start = read_minstret();
    /* anchor: Keccak-f[1600] of the zero state begins f1258f7940e1dde7 (FIPS 202 test vectors) */
    keccak_f1600(state);
    uint64_t sum = state[0];
    for (int i = 0; i < PERMUTATIONS; i++) {
        state[i % 17] ^= (uint64_t)i * 0x9e3779b97f4a7c15ull;
        keccak_f1600(state);
    }
    for (int k = 0; k < 25; k++)
        sum = rol(sum, 7) ^ state[k];
    return bench_report("keccak", sum, read_minstret() - start);
}
