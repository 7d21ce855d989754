/* The machine's measured FMA peak: every thread runs independent chains of fused
 * multiply-adds on the widest vectors the CPU has (AVX-512, else AVX2+FMA, else SSE), long
 * enough to hide latency. Prints GFLOP/s for 1 thread and for all threads (one line each:
 * threads gflops), so the benchmarks quote percentages of a number measured here. */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#define CHAINS 12
#define ITERS 20000000L

__attribute__((target("avx512f"))) static double run_avx512(void) {
    __m512 acc[CHAINS], a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < ITERS; it++)
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    float out[16], sum = 0;
    for (int i = 0; i < CHAINS; i++) {
        _mm512_storeu_ps(out, acc[i]);
        sum += out[0];
    }
    if (sum == 12345.0f) puts("");   /* keeps the chains alive */
    return 2.0 * 16 * CHAINS * (double)ITERS;
}

__attribute__((target("avx2,fma"))) static double run_avx2(void) {
    __m256 acc[CHAINS], a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_set1_ps((float)i);
    for (long it = 0; it < ITERS; it++)
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    float out[8], sum = 0;
    for (int i = 0; i < CHAINS; i++) {
        _mm256_storeu_ps(out, acc[i]);
        sum += out[0];
    }
    if (sum == 12345.0f) puts("");
    return 2.0 * 8 * CHAINS * (double)ITERS;
}

static double run_sse(void) {   /* multiply and add apart: no FMA without AVX2 */
    __m128 acc[CHAINS], a = _mm_set1_ps(0.999999f), b = _mm_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm_set1_ps((float)i);
    for (long it = 0; it < ITERS / 4; it++)
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm_add_ps(_mm_mul_ps(acc[i], a), b);
    float out[4], sum = 0;
    for (int i = 0; i < CHAINS; i++) {
        _mm_storeu_ps(out, acc[i]);
        sum += out[0];
    }
    if (sum == 12345.0f) puts("");
    return 2.0 * 4 * CHAINS * (double)(ITERS / 4);
}

static double run(void) {
    if (__builtin_cpu_supports("avx512f")) return run_avx512();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return run_avx2();
    return run_sse();
}

int main(void) {
    int all = omp_get_max_threads();
    for (int threads = 1; threads <= all; threads = threads == all ? all + 1 : all) {
        double best = 0;
        for (int rep = 0; rep < 3; rep++) {
            double flops = 0, t0 = omp_get_wtime();
#pragma omp parallel num_threads(threads) reduction(+ : flops)
            flops += run();
            double g = flops / (omp_get_wtime() - t0) / 1e9;
            if (g > best) best = g;
        }
        printf("%d %.1f\n", threads, best);
    }
    return 0;
}
