/* The process-wide thread count: the only mutable global in graft. It governs graft's
 * OpenMP loops and OpenBLAS, whose OpenMP build (Debian's libopenblas0-openmp) runs on the
 * same libgomp threads, so the two never oversubscribe the cores. */
#ifndef GRAFT_THREADS_H
#define GRAFT_THREADS_H

#include <stdint.h>

/* The count in force: set by graft_threads_set, else OpenBLAS's own default (which follows
 * OPENBLAS_NUM_THREADS / OMP_NUM_THREADS, or the number of cores). */
int graft_threads_get(void);
/* Sets the count for graft and OpenBLAS alike; n < 1 is taken as 1. */
void graft_threads_set(int n);
/* Call before each BLAS call: OpenBLAS's OpenMP build sizes a call by the calling
 * thread's OpenMP setting, and rewrites its process-wide count (unguarded) when the two
 * differ, so a host thread that never set it would race with the others. This makes the
 * calling thread's setting graft's count. */
void graft_threads_before_blas(void);
/* Threads to use for a loop of `work` element-operations: 1 below the size where starting
 * a team costs more than it saves, and inside an enclosing parallel region. */
int graft_threads_for(int64_t work);

#endif
