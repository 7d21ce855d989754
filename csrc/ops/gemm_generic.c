/* The portable register tile: 4 rows x 8 columns in plain C, which the compiler keeps in
 * registers and vectorizes for whatever the target's baseline is (SSE2 on x86-64, NEON on
 * AArch64): the path for CPUs without AVX2. */
#include "gemm.h"

enum { MR = 4, NR = 8 };

static void tile(int64_t k, const float *restrict pa, const float *restrict pb, int64_t ldb, float *restrict c,
                 int64_t ldc, int rows, float alpha, float beta) {
    float acc[MR][NR] = {{0.0f}};
    for (int64_t q = 0; q < k; q++, pa += MR, pb += ldb)
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++) acc[i][j] += pa[i] * pb[j];
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < NR; j++)
            c[i * ldc + j] = alpha * acc[i][j] + (beta == 0.0f ? 0.0f : beta * c[i * ldc + j]);
}

const graft_gemm_kernel graft_gemm_generic = {.mr = MR, .nr = NR, .mc = 480, .kc = 256, .nc = 256, .tile = tile};
