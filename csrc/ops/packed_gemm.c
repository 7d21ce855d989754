/* The packed-weight GEMM: a 12 x 32 register tile (24 AVX-512 accumulators), the weights
 * broadcast from their panel and b loaded two vectors at a time, no blocking of k (panels of
 * both operands stay in L2 for every layer of the model zoo: at most 4608 x 32 floats of b). */
#include "packed_gemm.h"

#include <omp.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_KERNEL 1
#define KERNEL_TARGET __attribute__((target("avx512f")))
#else
#define HAVE_KERNEL 0
#endif

enum { ROWS = GRAFT_PACKED_ROWS, COLS = GRAFT_PACKED_COLS, A_BLOCK_BYTES = 256 << 10 };

bool graft_packed_available(void) {
#if HAVE_KERNEL
    return __builtin_cpu_supports("avx512f");
#else
    return false;
#endif
}

size_t graft_packed_floats(int64_t m, int64_t k) {
    return (size_t)((m + ROWS - 1) / ROWS * ROWS) * (size_t)k;
}

void graft_pack_rows(float *pa, const float *a, int64_t m, int64_t k, int64_t lda) {
    memset(pa, 0, sizeof(float) * graft_packed_floats(m, k));
    for (int64_t r = 0; r < m; r++)
        for (int64_t j = 0; j < k; j++) pa[graft_packed_index(r, j, k)] = a[r * lda + j];
}

size_t graft_packed_scratch(int64_t k, const graft_packed_rhs *rhs, int threads) {
    return rhs->fill ? (size_t)(threads > 1 ? threads : 1) * (size_t)k * COLS : 0;
}

#if HAVE_KERNEL
/* One tile: c (rows x width, width <= 16 nv) = the panel pa times b's k rows. The lanes
 * past width are masked off in loads and stores (b may end there). */
KERNEL_TARGET __attribute__((always_inline)) static inline void
tile(int nv, int64_t k, const float *restrict pa, const float *restrict b, int64_t ldb, float *restrict c,
     int64_t ldc, int rows, int64_t width, const float *bias, bool relu) {
    __mmask16 mask[2] = {width >= 16 ? 0xFFFF : (__mmask16)((1u << width) - 1),
                         width >= 32 ? 0xFFFF : width > 16 ? (__mmask16)((1u << (width - 16)) - 1) : 0};
    __m512 acc[ROWS][2];
#pragma GCC unroll 12
    for (int i = 0; i < ROWS; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int64_t kk = 0; kk < k; kk++, pa += ROWS, b += ldb) {
        /* constant indices only, so that the accumulators live in registers */
        __m512 b0 = _mm512_maskz_loadu_ps(mask[0], b), b1 = nv == 2 ? _mm512_maskz_loadu_ps(mask[1], b + 16) : b0;
        for (int i = 0; i < ROWS; i++) {
            __m512 a = _mm512_set1_ps(pa[i]);
            acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
            if (nv == 2) acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
        }
    }
#pragma GCC unroll 12
    for (int i = 0; i < ROWS; i++) {   /* unrolled too: a variable index would put acc in memory */
        if (i >= rows) break;
        __m512 r[2] = {acc[i][0], acc[i][1]};
        for (int v = 0; v < nv; v++) {
            if (bias) r[v] = _mm512_add_ps(r[v], _mm512_set1_ps(bias[i]));
            if (relu) r[v] = _mm512_max_ps(r[v], _mm512_setzero_ps());
            _mm512_mask_storeu_ps(c + i * ldc + 16 * v, mask[v], r[v]);
        }
    }
}

/* The two widths of tile the compiler specialises: 32 columns, and 16 or fewer (a last,
 * narrow panel at half the work). */
KERNEL_TARGET static void tile_any(int64_t k, const float *pa, const float *b, int64_t ldb, float *c, int64_t ldc,
                                   int rows, int64_t width, const float *bias, bool relu) {
    if (width > 16) tile(2, k, pa, b, ldb, c, ldc, rows, width, bias, relu);
    else tile(1, k, pa, b, ldb, c, ldc, rows, width, bias, relu);
}
#endif

void graft_packed_gemm(float *c, int64_t ldc, const float *pa, int64_t m, int64_t k, const graft_packed_rhs *rhs,
                       int64_t n, const float *bias, bool relu, float *scratch, int threads) {
#if HAVE_KERNEL
    int64_t mp = (m + ROWS - 1) / ROWS, np = (n + COLS - 1) / COLS;
    if (mp == 0 || np == 0) return;
    if (threads < 1 || omp_in_parallel()) threads = 1;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        /* Threads take column panels while there are plenty, so each makes only its own;
         * on narrow products (late layers at batch 1) they take row panels instead and each
         * makes every column panel, which costs little beside the long rows of weights. */
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t q0 = 0, q1 = np, p0 = 0, p1 = mp;
        if (np >= 2 * nt) q0 = np * t / nt, q1 = np * (t + 1) / nt;
        else p0 = mp * t / nt, p1 = mp * (t + 1) / nt;
        float *panel = rhs->fill ? scratch + (size_t)t * (size_t)k * COLS : NULL;
        /* b as it lies passes over blocks of weight panels small enough to stay in L2 (a
         * 512 x 4608 weight would stream from memory once per column panel); made panels
         * are made once each, and pass over all the rows. */
        int64_t block = rhs->fill ? p1 - p0 : A_BLOCK_BYTES / (int64_t)(sizeof(float) * ROWS * (size_t)k);
        if (block < 1) block = 1;
        for (int64_t pb = p0; pb < p1; pb += block)
            for (int64_t q = q0; q < q1; q++) {
                int64_t n0 = q * COLS, width = n - n0 < COLS ? n - n0 : COLS;
                const float *b = panel;
                int64_t ldb = COLS;
                if (rhs->fill) rhs->fill(panel, n0, width, rhs->arg);
                else b = rhs->b + n0, ldb = rhs->ldb;
                for (int64_t p = pb; p < p1 && p < pb + block; p++) {
                    int rows = m - p * ROWS < ROWS ? (int)(m - p * ROWS) : ROWS;
                    tile_any(k, pa + p * k * ROWS, b, ldb, c + p * ROWS * ldc + n0, ldc, rows, width,
                             bias ? bias + p * ROWS : NULL, relu);
                }
            }
    }
#else
    (void)c, (void)ldc, (void)pa, (void)m, (void)k, (void)rhs, (void)n, (void)bias, (void)relu, (void)scratch,
        (void)threads;
#endif
}
