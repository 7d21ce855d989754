/* graft_gemm (csrc/ops/gemm.h) on every instruction set this CPU has, against a
 * double-precision product: all four transpose cases, strides wider than the matrices,
 * alpha and beta (beta 0 must overwrite NaN in C, as BLAS does), k and alpha 0, shapes
 * around the edges of every tile (rows past 12, 6 and 4; columns past 32, 16 and 8), narrow
 * products that take the column tiles (49 columns), products whose last few columns do (98,
 * 196, 33), k past one block (256), and the split between two threads. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../csrc/ops/gemm.h"
#include "tap.h"

static float uniform(unsigned *seed) {
    *seed = *seed * 1103515245u + 12345u;
    return (float)((*seed >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

typedef struct {
    int64_t m, n, k;
    bool ta, tb;
    float alpha, beta;
} problem;

/* Worst error of one product against double, relative to the sum of |terms| per element;
 * negative if an element outside C was touched. */
static double worst_error(graft_isa isa, int threads, const problem *pr) {
    int64_t m = pr->m, n = pr->n, k = pr->k;
    int64_t ar = pr->ta ? k : m, ac = pr->ta ? m : k, br = pr->tb ? n : k, bc = pr->tb ? k : n;
    int64_t lda = ac + 3, ldb = bc + 1, ldc = n + 5;
    unsigned seed = (unsigned)(m * 7919 + n * 104729 + k * 31 + pr->ta * 2 + pr->tb);
    float *a = malloc(sizeof(float) * (size_t)(ar * lda + 1)), *b = malloc(sizeof(float) * (size_t)(br * ldb + 1));
    float *c = malloc(sizeof(float) * (size_t)(m * ldc + 1)), *c0 = malloc(sizeof(float) * (size_t)(m * ldc + 1));
    for (int64_t i = 0; i < ar * lda + 1; i++) a[i] = uniform(&seed);
    for (int64_t i = 0; i < br * ldb + 1; i++) b[i] = uniform(&seed);
    for (int64_t i = 0; i < m * ldc + 1; i++) c0[i] = c[i] = pr->beta == 0.0f ? NAN : uniform(&seed);
    graft_gemm_with(isa, threads, pr->ta, pr->tb, m, n, k, pr->alpha, a, lda, b, ldb, pr->beta, c, ldc);
    double worst = 0.0;
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            double s = 0.0, mag = 1e-30;
            for (int64_t q = 0; q < k; q++) {
                double t = (double)(pr->ta ? a[q * lda + i] : a[i * lda + q]) *
                           (double)(pr->tb ? b[j * ldb + q] : b[q * ldb + j]);
                s += t, mag += fabs(t);
            }
            double want = pr->alpha * s + (pr->beta == 0.0f ? 0.0 : pr->beta * (double)c0[i * ldc + j]);
            mag = fabs(pr->alpha) * mag + (pr->beta == 0.0f ? 0.0 : fabs(pr->beta * c0[i * ldc + j])) + 1e-30;
            double e = isnan(c[i * ldc + j]) ? INFINITY : fabs(c[i * ldc + j] - want) / mag;
            if (e > worst) worst = e;
        }
        for (int64_t j = n; j < ldc && i * ldc + j < m * ldc + 1; j++)   /* the stride's gap stays as it was */
            if (!(c[i * ldc + j] == c0[i * ldc + j] || (isnan(c[i * ldc + j]) && isnan(c0[i * ldc + j])))) worst = -1.0;
    }
    free(a), free(b), free(c), free(c0);
    return worst;
}

int main(void) {
    static const int64_t sizes[][3] = {
        {1, 1, 1},    {1, 33, 7},    {13, 1, 5},   {12, 32, 16},  {13, 33, 17}, {25, 65, 3},  {7, 17, 300},
        {64, 49, 576}, {100, 49, 70}, {512, 98, 40}, {40, 196, 129}, {70, 9, 257}, {3, 200, 513}, {64, 784, 64},
        {300, 255, 20}, {20, 511, 30},   /* B packed: A of many rows; B's rows 1 KB apart (ldb = n + 1) */
    };
    static const float scales[][2] = {{1.0f, 0.0f}, {0.5f, 1.0f}, {-1.0f, -0.5f}};
    int nsizes = (int)(sizeof sizes / sizeof sizes[0]), cases = nsizes * 4 * 3;
    int isas = 0;
    for (int i = 0; i < 3; i++) isas += graft_cpu_has((graft_isa)i);
    tap_plan(isas * 2 * cases + 4);
    for (int i = 0; i < 3; i++) {
        if (!graft_cpu_has((graft_isa)i)) continue;
        for (int threads = 1; threads <= 2; threads++)
            for (int s = 0; s < nsizes; s++)
                for (int t = 0; t < 4; t++)
                    for (int v = 0; v < 3; v++) {
                        problem pr = {sizes[s][0], sizes[s][1], sizes[s][2], t & 1, t >> 1, scales[v][0], scales[v][1]};
                        double e = worst_error((graft_isa)i, threads, &pr);
                        char name[160];
                        snprintf(name, sizeof name, "%s, %d thread(s): %lldx%lldx%lld ta=%d tb=%d alpha=%g beta=%g",
                                 graft_isa_name((graft_isa)i), threads, (long long)pr.m, (long long)pr.n,
                                 (long long)pr.k, pr.ta, pr.tb, (double)pr.alpha, (double)pr.beta);
                        if (!tap_ok(e >= 0.0 && e < 1e-5, name)) printf("# relative error %g\n", e);
                    }
    }
    /* Fewer threads than asked for (here none may start: no parallel level is active), as
     * OMP_THREAD_LIMIT, dynamic teams or a build without OpenMP give: every part of C is
     * still computed (the fuzzer's clang build found half of it left unwritten). */
    int levels = omp_get_max_active_levels();
    omp_set_max_active_levels(0);
    problem wide = {100, 300, 40, false, false, 1.0f, 0.0f};
    double e = worst_error(graft_cpu_best(), 2, &wide);
    omp_set_max_active_levels(levels);
    if (!tap_ok(e >= 0.0 && e < 1e-5, "two threads asked, one given: the whole product")) printf("# relative error %g\n", e);
    /* k = 0 and alpha = 0: C = beta C, as BLAS has it (NaN in A stays out). */
    float a[4] = {NAN, NAN, NAN, NAN}, b[4] = {1, 2, 3, 4}, c[4] = {1, 2, 3, 4};
    graft_gemm(false, false, 2, 2, 0, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    tap_ok(c[0] == 0 && c[1] == 0 && c[2] == 0 && c[3] == 0, "k 0, beta 0: C zeroed");
    c[0] = 1, c[1] = 2, c[2] = 3, c[3] = 4;
    graft_gemm(false, false, 2, 2, 2, 0.0f, a, 2, b, 2, 2.0f, c, 2);
    tap_ok(c[0] == 2 && c[1] == 4 && c[2] == 6 && c[3] == 8, "alpha 0: C = beta C, A unread");
    graft_paths paths;
    graft_error err;
    tap_ok(graft_paths_chosen(&paths, &err) == GRAFT_OK && graft_cpu_has(paths.isa), "the chosen set runs here");
    return tap_failed != 0;
}
