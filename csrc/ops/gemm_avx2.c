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

enum { CMR = 16, CNR = 6 };

/* nc is a constant once inlined. Results leave the registers by way of the stack. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
cols_of(int nc, int64_t k, const float *restrict a, int64_t sa, const float *restrict b, int64_t sq, int64_t sj,
        float *restrict c, int64_t ldc, int rows, float alpha, float beta) {
    int32_t lanes[CMR];
    for (int i = 0; i < CMR; i++) lanes[i] = i < rows ? -1 : 0;
    __m256i m0 = _mm256_loadu_si256((const __m256i *)lanes), m1 = _mm256_loadu_si256((const __m256i *)(lanes + 8));
    __m256 acc[CNR][2];
#pragma GCC unroll 6
    for (int j = 0; j < nc; j++) acc[j][0] = acc[j][1] = _mm256_setzero_ps();
    for (int64_t q = 0; q < k; q++, a += sa, b += sq) {
        __m256 a0 = _mm256_maskload_ps(a, m0), a1 = _mm256_maskload_ps(a + 8, m1);
#pragma GCC unroll 6
        for (int j = 0; j < nc; j++) {
            __m256 bj = _mm256_broadcast_ss(b + j * sj);
            acc[j][0] = _mm256_fmadd_ps(a0, bj, acc[j][0]);
            acc[j][1] = _mm256_fmadd_ps(a1, bj, acc[j][1]);
        }
    }
    float t[CNR][CMR] __attribute__((aligned(32)));
#pragma GCC unroll 6
    for (int j = 0; j < nc; j++) {
        _mm256_store_ps(t[j], acc[j][0]);
        _mm256_store_ps(t[j] + 8, acc[j][1]);
    }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < nc; j++)
            c[i * ldc + j] = alpha * t[j][i] + (beta == 0.0f ? 0.0f : beta * c[i * ldc + j]);
}

__attribute__((target("avx2,fma"))) static void cols(int64_t k, const float *a, int64_t sa, const float *b,
                                                     int64_t sq, int64_t sj, float *c, int64_t ldc, int rows,
                                                     int ncols, float alpha, float beta) {
    switch (ncols) {   /* one copy per width: the accumulators must be named by constants */
        case 1: cols_of(1, k, a, sa, b, sq, sj, c, ldc, rows, alpha, beta); break;
        case 2: cols_of(2, k, a, sa, b, sq, sj, c, ldc, rows, alpha, beta); break;
        case 3: cols_of(3, k, a, sa, b, sq, sj, c, ldc, rows, alpha, beta); break;
        case 4: cols_of(4, k, a, sa, b, sq, sj, c, ldc, rows, alpha, beta); break;
        case 5: cols_of(5, k, a, sa, b, sq, sj, c, ldc, rows, alpha, beta); break;
        default: cols_of(CNR, k, a, sa, b, sq, sj, c, ldc, rows, alpha, beta); break;
    }
}

/* 8 x 8 blocks through registers: the packing that transposes (A as it lies into panels of
 * rows, B transposed into panels of columns) cost a third of a product with 49 columns when
 * done an element at a time. */
__attribute__((target("avx2,fma"))) void graft_gemm_pack_rows_avx2(float *dst, int panel, const float *src,
                                                                   int64_t ld, int rows, int64_t kb) {
    int r = 0;
    for (; r + 8 <= rows; r += 8) {
        int64_t q = 0;
        for (; q + 8 <= kb; q += 8) {
            __m256 v[8], t[8];
            for (int i = 0; i < 8; i++) v[i] = _mm256_loadu_ps(src + (r + i) * ld + q);
            for (int i = 0; i < 8; i += 2) {
                t[i] = _mm256_unpacklo_ps(v[i], v[i + 1]);
                t[i + 1] = _mm256_unpackhi_ps(v[i], v[i + 1]);
            }
            for (int i = 0; i < 8; i += 4)
                for (int h = 0; h < 2; h++) {
                    v[i + h] = _mm256_shuffle_ps(t[i + h], t[i + h + 2], _MM_SHUFFLE(1, 0, 1, 0));
                    v[i + h + 2] = _mm256_shuffle_ps(t[i + h], t[i + h + 2], _MM_SHUFFLE(3, 2, 3, 2));
                }
            /* v[0], v[2], v[1], v[3] now hold k = q, q+1, q+2, q+3 of rows 0-3 and 4-7 in halves;
             * likewise v[4..7] for rows 4-7: join the halves. */
            static const int order[4] = {0, 2, 1, 3};
            for (int x = 0; x < 4; x++) {
                __m256 lo = v[order[x]], hi = v[4 + order[x]];
                _mm256_storeu_ps(dst + (q + x) * panel + r, _mm256_permute2f128_ps(lo, hi, 0x20));
                _mm256_storeu_ps(dst + (q + x + 4) * panel + r, _mm256_permute2f128_ps(lo, hi, 0x31));
            }
        }
        for (; q < kb; q++)
            for (int i = 0; i < 8; i++) dst[q * panel + r + i] = src[(r + i) * ld + q];
    }
    for (; r < panel; r++)
        for (int64_t q = 0; q < kb; q++) dst[q * panel + r] = r < rows ? src[r * ld + q] : 0.0f;
}

const graft_gemm_kernel graft_gemm_avx2 = {.mr = MR, .nr = NR, .mc = 128, .kc = 256, .nc = 384, .tile = tile,
                                           .cmr = CMR, .cnr = CNR, .cols = cols,
                                           .pack_rows = graft_gemm_pack_rows_avx2};
#else
const graft_gemm_kernel graft_gemm_avx2 = {0};
#endif
