/* The packed-weight GEMM. Weights are packed in panels of 32 rows, k-major, and multiplied
 * by one of two register tiles (24 AVX-512 accumulators each):
 *   row tiles: 12 (or 8) rows of a panel, broadcast, times 32 columns of b in two vectors;
 *     for wide b. A last panel of 16 columns or fewer runs at half the work.
 *   column tiles: all 32 rows of a panel, in the lanes of two vectors, times up to 12
 *     columns of b, broadcast; for narrow b, whose columns fill vectors badly (49 columns
 *     use 64 lanes in row tiles, every lane in column tiles). They sum into a transposed
 *     copy of c in scratch, a block of k at a time so that the block of b stays in L2.
 * Row tiles need no blocking of k: their panels of b stay in L2 for every layer of the model
 * zoo (at most 4608 x 32 floats), and blocks of weight panels pass over them. */
#include "packed_gemm.h"

#include <omp.h>
#include <string.h>

#include "../core/cpu.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_KERNEL 1
#define KERNEL_TARGET __attribute__((target("avx512f")))
#define INLINE __attribute__((always_inline)) static inline
#else
#define HAVE_KERNEL 0
#endif

enum {
    PANEL = GRAFT_PACKED_ROWS,   /* rows per weight panel */
    COLS = GRAFT_PACKED_COLS,    /* columns per row tile */
    GROUP = 12,                  /* columns per column tile */
    K_BLOCK = 512,               /* k per pass of column tiles: 256 x 49 floats of b */
    A_BLOCK_BYTES = 256 << 10,   /* weight panels that row tiles keep in L2 */
};

/* Only when graft's kernels run AVX-512: GRAFT_ISA=avx2 or generic keeps the packed path off too. */
bool graft_packed_available(void) {
#if HAVE_KERNEL
    return graft_isa_in_use() == GRAFT_ISA_AVX512;   /* chosen only where the CPU has it */
#else
    return false;
#endif
}

/* m rows padded to whole panels: the packed weight's rows, the transposed product's row length. */
static int64_t padded_rows(int64_t m) { return (m + PANEL - 1) / PANEL * PANEL; }

size_t graft_packed_floats(int64_t m, int64_t k) {
    return (size_t)padded_rows(m) * (size_t)k;
}

void graft_pack_rows(float *pa, const float *a, int64_t m, int64_t k, int64_t lda) {
    memset(pa, 0, sizeof(float) * graft_packed_floats(m, k));
    for (int64_t r = 0; r < m; r++)
        for (int64_t j = 0; j < k; j++) pa[graft_packed_index(r, j, k)] = a[r * lda + j];
}

/* Lanes in use: of row tiles (b's columns in 32s, a last 16 or fewer in 16) and of column
 * tiles (a's rows in 32s). Column tiles run where they fill clearly more lanes, and on b of
 * 16 columns or fewer: there a's weights stream from memory (each is used n times) and
 * column tiles, which read each k's 32 rows whole, kept the stream faster (F(2x2) on 7x7
 * maps at batch 1, 512 channels: 1.26 -> 0.94 ms in resnet18). Made panels of b are always
 * row tiles' (they are made for wide b). */
static bool by_columns(int64_t m, int64_t n, const graft_packed_rhs *rhs) {
    if (rhs->fill || n < 1 || m < 1) return false;
    if (n <= 16) return true;
    int64_t tail = n % COLS, lanes_n = n / COLS * COLS + (tail == 0 ? 0 : tail <= 16 ? 16 : COLS);
    return (double)n / (double)lanes_n + 0.1 < (double)m / (double)padded_rows(m);
}

size_t graft_packed_scratch(int64_t m, int64_t n, int64_t k, const graft_packed_rhs *rhs, int threads) {
    if (by_columns(m, n, rhs)) return (size_t)n * (size_t)padded_rows(m);
    return rhs->fill ? (size_t)(threads > 1 ? threads : 1) * (size_t)k * COLS : 0;
}

#if HAVE_KERNEL
/* c (rows x width, width <= 16 nv) = nr rows of a panel (pa: the first of them) times b's
 * k rows. Lanes past width are masked off in loads and stores (b may end there). Indices
 * are constants once inlined, so that the accumulators live in registers. */
