/* graft_packed_gemm (csrc/ops/packed_gemm.h) against a double-precision product: shapes
 * around the edges of both tiles (rows past whole panels, columns past 12, 16 and 32), bias
 * and ReLU, b read where it lies (with a row stride wider than n) and made by a panel callback,
 * on one thread and on two with either split (column panels, row panels). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../csrc/ops/packed_gemm.h"
#include "tap.h"

typedef struct {
    const float *b;
    int64_t ldb, k;
} matrix_ref;

/* A panel callback that copies columns of a stored matrix, as a convolution's im2col
 * columns would be made; it poisons the floats it need not write. */
static void copy_panel(float *panel, int64_t n0, int64_t width, const void *arg) {
    const matrix_ref *r = arg;
    for (int64_t i = 0; i < r->k; i++)
        for (int64_t j = 0; j < GRAFT_PACKED_COLS; j++)
            panel[i * GRAFT_PACKED_COLS + j] = j < width ? r->b[i * r->ldb + n0 + j] : NAN;
}

static float uniform(unsigned *seed) {
    *seed = *seed * 1103515245u + 12345u;
    return (float)((*seed >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

/* Worst error of one product against double, relative to the sum of |terms| per element. */
static double worst_error(int64_t m, int64_t n, int64_t k, bool fill, bool bias, bool relu, int threads) {
    unsigned seed = (unsigned)(m * 7919 + n * 104729 + k);
    int64_t ldb = n + 3, ldc = n + 5;
    float *a = malloc(sizeof(float) * (size_t)(m * k)), *b = malloc(sizeof(float) * (size_t)(k * ldb));
    float *c = malloc(sizeof(float) * (size_t)(m * ldc)), *bv = malloc(sizeof(float) * (size_t)m);
    float *pa = malloc(sizeof(float) * graft_packed_floats(m, k));
    for (int64_t i = 0; i < m * k; i++) a[i] = uniform(&seed);
    for (int64_t i = 0; i < k * ldb; i++) b[i] = uniform(&seed);
    for (int64_t i = 0; i < m; i++) bv[i] = uniform(&seed);
    for (int64_t i = 0; i < m * ldc; i++) c[i] = 12345.0f;   /* past n: must stay */
    graft_pack_rows(pa, a, m, k, k);
    matrix_ref ref = {b, ldb, k};
    graft_packed_rhs rhs = fill ? (graft_packed_rhs){.fill = copy_panel, .arg = &ref} : (graft_packed_rhs){.b = b, .ldb = ldb};
    float *scratch = malloc(sizeof(float) * (graft_packed_scratch(m, n, k, &rhs, threads) + 1));
    graft_packed_gemm(c, ldc, pa, m, k, &rhs, n, bias ? bv : NULL, relu, scratch, threads);
    double worst = 0;
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            double sum = bias ? bv[i] : 0, mag = fabs(sum);
            for (int64_t l = 0; l < k; l++) {
                sum += (double)a[i * k + l] * b[l * ldb + j];
                mag += fabs((double)a[i * k + l] * b[l * ldb + j]);
            }
            if (relu && sum < 0) sum = 0;
            double e = fabs(c[i * ldc + j] - sum) / (mag + 1e-30);
            if (!(e <= worst)) worst = e;   /* NaN counts as the worst */
        }
        for (int64_t j = n; j < ldc; j++)
            if (c[i * ldc + j] != 12345.0f) worst = INFINITY;
    }
    free(a), free(b), free(c), free(bv), free(pa), free(scratch);
    return worst;
}

int main(void) {
    /* row tiles: 12x32x7 to 24x31x1 and 62x100x17 (a last tile of 8 rows); column tiles
     * (narrow b against whole panels of rows, and b of 16 columns or fewer): 1x1x1, 25x16x9,
     * 64x49x576 to 33x13x40, k past blocks of 512 among them */
    static const int64_t shapes[][3] = {{1, 1, 1},     {12, 32, 7},   {13, 33, 20},  {25, 16, 9},   {11, 17, 64},
                                        {40, 200, 147}, {24, 31, 1},  {62, 100, 17}, {64, 49, 576}, {512, 49, 300},
                                        {96, 20, 700}, {64, 5, 257},  {32, 49, 100}, {40, 16, 600}, {33, 13, 40}};
    int count = (int)(sizeof shapes / sizeof shapes[0]);
    tap_plan(4 * count + 1);
    if (!graft_packed_available()) {
        for (int i = 0; i < 4 * count + 1; i++) printf("ok %d # skip no AVX-512 on this CPU\n", i + 1);
        return 0;
    }
    char name[160];
    for (int i = 0; i < count; i++) {
        int64_t m = shapes[i][0], n = shapes[i][1], k = shapes[i][2];
        for (int variant = 0; variant < 4; variant++) {
            bool fill = variant & 1, extras = variant & 2;
            int threads = variant == 1 || variant == 2 ? 2 : 1;
            double e = worst_error(m, n, k, fill, extras, extras, threads);
            snprintf(name, sizeof name, "%lldx%lldx%lld, b %s%s, %d thread(s): error %.2g of the |terms| sum",
                     (long long)m, (long long)n, (long long)k, fill ? "made by panels" : "as it lies",
                     extras ? ", bias and ReLU" : "", threads, e);
            tap_ok(e <= 4 * 1.2e-7 * sqrt((double)k), name);
        }
    }
    tap_ok(graft_packed_floats(40, 5) == 64 * 5, "40 rows pack into two panels of 32");
    return tap_failed != 0;
}
