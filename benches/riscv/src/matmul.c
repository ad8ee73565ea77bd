/* Benchmark: integer matrix multiply (int32 inputs, int64 accumulation) with a transposed
 * operand, repeated while feeding results back; stresses mul, loads and tight inner loops. */
#include "rt.h"

#define N 96
#define ROUNDS 300

static int32_t A[N][N], B[N][N], Bt[N][N];
static int64_t C[N][N];

int main(void)
{
    uint64_t start = read_minstret();
    uint32_t x = 7;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            x ^= x << 13; x ^= x >> 17; x ^= x << 5;
            A[i][j] = (int32_t)(x % 2001) - 1000;
            x ^= x << 13; x ^= x >> 17; x ^= x << 5;
            B[i][j] = (int32_t)(x % 2001) - 1000;
        }
    uint64_t sum = 0;
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++)
                Bt[j][i] = B[i][j];
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) {
                int64_t acc = 0;
                for (int k = 0; k < N; k++)
                    acc += (int64_t)A[i][k] * Bt[j][k];
                C[i][j] = acc;
            }
        /* feed back so every round depends on the previous one */
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) {
                sum = sum * 0x100000001b3ull ^ (uint64_t)C[i][j];
                A[i][j] = (int32_t)(C[i][j] % 1000);
            }
    }
    return bench_report("matmul", sum, read_minstret() - start);
}
