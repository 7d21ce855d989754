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

enum { CMR = 32, CNR = 12 };

/* nc is a constant once inlined. Results leave the registers by way of the stack, each
 * vector holding a column: once per k block, against 2 x 32 x 12 x k multiply-adds. */
__attribute__((target("avx512f,fma"), always_inline)) static inline void
cols_of(int nc, int64_t k, const float *restrict a, int64_t sa, const float *restrict b, int64_t sq, int64_t sj,
        float *restrict c, int64_t ldc, int rows, float alpha, float beta) {
    __mmask16 m0 = rows >= 16 ? 0xFFFF : (__mmask16)((1u << rows) - 1),
              m1 = rows >= 32 ? 0xFFFF : rows > 16 ? (__mmask16)((1u << (rows - 16)) - 1) : 0;
    __m512 acc[CNR][2];
#pragma GCC unroll 12
    for (int j = 0; j < nc; j++) acc[j][0] = acc[j][1] = _mm512_setzero_ps();
    for (int64_t q = 0; q < k; q++, a += sa, b += sq) {
        __m512 a0 = _mm512_maskz_loadu_ps(m0, a), a1 = _mm512_maskz_loadu_ps(m1, a + 16);
#pragma GCC unroll 12
        for (int j = 0; j < nc; j++) {
            __m512 bj = _mm512_set1_ps(b[j * sj]);
            acc[j][0] = _mm512_fmadd_ps(a0, bj, acc[j][0]);
            acc[j][1] = _mm512_fmadd_ps(a1, bj, acc[j][1]);
        }
    }
    float t[CNR][CMR] __attribute__((aligned(64)));
#pragma GCC unroll 12
    for (int j = 0; j < nc; j++) {
        _mm512_store_ps(t[j], acc[j][0]);
        _mm512_store_ps(t[j] + 16, acc[j][1]);
    }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < nc; j++)
            c[i * ldc + j] = alpha * t[j][i] + (beta == 0.0f ? 0.0f : beta * c[i * ldc + j]);
}

__attribute__((target("avx512f,fma"))) static void cols(int64_t k, const float *a, int64_t sa, const float *b,
                                                        int64_t sq, int64_t sj, float *c, int64_t ldc, int rows,
                                                        int ncols, float alpha, float beta) {
    switch (ncols) {   /* one copy per width: the accumulators must be named by constants */
#define WIDTH(w) \
    case w: cols_of(w, k, a, sa, b, sq, sj, c, ldc, rows, alpha, beta); break;
        WIDTH(1) WIDTH(2) WIDTH(3) WIDTH(4) WIDTH(5) WIDTH(6) WIDTH(7) WIDTH(8) WIDTH(9) WIDTH(10) WIDTH(11)
        default: cols_of(CNR, k, a, sa, b, sq, sj, c, ldc, rows, alpha, beta); break;
#undef WIDTH
    }
}

const graft_gemm_kernel graft_gemm_avx512 = {.mr = MR, .nr = NR, .mc = 128, .kc = 256, .nc = 384, .tile = tile,
                                             .cmr = CMR, .cnr = CNR, .cols = cols,
                                             .pack_rows = graft_gemm_pack_rows_avx2};
#else
const graft_gemm_kernel graft_gemm_avx512 = {0};
#endif
