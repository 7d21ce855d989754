/* The process-wide thread count: the only mutable global in graft. It governs graft's
 * OpenMP loops and OpenBLAS, which (Debian's OpenMP build) share libgomp's threads. */
#ifndef GRAFT_THREADS_H
#define GRAFT_THREADS_H

#include <stdint.h>

int graft_threads_get(void);
void graft_threads_set(int n);                 /* n >= 1 */
/* Threads to use for a loop of `work` element-operations: 1 below the size where
 * starting a team costs more than it saves. */
int graft_threads_for(int64_t work);
/* Makes OpenBLAS calls from this thread use graft's count (OpenBLAS follows the
 * caller's OpenMP setting, which is per thread). Call before each BLAS call. */
void graft_threads_sync_blas(void);

#endif
