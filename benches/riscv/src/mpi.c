/* Benchmark: multi-precision multiply-accumulate loops, the inner loops of RSA signature checks
 * (Linux verifies each module it loads this way: over a third of the time from /init to a shell is
 * spent here). As in generic C bignum code on RV64 without a mulhu builtin, the 64x64->128-bit
 * product is built from four 32-bit partial products, so each limb costs ~30 instructions: a
 * tight loop of multiplies, shifts, carries, one load and one store per limb.
 * Checksum folds the accumulator. */
#include "rt.h"

#define LIMBS 64
#define PASSES 400000

/* 64x64 -> 128-bit product from 32-bit halves (schoolbook). */
#define MUL_WIDE(hi, lo, a, b)                                                                   \
    do {                                                                                         \
        uint64_t a_lo_ = (a) & 0xffffffffu, a_hi_ = (a) >> 32;                                  \
        uint64_t b_lo_ = (b) & 0xffffffffu, b_hi_ = (b) >> 32;                                  \
        uint64_t ll_ = a_lo_ * b_lo_, lh_ = a_lo_ * b_hi_;                                       \
        uint64_t hl_ = a_hi_ * b_lo_, hh_ = a_hi_ * b_hi_;                                       \
        uint64_t mid_ = (ll_ >> 32) + lh_;                                                       \
        mid_ += hl_;                                                                             \
        if (mid_ < hl_)                                                                          \
            hh_ += 1ull << 32;                                                                   \
        (hi) = hh_ + (mid_ >> 32);                                                               \
        (lo) = (mid_ << 32) | (ll_ & 0xffffffffu);                                               \
    } while (0)

/* res -= s1 * limb; returns the borrow out. */
static uint64_t __attribute__((noinline)) submul_1(uint64_t *res, const uint64_t *s1, long n, uint64_t limb)
{
    uint64_t borrow = 0;
    for (long i = 0; i < n; i++) {
        uint64_t hi, lo;
        MUL_WIDE(hi, lo, s1[i], limb);
        lo += borrow;
        hi += lo < borrow;
        uint64_t r = res[i];
        uint64_t d = r - lo;
        hi += d > r;
        res[i] = d;
        borrow = hi;
    }
    return borrow;
}

/* res += s1 * limb; returns the carry out. */
static uint64_t __attribute__((noinline)) addmul_1(uint64_t *res, const uint64_t *s1, long n, uint64_t limb)
{
    uint64_t carry = 0;
    for (long i = 0; i < n; i++) {
        uint64_t hi, lo;
        MUL_WIDE(hi, lo, s1[i], limb);
        lo += carry;
        hi += lo < carry;
        uint64_t r = res[i];
        uint64_t s = r + lo;
        hi += s < r;
        res[i] = s;
        carry = hi;
    }
    return carry;
}

static uint64_t a[LIMBS], b[LIMBS], acc[LIMBS];

int main(void)
{
    uint64_t start = read_minstret();
    uint64_t x = 0x243f6a8885a308d3ull;
    for (int i = 0; i < LIMBS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        a[i] = x;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        b[i] = x;
    }
    uint64_t sum = 0;
    for (int p = 0; p < PASSES; p++) {
        sum += addmul_1(acc, a, LIMBS, b[p % LIMBS]);
        sum ^= submul_1(acc, b, LIMBS, a[(p * 7) % LIMBS]);
    }
    for (int i = 0; i < LIMBS; i++)
        sum = (sum << 5 | sum >> 59) ^ acc[i];
    return bench_report("mpi", sum, read_minstret() - start);
}
