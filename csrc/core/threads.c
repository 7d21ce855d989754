/* The thread count, read atomically so several lua_States in several threads may call in. */
#include "threads.h"

#include <omp.h>
#include <stdatomic.h>
#include <unistd.h>

static atomic_int num_threads; /* 0 = not set yet: the number of online cores */

int graft_threads_get(void) {
    int n = atomic_load_explicit(&num_threads, memory_order_relaxed);
    if (n > 0) return n;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores > 0 ? (int)cores : 1;
}

void graft_threads_set(int n) {
    atomic_store(&num_threads, n < 1 ? 1 : n);
    graft_threads_sync_blas();
}

int graft_threads_for(int64_t work) {
    if (work < 32768 || omp_in_parallel()) return 1;
    return graft_threads_get();
}

void graft_threads_sync_blas(void) {
    int n = graft_threads_get();
    if (omp_get_max_threads() != n) omp_set_num_threads(n);
}
