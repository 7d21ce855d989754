/* The AVX2 register tile: 6 rows x 16 columns, 12 accumulators of the 16 registers; each k
 * broadcasts 6 values of A against two vectors of B. Fewer rows run a tile of 4 or 2. */
#include "gemm.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

enum { MR = 6, NR = 16 };

/* nr is a constant once inlined, so that the accumulators live in registers. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
rows_of(int nr, int64_t k, const float *restrict pa, const float *restrict pb, int64_t ldb, float *restrict c,
        int64_t ldc, int rows, float alpha, float beta) {
    __m256 acc[MR][2];
#pragma GCC unroll 6
    for (int i = 0; i < nr; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int64_t q = 0; q < k; q++, pa += MR, pb += ldb) {
        __m256 b0 = _mm256_loadu_ps(pb), b1 = _mm256_loadu_ps(pb + 8);
#pragma GCC unroll 6
        for (int i = 0; i < nr; i++) {
            __m256 a = _mm256_broadcast_ss(pa + i);
            acc[i][0] = _mm256_fmadd_ps(a, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(a, b1, acc[i][1]);
        }
    }
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 6
    for (int i = 0; i < nr; i++) {
        if (i >= rows) break;
        for (int v = 0; v < 2; v++) {
            float *dst = c + i * ldc + 8 * v;
            __m256 r = _mm256_mul_ps(acc[i][v], va);
            if (beta != 0.0f) r = _mm256_fmadd_ps(vb, _mm256_loadu_ps(dst), r);
            _mm256_storeu_ps(dst, r);
        }
    }
}

__attribute__((target("avx2,fma"))) static void tile(int64_t k, const float *pa, const float *pb, int64_t ldb,
                                                     float *c, int64_t ldc, int rows, float alpha, float beta) {
    if (rows > 4) rows_of(6, k, pa, pb, ldb, c, ldc, rows, alpha, beta);
    else if (rows > 2) rows_of(4, k, pa, pb, ldb, c, ldc, rows, alpha, beta);
    else rows_of(2, k, pa, pb, ldb, c, ldc, rows, alpha, beta);
}

const graft_gemm_kernel graft_gemm_avx2 = {.mr = MR, .nr = NR, .mc = 480, .kc = 256, .nc = 384, .tile = tile};
#else
const graft_gemm_kernel graft_gemm_avx2 = {0};
#endif
