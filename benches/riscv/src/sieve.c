/* Benchmark: sieve of Eratosthenes over a byte array, repeated; stresses byte stores, strided
 * loops and branches. Checksum mixes the prime count with a sample of the primes found. */
#include "rt.h"

#define LIMIT 1000000
#define ROUNDS 200

static uint8_t composite[LIMIT + 1];

int main(void)
{
    uint64_t start = read_minstret();
    uint64_t sum = 0;
    for (int r = 0; r < ROUNDS; r++) {
        memset(composite, 0, sizeof composite);
        for (uint32_t i = 2; (uint64_t)i * i <= LIMIT; i++)
            if (!composite[i])
                for (uint32_t j = i * i; j <= LIMIT; j += i)
                    composite[j] = 1;
        uint64_t count = 0, mix = 0;
        for (uint32_t i = 2; i <= LIMIT; i++)
            if (!composite[i]) {
                count++;
                mix = mix * 31 + i;
            }
        sum = sum * 1000003 + count + (mix ^ r);
    }
    return bench_report("sieve", sum, read_minstret() - start);
}
