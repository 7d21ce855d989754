/* GEMM on a weight matrix packed once: c (m x n) = a (m x k) b (k x n), plus a bias per row
 * and a ReLU if asked. a is a layer's weights (or their Winograd transform), packed when
 * they are prepared (inference, frozen layers) in panels of GRAFT_PACKED_ROWS rows, k-major,
 * so the kernel reads each panel as one stream. b is read where it lies, or made a panel of
 * GRAFT_PACKED_COLS columns at a time by the caller (a convolution's im2col columns, which
 * are then never stored whole).
 *
 * Why not BLAS: a BLAS call packs both operands on every call. At batch 1 the weights are
 * the large operand (512 x 4608 against 49 columns in ResNet's last layers), and OpenBLAS
 * spent a fifth of a resnet18 forward copying them; its kernel also runs narrow products
 * (49 or 196 columns) at 55-65% of the rate this one keeps (107-123 against 171-194 GFLOP/s
 * on two cores, docs/performance.md). The kernel is AVX-512 only: where the CPU lacks it (or
 * GRAFT_ISA chose another set), graft_packed_available() is false and callers use graft's
 * GEMM (gemm.h), which packs both operands per call as a BLAS does. */
#ifndef GRAFT_OPS_PACKED_GEMM_H
#define GRAFT_OPS_PACKED_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GRAFT_PACKED_ROWS 32   /* a's rows per panel: two vectors */
#define GRAFT_PACKED_COLS 32   /* b's columns per panel that the caller makes: two vectors */

bool graft_packed_available(void);
/* Floats that an (m x k) matrix packs into (rows padded with zeros to whole panels). */
size_t graft_packed_floats(int64_t m, int64_t k);
/* Where element (row, col) of an (m x k) matrix goes in its packing. */
static inline int64_t graft_packed_index(int64_t row, int64_t col, int64_t k) {
    return ((row / GRAFT_PACKED_ROWS) * k + col) * GRAFT_PACKED_ROWS + row % GRAFT_PACKED_ROWS;
}
/* pa (graft_packed_floats(m, k), zeroed padding included) = a (m x k, row stride lda). */
void graft_pack_rows(float *pa, const float *a, int64_t m, int64_t k, int64_t lda);

/* Fills panel (k rows of GRAFT_PACKED_COLS floats) with columns n0 .. n0 + width of b;
 * floats past width in each row are never read. */
typedef void (*graft_panel_fn)(float *panel, int64_t n0, int64_t width, const void *arg);

/* b as it lies (fill NULL: b with row stride ldb), or made panel by panel by fill(arg). */
typedef struct {
    const float *b;
    int64_t ldb;
    graft_panel_fn fill;
    const void *arg;
} graft_packed_rhs;

/* Floats of scratch graft_packed_gemm needs for this product: a panel per thread when b is
 * made by fill, or a transposed copy of c when narrow b runs by column tiles. */
size_t graft_packed_scratch(int64_t m, int64_t n, int64_t k, const graft_packed_rhs *rhs, int threads);
/* c (row stride ldc) = pa b (+ bias[row], bias may be NULL; relu: max(0, .)), on `threads`
 * threads (1 inside a parallel region). Never allocates, never fails. */
void graft_packed_gemm(float *c, int64_t ldc, const float *pa, int64_t m, int64_t k, const graft_packed_rhs *rhs,
                       int64_t n, const float *bias, bool relu, float *scratch, int threads);

#endif
