/* graft's own GEMM: C = alpha op(A) op(B) + beta C on row-major f32, blocked and packed as
 * BLIS and MLAS do, on a register-tile kernel chosen by the CPU's features (cpu.h):
 * AVX-512, AVX2 with FMA, or portable C. It exists so that training speed does not hang on
 * the BLAS knowing the CPU's model (docs/performance.md). */
#ifndef GRAFT_OPS_GEMM_H
#define GRAFT_OPS_GEMM_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/cpu.h"

/* A register tile: the first `rows` (1 .. mr) rows of c (mr x nr, row stride ldc) = alpha pa pb
 * (+ beta c; c is never read when beta is 0), where pa holds k columns of mr floats and pb k
 * rows of nr floats, ldb apart. */
typedef void (*graft_gemm_tile_fn)(int64_t k, const float *pa, const float *pb, int64_t ldb, float *c, int64_t ldc,
                                   int rows, float alpha, float beta);

/* A column tile, for products with few columns (a convolution's 7 x 7 or 14 x 14 map per
 * image), which the tile above would fill badly (49 columns use 64 lanes): the first `rows`
 * (1 .. cmr) rows and `cols` (1 .. cnr) columns of c = alpha op(A) op(B) (+ beta c), where
 * A's cmr rows lie together at each k (sa floats apart), held in vectors, and B's element
 * (q, j) is at b[q sq + j sj], broadcast. Loads stop at `rows`, so A may be read in place. */
typedef void (*graft_gemm_cols_fn)(int64_t k, const float *a, int64_t sa, const float *b, int64_t sq, int64_t sj,
                                   float *c, int64_t ldc, int rows, int cols, float alpha, float beta);

typedef struct {
    int mr, nr;              /* the tile */
    int mc, kc, nc;          /* blocks: A's rows packed at a time (per thread), k, B's columns */
    graft_gemm_tile_fn tile;
    int cmr, cnr;            /* the column tile (none: cols NULL) */
    graft_gemm_cols_fn cols;
    /* dst (kb x panel, k-major) = the first `rows` (<= panel) rows of src (row stride ld) for
     * k 0 .. kb, transposed; rows past them 0. NULL: element by element. */
    void (*pack_rows)(float *dst, int panel, const float *src, int64_t ld, int rows, int64_t kb);
} graft_gemm_kernel;

void graft_gemm_pack_rows_avx2(float *dst, int panel, const float *src, int64_t ld, int rows, int64_t kb);

/* The kernels, each defined in its own file (gemm_<isa>.c); on a compiler or CPU family
 * without the set, its tile is NULL. */
extern const graft_gemm_kernel graft_gemm_avx512, graft_gemm_avx2, graft_gemm_generic;
const graft_gemm_kernel *graft_gemm_kernel_for(graft_isa isa);

/* C (m x n, row stride ldc) = alpha op(A) op(B) + beta C, op(X) = X or X^T, A (m x k) and B
 * (k x n) as op() sees them. With beta 0, C is only written (NaN in C stays out). Runs on
 * graft's thread count, or on one thread inside a parallel region. Never fails: where its
 * packing buffers cannot be had it multiplies unpacked, slowly. */
void graft_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
/* The same product with the kernel of isa, on `threads` threads: for tests and bench/. */
void graft_gemm_with(graft_isa isa, int threads, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                     float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                     int64_t ldc);

#endif