KERNEL_TARGET INLINE void row_tile(int nr, int nv, int64_t k, const float *restrict pa, const float *restrict b,
                                   int64_t ldb, float *restrict c, int64_t ldc, int rows, int64_t width,
                                   const float *bias, bool relu) {
    __mmask16 mask[2] = {width >= 16 ? 0xFFFF : (__mmask16)((1u << width) - 1),
                         width >= 32 ? 0xFFFF : width > 16 ? (__mmask16)((1u << (width - 16)) - 1) : 0};
    __m512 acc[GROUP][2];
#pragma GCC unroll 12
    for (int i = 0; i < nr; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int64_t kk = 0; kk < k; kk++, pa += PANEL, b += ldb) {
        __m512 b0 = _mm512_maskz_loadu_ps(mask[0], b), b1 = nv == 2 ? _mm512_maskz_loadu_ps(mask[1], b + 16) : b0;
#pragma GCC unroll 12
        for (int i = 0; i < nr; i++) {
            __m512 a = _mm512_set1_ps(pa[i]);
            acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
            if (nv == 2) acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
        }
    }
#pragma GCC unroll 12
    for (int i = 0; i < nr; i++) {
        if (i >= rows) break;
        __m512 r[2] = {acc[i][0], acc[i][1]};
        for (int v = 0; v < nv; v++) {
            if (bias) r[v] = _mm512_add_ps(r[v], _mm512_set1_ps(bias[i]));
            if (relu) r[v] = _mm512_max_ps(_mm512_setzero_ps(), r[v]);   /* NaN stays NaN */
            _mm512_mask_storeu_ps(c + i * ldc + 16 * v, mask[v], r[v]);
        }
    }
}

/* One panel's `rows` (<= 32) valid rows times a panel of b: tiles of 12, 12 and 8 rows. */
KERNEL_TARGET static void row_tiles(int64_t k, const float *pa, const float *b, int64_t ldb, float *c, int64_t ldc,
                                    int rows, int64_t width, const float *bias, bool relu) {
    for (int r0 = 0; r0 < rows; r0 += 12) {
        int left = rows - r0;
        const float *a = pa + r0, *br = bias ? bias + r0 : NULL;
        float *cr = c + r0 * ldc;
        if (r0 < 24) {
            if (width > 16) row_tile(12, 2, k, a, b, ldb, cr, ldc, left, width, br, relu);
            else row_tile(12, 1, k, a, b, ldb, cr, ldc, left, width, br, relu);
        } else {
            if (width > 16) row_tile(8, 2, k, a, b, ldb, cr, ldc, left, width, br, relu);
            else row_tile(8, 1, k, a, b, ldb, cr, ldc, left, width, br, relu);
        }
    }
}

/* ct[j][0..32) (+)= a panel's 32 rows times column j of b, for nc columns (ct: the
 * transposed c, PANEL-aligned rows of ldt floats). */
KERNEL_TARGET INLINE void col_tile(int nc, int64_t k, const float *restrict pa, const float *restrict b,
                                   int64_t ldb, float *restrict ct, int64_t ldt, bool accumulate) {
    __m512 acc[GROUP][2];
#pragma GCC unroll 12
    for (int j = 0; j < nc; j++) acc[j][0] = acc[j][1] = _mm512_setzero_ps();
    for (int64_t kk = 0; kk < k; kk++, pa += PANEL, b += ldb) {
        __m512 a0 = _mm512_loadu_ps(pa), a1 = _mm512_loadu_ps(pa + 16);
#pragma GCC unroll 12
        for (int j = 0; j < nc; j++) {
            __m512 bj = _mm512_set1_ps(b[j]);
            acc[j][0] = _mm512_fmadd_ps(a0, bj, acc[j][0]);
            acc[j][1] = _mm512_fmadd_ps(a1, bj, acc[j][1]);
        }
    }
#pragma GCC unroll 12
    for (int j = 0; j < nc; j++)
        for (int v = 0; v < 2; v++) {
            float *dst = ct + j * ldt + 16 * v;
            __m512 r = accumulate ? _mm512_add_ps(acc[j][v], _mm512_loadu_ps(dst)) : acc[j][v];
            _mm512_storeu_ps(dst, r);
        }
}

KERNEL_TARGET static void col_tiles(int nc, int64_t k, const float *pa, const float *b, int64_t ldb, float *ct,
                                    int64_t ldt, bool accumulate) {
    switch (nc) {   /* one copy per width: the accumulators must be named by constants */
#define WIDTH(w) \
    case w: col_tile(w, k, pa, b, ldb, ct, ldt, accumulate); break;
        WIDTH(1) WIDTH(2) WIDTH(3) WIDTH(4) WIDTH(5) WIDTH(6) WIDTH(7) WIDTH(8) WIDTH(9) WIDTH(10) WIDTH(11)
        default: col_tile(GROUP, k, pa, b, ldb, ct, ldt, accumulate); break;
#undef WIDTH
    }
}

