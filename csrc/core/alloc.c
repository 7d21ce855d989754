/* The allocation-fault hook's per-ctx counting (alloc.h); empty without GRAFT_ALLOC_FAULTS. */
#include "alloc.h"

#ifdef GRAFT_ALLOC_FAULTS
bool graft_alloc_fails(graft_ctx *ctx, const char *site) {
    if (!ctx) return false;
    atomic_fetch_add(&ctx->fault_allocs, 1);
    pthread_mutex_lock(&ctx->cache_lock);   /* sites are literals: one pointer per site */
    int i = 0;
    while (i < ctx->fault_nsites && ctx->fault_sites[i] != site) i++;
    if (i == ctx->fault_nsites && i < GRAFT_FAULT_SITES) ctx->fault_sites[ctx->fault_nsites++] = site;
    pthread_mutex_unlock(&ctx->cache_lock);
    if (atomic_load(&ctx->fault_fired) && atomic_load(&ctx->fault_sticky)) return true;
    long long left = atomic_load(&ctx->fault_countdown);
    while (left > 0 && !atomic_compare_exchange_weak(&ctx->fault_countdown, &left, left - 1)) {
    }
    if (left != 1) return false;
    atomic_store(&ctx->fault_fired, true);
    return true;
}

void graft_alloc_faults_arm(graft_ctx *ctx, long long n, bool sticky) {
    atomic_store(&ctx->fault_allocs, 0);
    atomic_store(&ctx->fault_fired, false);
    atomic_store(&ctx->fault_sticky, sticky);
    atomic_store(&ctx->fault_countdown, n > 0 ? n : 0);
}

void graft_alloc_faults_stats(graft_ctx *ctx, long long *allocs, bool *fired, const char *const **sites,
                              int *nsites) {
    *allocs = atomic_load(&ctx->fault_allocs);
    *fired = atomic_load(&ctx->fault_fired);
    pthread_mutex_lock(&ctx->cache_lock);
    *sites = ctx->fault_sites;
    *nsites = ctx->fault_nsites;
    pthread_mutex_unlock(&ctx->cache_lock);
}
#else
typedef int graft_alloc_faults_unused;   /* ISO C wants something in a translation unit */
#endif
