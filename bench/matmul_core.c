/* bench/matmul_core.c — for bench/matmul.lua: graft_matmul (a fresh output per call, as the
 * Lua API does) against a direct cblas_sgemm call into a preallocated buffer, interleaved
 * rep by rep so that the machine's drift hits both alike.
 * Usage: matmul_core N REPEATS THREADS; prints "graft_seconds cblas_seconds" (medians). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "timing.h"

#include "../csrc/core/threads.h"
#include "../csrc/ops/matmul.h"

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: matmul_core N REPEATS THREADS\n");
        return 2;
    }
    int64_t n = atoi(argv[1]);
    int reps = atoi(argv[2]);
    graft_threads_set(atoi(argv[3]));
    graft_ctx ctx;
    graft_ctx_init(&ctx, 1);
    graft_error err;
    graft_tensor a, b;
    int64_t size[2] = {n, n};
    graft_tensor_init_empty(&a);
    graft_tensor_init_empty(&b);
    if (graft_tensor_alloc(&a, &ctx, GRAFT_F32, 2, size, &err) || graft_tensor_alloc(&b, &ctx, GRAFT_F32, 2, size, &err))
        return 1;
    float *pa = graft_tensor_data(&a), *pb = graft_tensor_data(&b);
    for (int64_t i = 0; i < n * n; i++) pa[i] = pb[i] = (float)(i % 7) - 3.0f;
    float *c = malloc(sizeof(float) * (size_t)(n * n));
    double *tg = malloc(sizeof(double) * (size_t)reps), *tc = malloc(sizeof(double) * (size_t)reps);
    if (!c || !tg || !tc) return 1;
    for (int r = -2; r < reps; r++) {   /* two warm-up rounds */
        graft_tensor y;
        graft_tensor_init_empty(&y);
        double t0 = now();
        if (graft_matmul(&ctx, &y, &a, &b, &err) != GRAFT_OK) return 1;
        double t1 = now();
        graft_tensor_release(&y);
        double t2 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0f, pa, (int)n, pb,
                    (int)n, 0.0f, c, (int)n);
        double t3 = now();
        if (r >= 0) tg[r] = t1 - t0, tc[r] = t3 - t2;
    }
    printf("%.6f %.6f\n", median(tg, reps), median(tc, reps));
    graft_tensor_release(&a);
    graft_tensor_release(&b);
    graft_ctx_close(&ctx);
    free(c), free(tg), free(tc);
    return 0;
}
