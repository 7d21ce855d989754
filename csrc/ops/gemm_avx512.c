/* The AVX-512 register tile: 12 rows x 32 columns, 24 accumulators of the 32 registers; each
 * k broadcasts 12 values of A against two vectors of B. Fewer rows run a tile of 8 or 4, so
 * that C's last rows (64 = 5 x 12 + 4) cost what they hold. */
#include "gemm.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

enum { MR = 12, NR = 32 };

/* nr is a constant once inlined, so that the accumulators live in registers. */
__attribute__((target("avx512f,fma"), always_inline)) static inline void
rows_of(int nr, int64_t k, const float *restrict pa, const float *restrict pb, int64_t ldb, float *restrict c,
        int64_t ldc, int rows, float alpha, float beta) {
    __m512 acc[MR][2];
#pragma GCC unroll 12
    for (int i = 0; i < nr; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int64_t q = 0; q < k; q++, pa += MR, pb += ldb) {
        __m512 b0 = _mm512_loadu_ps(pb), b1 = _mm512_loadu_ps(pb + 16);
#pragma GCC unroll 12
        for (int i = 0; i < nr; i++) {
            __m512 a = _mm512_set1_ps(pa[i]);
            acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
        }
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
    for (int i = 0; i < nr; i++) {
        if (i >= rows) break;
        for (int v = 0; v < 2; v++) {
            float *dst = c + i * ldc + 16 * v;
            __m512 r = _mm512_mul_ps(acc[i][v], va);
            if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_loadu_ps(dst), r);
            _mm512_storeu_ps(dst, r);
        }
    }
}

__attribute__((target("avx512f,fma"))) static void tile(int64_t k, const float *pa, const float *pb, int64_t ldb,
                                                        float *c, int64_t ldc, int rows, float alpha, float beta) {
    if (rows > 8) rows_of(12, k, pa, pb, ldb, c, ldc, rows, alpha, beta);
    else if (rows > 4) rows_of(8, k, pa, pb, ldb, c, ldc, rows, alpha, beta);
    else rows_of(4, k, pa, pb, ldb, c, ldc, rows, alpha, beta);
}

const graft_gemm_kernel graft_gemm_avx512 = {.mr = MR, .nr = NR, .mc = 480, .kc = 256, .nc = 384, .tile = tile};
#else
const graft_gemm_kernel graft_gemm_avx512 = {0};
#endif
