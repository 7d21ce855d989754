/* bench/gemm_core.c — one f32 product through graft's GEMM on each instruction set this CPU
 * has and through cblas_sgemm (whatever core OpenBLAS chose), interleaved rep by rep.
 * Usage: gemm_core M N K TRANS_A TRANS_B THREADS REPEATS
 * Prints one line per path: "name seconds GFLOP/s" (medians). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "timing.h"

#include "../csrc/core/threads.h"
#include "../csrc/ops/gemm.h"

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: gemm_core M N K TRANS_A TRANS_B THREADS REPEATS\n");
        return 2;
    }
    int64_t m = atoll(argv[1]), n = atoll(argv[2]), k = atoll(argv[3]);
    int ta = atoi(argv[4]), tb = atoi(argv[5]), threads = atoi(argv[6]), reps = atoi(argv[7]);
    if (m < 1 || n < 1 || k < 1 || reps < 1 || threads < 1) return 2;
    graft_threads_set(threads);
    int64_t lda = ta ? m : k, ldb = tb ? k : n;
    float *a = malloc(sizeof(float) * (size_t)(m * k)), *b = malloc(sizeof(float) * (size_t)(k * n));
    float *c = malloc(sizeof(float) * (size_t)(m * n));
    double *t = malloc(sizeof(double) * (size_t)reps * 4);
    if (!a || !b || !c || !t) return 1;
    for (int64_t i = 0; i < m * k; i++) a[i] = (float)(i % 7) - 3.0f;
    for (int64_t i = 0; i < k * n; i++) b[i] = (float)(i % 5) - 2.0f;
    const char *names[4] = {"generic", "avx2", "avx512", "openblas"};
    for (int r = -2; r < reps; r++)
        for (int path = 0; path < 4; path++) {
            if (path < 3 && !graft_cpu_has((graft_isa)path)) continue;
            double t0 = now();
            if (path < 3)
                graft_gemm_with((graft_isa)path, threads, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
            else {
                graft_threads_before_blas();
                cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m,
                            (int)n, (int)k, 1.0f, a, (int)lda, b, (int)ldb, 0.0f, c, (int)n);
            }
            if (r >= 0) t[path * reps + r] = now() - t0;
        }
    for (int path = 0; path < 4; path++) {
        if (path < 3 && !graft_cpu_has((graft_isa)path)) continue;
        double s = median(t + path * reps, reps);
        printf("%-8s %.6f %.1f\n", names[path], s, 2.0 * (double)m * (double)n * (double)k / s / 1e9);
    }
    free(a), free(b), free(c), free(t);
    return 0;
}
