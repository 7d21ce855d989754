/* The GEMM driver: threads take rectangles of C; each packs a block of op(B) (kc x nc, in
 * panels of nr columns, sized for L2) and, over it, blocks of op(A) (mc x kc, in panels of
 * mr rows), and runs the kernel's register tile over every (mr x nr) piece. The tile
 * broadcasts A and loads B as vectors, so it is A's panel (mr x kc) that stays in L1 while
 * B's panels stream from L2: BLIS's loops with the operands' roles swapped, as C is
 * row-major. Packing reads the operands where they lie, transposed or not, so no caller
 * copies. Products with few columns run column tiles instead (gemm.h), and a few columns
 * past whole panels run them on their own. */
#include "gemm.h"

#include <omp.h>
#include <stdlib.h>

#include "../core/threads.h"

enum { MAX_TILE = 512 };   /* floats of the largest kernel tile (12 x 32) and then some */

typedef struct {
    bool ta, tb;
    int64_t m, n, k;
    float alpha, beta;
    const float *a, *b;
    int64_t lda, ldb, ldc;
    float *c;
} product;

const graft_gemm_kernel *graft_gemm_kernel_for(graft_isa isa) {
    const graft_gemm_kernel *k = isa == GRAFT_ISA_AVX512 ? &graft_gemm_avx512
                                 : isa == GRAFT_ISA_AVX2 ? &graft_gemm_avx2
                                                         : &graft_gemm_generic;
    return k->tile ? k : &graft_gemm_generic;
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t round_up(int64_t v, int64_t to) { return (v + to - 1) / to * to; }

/* dst (kb x panel) = rows 0 .. rows of src (stride ld) transposed, 0 past them. */
static void pack_rows(const graft_gemm_kernel *kn, float *dst, int panel, const float *src, int64_t ld, int rows,
                      int64_t kb) {
    if (kn->pack_rows) {
        kn->pack_rows(dst, panel, src, ld, rows, kb);
        return;
    }
    for (int r = 0; r < panel; r++)   /* row by row: each read streams */
        for (int64_t q = 0; q < kb; q++) dst[q * panel + r] = r < rows ? src[r * ld + q] : 0.0f;
}

/* pa = op(A)[i0 .. i0+rows, p0 .. p0+kb] in panels of mr rows, k-major, rows past the end 0. */
static void pack_a(float *pa, const product *p, const graft_gemm_kernel *kn, int mr, int64_t i0, int64_t rows,
                   int64_t p0, int64_t kb) {
    for (int64_t r0 = 0; r0 < rows; r0 += mr, pa += mr * kb) {
        int h = (int)min64(mr, rows - r0);
        if (p->ta) {   /* op(A)(i, q) = a[q][i]: each k's rows lie together */
            const float *src = p->a + p0 * p->lda + i0 + r0;
            for (int64_t q = 0; q < kb; q++)   /* loops, not memcpy: a call per 12 floats cost more than the copy */
                for (int r = 0; r < mr; r++) pa[q * mr + r] = r < h ? src[q * p->lda + r] : 0.0f;
        } else {
            pack_rows(kn, pa, mr, p->a + (i0 + r0) * p->lda + p0, p->lda, h, kb);
        }
    }
}

/* pb = op(B)[p0 .. p0+kb, j0 .. j0+cols] in panels of nr columns, k-major, columns past the end 0. */
static void pack_b(float *pb, const product *p, const graft_gemm_kernel *kn, int64_t p0, int64_t kb, int64_t j0,
                   int64_t cols) {
    int nr = kn->nr;
    for (int64_t c0 = 0; c0 < cols; c0 += nr, pb += nr * kb) {
        int w = (int)min64(nr, cols - c0);
        if (p->tb) {   /* op(B)(q, j) = b[j][q]: each column is a row of b */
            pack_rows(kn, pb, nr, p->b + (j0 + c0) * p->ldb + p0, p->ldb, w, kb);
        } else {
            const float *src = p->b + p0 * p->ldb + j0 + c0;
            for (int64_t q = 0; q < kb; q++)
                for (int j = 0; j < nr; j++) pb[q * nr + j] = j < w ? src[q * p->ldb + j] : 0.0f;
        }
    }
}

/* One register tile at c; a piece at C's right edge (fewer columns than the tile) goes
 * through a whole tile on the stack. */
static void tile_at(const graft_gemm_kernel *kn, int64_t kb, const float *pa, const float *pb, int64_t ldb, float *c,
                    int64_t ldc, int64_t rows, int64_t cols, float alpha, float beta) {
    if (cols == kn->nr) {
        kn->tile(kb, pa, pb, ldb, c, ldc, (int)rows, alpha, beta);
        return;
    }
    float whole[MAX_TILE] __attribute__((aligned(64)));
    kn->tile(kb, pa, pb, ldb, whole, kn->nr, (int)rows, alpha, 0.0f);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            c[i * ldc + j] = whole[i * kn->nr + j] + (beta == 0.0f ? 0.0f : beta * c[i * ldc + j]);
}

/* C[i0 .. i1, j0 .. j1] on one thread, with pa and pb its packing buffers. Where A has few
 * rows (64 output channels), packing B would cost as much memory traffic as the product, so
 * B as it lies (not transposed) is read in place, row by row, and only a last panel narrower
 * than the tile is packed, so that no read passes B's end. Not where B's rows lie a multiple
 * of 1 KB apart: they would fall into the same cache sets (1024 x 1024 on AVX2: 53 against
 * 91 GFLOP/s packed). */
static void run_part(const product *p, const graft_gemm_kernel *kn, float *pa, float *pb, int64_t i0, int64_t i1,
                     int64_t j0, int64_t j1) {
    bool in_place = !p->tb && p->ldb % 256 != 0 && i1 - i0 <= 256;
    for (int64_t jc = j0; jc < j1; jc += kn->nc) {
        int64_t nb = min64(kn->nc, j1 - jc), whole = in_place ? nb / kn->nr * kn->nr : 0;
        for (int64_t pc = 0; pc < p->k; pc += kn->kc) {
            int64_t kb = min64(kn->kc, p->k - pc);
            float beta = pc == 0 ? p->beta : 1.0f;   /* later blocks of k add to what the first wrote */
            if (whole < nb) pack_b(pb + whole * kb, p, kn, pc, kb, jc + whole, nb - whole);
            for (int64_t ic = i0; ic < i1; ic += kn->mc) {
                int64_t mb = min64(kn->mc, i1 - ic);
                pack_a(pa, p, kn, kn->mr, ic, mb, pc, kb);
                for (int64_t ir = 0; ir < mb; ir += kn->mr)
                    for (int64_t jr = 0; jr < nb; jr += kn->nr) {
                        bool from_b = jr < whole;
                        const float *b = from_b ? p->b + pc * p->ldb + jc + jr : pb + jr * kb;
                        tile_at(kn, kb, pa + ir * kb, b, from_b ? p->ldb : kn->nr,
                                p->c + (ic + ir) * p->ldc + jc + jr, p->ldc, min64(kn->mr, mb - ir),
                                min64(kn->nr, nb - jr), p->alpha, beta);
                    }
            }
        }
    }
}

/* The same on column tiles: B read in place, A's blocks packed in panels of cmr rows even
 * when transposed (read in place, such a panel crossed a new cache line at every k and the
 * tile waited on memory). */
static void run_columns(const product *p, const graft_gemm_kernel *kn, float *pa, int64_t i0, int64_t i1,
                        int64_t j0, int64_t j1) {
    int64_t sq = p->tb ? 1 : p->ldb, sj = p->tb ? p->ldb : 1;
    for (int64_t ic = i0; ic < i1; ic += kn->mc) {
        int64_t mb = min64(kn->mc, i1 - ic);
        for (int64_t pc = 0; pc < p->k; pc += kn->kc) {
            int64_t kb = min64(kn->kc, p->k - pc);
            float beta = pc == 0 ? p->beta : 1.0f;
            pack_a(pa, p, kn, kn->cmr, ic, mb, pc, kb);
            for (int64_t jr = j0; jr < j1; jr += kn->cnr)
                for (int64_t ir = 0; ir < mb; ir += kn->cmr) {
                    kn->cols(kb, pa + ir * kb, kn->cmr, p->b + pc * sq + jr * sj, sq, sj,
                             p->c + (ic + ir) * p->ldc + jr, p->ldc, (int)min64(kn->cmr, mb - ir),
                             (int)min64(kn->cnr, j1 - jr), p->alpha, beta);
                }
        }
    }
}

/* Whether column tiles fill clearly more lanes than row tiles: few columns, which row tiles
 * round up to whole vectors, against many rows. */
static bool by_columns(const product *p, const graft_gemm_kernel *kn) {
    if (!kn->cols) return false;
    double rows_used = (double)p->n / (double)round_up(p->n, kn->nr);
    double cols_used = (double)p->m / (double)round_up(p->m, kn->cmr);
    return rows_used + 0.05 < cols_used;
}

/* The product without packing, for when the buffers cannot be had. */
static void run_unpacked(const product *p) {
    for (int64_t i = 0; i < p->m; i++)
        for (int64_t j = 0; j < p->n; j++) {
            float s = 0.0f;
            for (int64_t q = 0; q < p->k; q++)
                s += (p->ta ? p->a[q * p->lda + i] : p->a[i * p->lda + q]) *
                     (p->tb ? p->b[j * p->ldb + q] : p->b[q * p->ldb + j]);
            float *c = p->c + i * p->ldc + j;
            *c = p->alpha * s + (p->beta == 0.0f ? 0.0f : p->beta * *c);
        }
}

/* C = beta C, for products with nothing to multiply (k 0 or alpha 0, as BLAS has it). */
static void scale_c(const product *p) {
    for (int64_t i = 0; i < p->m; i++)
        for (int64_t j = 0; j < p->n; j++) {
            float *c = p->c + i * p->ldc + j;
            *c = p->beta == 0.0f ? 0.0f : p->beta * *c;
        }
}

/* How `threads` threads split C, in tiles of mr x nr: tm row parts times tn column parts, the
 * split whose busiest thread has the fewest tiles, then the least packing. */
static void split(const product *p, int64_t mr, int64_t nr, int threads, int *tm, int *tn) {
    int64_t mu = (p->m + mr - 1) / mr, nu = (p->n + nr - 1) / nr;
    double best = -1.0;
    *tm = *tn = 1;
    for (int cols = 1; cols <= threads; cols++) {
        if (threads % cols) continue;
        int rows = threads / cols;
        if (rows > mu || cols > nu) continue;
        int64_t tiles_m = (mu + rows - 1) / rows, tiles_n = (nu + cols - 1) / cols;
        double cost = (double)(tiles_m * tiles_n * mr * nr) + 8.0 * (double)(tiles_m * mr + tiles_n * nr);
        if (best < 0.0 || cost < best) best = cost, *tm = rows, *tn = cols;
    }
}

/* p on `threads` threads, by row tiles or by column tiles. */
static void multiply(const product *p, const graft_gemm_kernel *kn, int threads, bool columns) {
    int64_t m = p->m, n = p->n, k = p->k;
    int64_t mr = columns ? kn->cmr : kn->mr, nr = columns ? kn->cnr : kn->nr;
    int tm = 1, tn = 1;
    if (threads > 1) split(p, mr, nr, threads, &tm, &tn);
    int used = tm * tn;
    int64_t mu = (m + mr - 1) / mr, nu = (n + nr - 1) / nr;
    int64_t rows = (mu + tm - 1) / tm * mr, cols = (nu + tn - 1) / tn * nr;   /* a thread's most */
    /* A's blocks are whole panels (mc need not be a multiple of every panel height), and each
     * buffer starts on 64 bytes. */
    size_t a_floats = (size_t)round_up(round_up(min64(kn->mc, rows), mr) * min64(kn->kc, k), 16);
    size_t b_floats = columns ? 0 : (size_t)round_up(min64(kn->kc, k) * min64(kn->nc, cols), 16);
    size_t per_thread = a_floats + b_floats;
    float *buffers = aligned_alloc(64, sizeof(float) * per_thread * (size_t)used);
    if (!buffers) {
        run_unpacked(p);
        return;
    }
#pragma omp parallel num_threads(used) if (used > 1)
    {
        /* The runtime may give fewer threads than asked (OMP_THREAD_LIMIT, dynamic teams, a
         * build without OpenMP): each takes parts until all are done. */
        for (int t = omp_get_thread_num(); t < used; t += omp_get_num_threads()) {
            int r = t / tn, q = t % tn;
            int64_t i0 = min64(m, mu * r / tm * mr), i1 = min64(m, mu * (r + 1) / tm * mr);
            int64_t j0 = min64(n, nu * q / tn * nr), j1 = min64(n, nu * (q + 1) / tn * nr);
            float *mine = buffers + per_thread * (size_t)t;
            if (i1 > i0 && j1 > j0) {
                if (columns) run_columns(p, kn, mine, i0, i1, j0, j1);
                else run_part(p, kn, mine, mine + a_floats, i0, i1, j0, j1);
            }
        }
    }
    free(buffers);
}

void graft_gemm_with(graft_isa isa, int threads, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                     float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                     int64_t ldc) {
    product p = {trans_a, trans_b, m, n, k, alpha, beta, a, b, lda, ldb, ldc, c};
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == 0.0f) {
        scale_c(&p);
        return;
    }
    const graft_gemm_kernel *kn = graft_gemm_kernel_for(isa);
    /* A few columns past whole row panels (196 = 6 x 32 + 4, a 14x14 map) go to column
     * tiles on their own: the last panel would compute 32 columns for 4 (128 x 196 x 128 on
     * one core: 77 -> 102 GFLOP/s). With more left over (49 = 32 + 17), column tiles for
     * the whole product do better (70 against 64). */
    int64_t whole = n / kn->nr * kn->nr, rest = n - whole;
    if (kn->cols && whole > 0 && rest > 0 && 4 * rest <= kn->nr &&
        (double)rest / (double)kn->nr < (double)m / (double)round_up(m, kn->cmr)) {
        product left = p, right = p;
        left.n = whole;
        right.n = rest, right.b = trans_b ? b + whole * ldb : b + whole, right.c = c + whole;
        multiply(&left, kn, threads, false);
        multiply(&right, kn, threads, true);
        return;
    }
    multiply(&p, kn, threads, by_columns(&p, kn));
}

void graft_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    /* Below about a quarter of a million multiply-adds a team costs more than it saves. */
    int threads = omp_in_parallel() || (double)m * (double)n * (double)k < 262144.0 ? 1 : graft_threads_get();
    graft_gemm_with(graft_isa_in_use(), threads, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