/* Row tiles over panels [p0, p1) and column panels [q0, q1) of b. */
static void by_row_tiles(float *c, int64_t ldc, const float *pa, int64_t m, int64_t k, const graft_packed_rhs *rhs,
                         int64_t n, const float *bias, bool relu, float *panel, int64_t p0, int64_t p1, int64_t q0,
                         int64_t q1) {
    /* b as it lies passes over blocks of weight panels small enough to stay in L2 (a
     * 512 x 4608 weight would stream from memory once per column panel); made panels
     * are made once each, and pass over all the rows. */
    int64_t block = rhs->fill ? p1 - p0 : A_BLOCK_BYTES / (int64_t)(sizeof(float) * PANEL * (size_t)k);
    if (block < 1) block = 1;
    for (int64_t pb = p0; pb < p1; pb += block)
        for (int64_t q = q0; q < q1; q++) {
            int64_t n0 = q * COLS, width = n - n0 < COLS ? n - n0 : COLS;
            const float *b = panel;
            int64_t ldb = COLS;
            if (rhs->fill) rhs->fill(panel, n0, width, rhs->arg);
            else b = rhs->b + n0, ldb = rhs->ldb;
            for (int64_t p = pb; p < p1 && p < pb + block; p++) {
                int rows = m - p * PANEL < PANEL ? (int)(m - p * PANEL) : PANEL;
                row_tiles(k, pa + p * k * PANEL, b, ldb, c + p * PANEL * ldc + n0, ldc, rows, width,
                          bias ? bias + p * PANEL : NULL, relu);
            }
        }
}

/* Column tiles over panels [p0, p1) and column groups [g0, g1), into ct, then c from ct. */
static void by_column_tiles(float *c, int64_t ldc, const float *pa, int64_t m, int64_t k, const float *b, int64_t ldb,
                            int64_t n, const float *bias, bool relu, float *ct, int64_t p0, int64_t p1, int64_t g0,
                            int64_t g1) {
    int64_t ldt = padded_rows(m);
    for (int64_t k0 = 0; k0 < k; k0 += K_BLOCK) {
        int64_t kb = k - k0 < K_BLOCK ? k - k0 : K_BLOCK;
        for (int64_t p = p0; p < p1; p++)
            for (int64_t g = g0; g < g1; g++) {
                int64_t j0 = g * GROUP;
                col_tiles(n - j0 < GROUP ? (int)(n - j0) : GROUP, kb, pa + (p * k + k0) * PANEL, b + k0 * ldb + j0,
                          ldb, ct + j0 * ldt + p * PANEL, ldt, k0 > 0);
            }
    }
    int64_t r1 = p1 * PANEL < m ? p1 * PANEL : m, j1 = g1 * GROUP < n ? g1 * GROUP : n;
    for (int64_t r = p0 * PANEL; r < r1; r++) {
        float add = bias ? bias[r] : 0.0f;
        for (int64_t j = g0 * GROUP; j < j1; j++) {
            float v = ct[j * ldt + r] + add;
            c[r * ldc + j] = relu && v < 0.0f ? 0.0f : v;
        }
    }
}
#endif

void graft_packed_gemm(float *c, int64_t ldc, const float *pa, int64_t m, int64_t k, const graft_packed_rhs *rhs,
                       int64_t n, const float *bias, bool relu, float *scratch, int threads) {
#if HAVE_KERNEL
    int64_t mp = (m + PANEL - 1) / PANEL, np = (n + COLS - 1) / COLS, groups = (n + GROUP - 1) / GROUP;
    if (mp == 0 || np == 0) return;
    bool columns = by_columns(m, n, rhs);
    if (threads < 1 || omp_in_parallel()) threads = 1;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        /* Threads take b's columns while there are plenty, so each makes only its own
         * panels; on narrow products (late layers at batch 1) they take weight panels. */
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t across = columns ? groups : np, j0 = 0, j1 = across, p0 = 0, p1 = mp;
        if (across >= 2 * nt || mp < nt) j0 = across * t / nt, j1 = across * (t + 1) / nt;
        else p0 = mp * t / nt, p1 = mp * (t + 1) / nt;
        if (p1 > p0 && j1 > j0) {
            if (columns)
                by_column_tiles(c, ldc, pa, m, k, rhs->b, rhs->ldb, n, bias, relu, scratch, p0, p1, j0, j1);
            else
                by_row_tiles(c, ldc, pa, m, k, rhs, n, bias, relu,
                             rhs->fill ? scratch + (size_t)t * (size_t)k * COLS : NULL, p0, p1, j0, j1);
        }
    }
#else
    (void)c, (void)ldc, (void)pa, (void)m, (void)k, (void)rhs, (void)n, (void)bias, (void)relu, (void)scratch,
        (void)threads;
#endif
}
