/* graft_ctx set-up and its cache of freed blocks. */
#include "ctx.h"

#include <stdlib.h>
#include <string.h>

void graft_ctx_init(graft_ctx *ctx, unsigned long long seed) {
    memset(ctx, 0, sizeof *ctx);
    graft_rng_seed(&ctx->rng, seed);
    atomic_init(&ctx->live_bytes, 0);
    atomic_init(&ctx->debt, 0);
    atomic_init(&ctx->cap, 0);
    atomic_init(&ctx->peak_bytes, 0);
    pthread_mutex_init(&ctx->cache_lock, NULL);
}

void graft_ctx_close(graft_ctx *ctx) {
    pthread_mutex_lock(&ctx->cache_lock);
    ctx->closed = true;
    pthread_mutex_unlock(&ctx->cache_lock);
    graft_ctx_flush(ctx);
}

void *graft_ctx_take_block(graft_ctx *ctx, size_t bytes) {
    void *found = NULL;
    if (bytes < GRAFT_CACHE_MIN_BYTES) return NULL;
    pthread_mutex_lock(&ctx->cache_lock);
    for (int i = ctx->ncached - 1; i >= 0 && !found; i--) {   /* newest first: warm in cache */
        if (ctx->cache[i].bytes != bytes) continue;
        found = ctx->cache[i].data;
        ctx->cached_bytes -= bytes;
        memmove(&ctx->cache[i], &ctx->cache[i + 1], sizeof ctx->cache[0] * (size_t)(ctx->ncached - i - 1));
        ctx->ncached--;
    }
    pthread_mutex_unlock(&ctx->cache_lock);
    return found;
}

/* What the cache may hold next to the live tensors: never more than would take the two
 * past the highest live total seen (or a small floor), so the cache keeps what a repeating
 * loop has already shown it needs, and never raises the process's peak. */
static size_t cache_budget(graft_ctx *ctx) {
    size_t peak = atomic_load(&ctx->peak_bytes), live = atomic_load(&ctx->live_bytes);
    if (peak < GRAFT_CACHE_FLOOR_BYTES) peak = GRAFT_CACHE_FLOOR_BYTES;
    return peak > live ? peak - live : 0;
}

bool graft_ctx_give_block(graft_ctx *ctx, void *data, size_t bytes) {
    size_t budget = cache_budget(ctx);
    if (bytes < GRAFT_CACHE_MIN_BYTES || bytes > budget) return false;
    void *evicted[GRAFT_CACHE_SLOTS];
    int nevicted = 0;
    bool kept = false;
    pthread_mutex_lock(&ctx->cache_lock);
    if (!ctx->closed) {
        /* Make room by dropping the oldest blocks. */
        while (ctx->ncached > 0 && (ctx->ncached == GRAFT_CACHE_SLOTS ||
                                    ctx->cached_bytes + bytes > budget)) {
            evicted[nevicted++] = ctx->cache[0].data;
            ctx->cached_bytes -= ctx->cache[0].bytes;
            memmove(&ctx->cache[0], &ctx->cache[1], sizeof ctx->cache[0] * (size_t)(ctx->ncached - 1));
            ctx->ncached--;
        }
        ctx->cache[ctx->ncached].data = data;
        ctx->cache[ctx->ncached].bytes = bytes;
        ctx->ncached++;
        ctx->cached_bytes += bytes;
        kept = true;
    }
    pthread_mutex_unlock(&ctx->cache_lock);
    for (int i = 0; i < nevicted; i++) free(evicted[i]);   /* outside the lock */
    return kept;
}

void graft_ctx_flush(graft_ctx *ctx) {
    void *blocks[GRAFT_CACHE_SLOTS];
    pthread_mutex_lock(&ctx->cache_lock);
    int n = ctx->ncached;
    for (int i = 0; i < n; i++) blocks[i] = ctx->cache[i].data;
    ctx->ncached = 0;
    ctx->cached_bytes = 0;
    pthread_mutex_unlock(&ctx->cache_lock);
    for (int i = 0; i < n; i++) free(blocks[i]);
}

size_t graft_ctx_cached_bytes(graft_ctx *ctx) {
    pthread_mutex_lock(&ctx->cache_lock);
    size_t n = ctx->cached_bytes;
    pthread_mutex_unlock(&ctx->cache_lock);
    return n;
}

void graft_ctx_count(graft_ctx *ctx, graft_counter c) {
    if (ctx) atomic_fetch_add_explicit(&ctx->counters[c], 1, memory_order_relaxed);
}

const char *graft_counter_name(graft_counter c) {
    static const char *const names[GRAFT_NUM_COUNTERS] = {
        "conv_forward", "conv_grad_input", "conv_grad_weight", "linear_forward",
        "linear_grad_input", "linear_grad_weight", "batch_norm_forward", "batch_norm_backward"};
    return names[c];
}
