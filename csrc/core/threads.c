/* The thread count, read atomically so several lua_States in several threads may call in. */
#include "threads.h"

#include <cblas.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>

static atomic_int num_threads; /* 0 = never set: follow OpenBLAS's default */
/* openblas_set_num_threads writes OpenBLAS's globals unguarded: states in several threads
 * must not call it at once. */
static pthread_mutex_t openblas_setting = PTHREAD_MUTEX_INITIALIZER;

int graft_threads_get(void) {
    int n = atomic_load_explicit(&num_threads, memory_order_relaxed);
    return n > 0 ? n : openblas_get_num_threads();
}

void graft_threads_set(int n) {
    if (n < 1) n = 1;
    /* OpenBLAS keeps its own process-wide count; the calling thread's OpenMP setting does
     * not govern it (measured with Debian's 0.3.21 OpenMP build). */
    pthread_mutex_lock(&openblas_setting);
    atomic_store(&num_threads, n);
    openblas_set_num_threads(n);
    pthread_mutex_unlock(&openblas_setting);
}

void graft_threads_before_blas(void) {
    if (omp_in_parallel()) return; /* OpenBLAS runs single-threaded inside a region */
    int n = graft_threads_get();
    if (omp_get_max_threads() != n) omp_set_num_threads(n);
}

int graft_threads_for(int64_t work) {
    if (work < 32768 || omp_in_parallel()) return 1;
    return graft_threads_get();
}
