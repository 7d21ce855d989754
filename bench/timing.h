/* Timing helpers shared by the C-level benchmarks. */
#ifndef GRAFT_BENCH_TIMING_H
#define GRAFT_BENCH_TIMING_H

#include <stdlib.h>
#include <time.h>

static inline double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The median of n timings (sorts them). */
static inline int timing_order(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline double median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, timing_order);
    return t[n / 2];
}

#endif
