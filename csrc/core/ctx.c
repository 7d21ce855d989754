/* graft_ctx set-up and its cache of freed blocks of pages. */
#include "ctx.h"

#include "pages.h"

#include <string.h>

void graft_ctx_init(graft_ctx *ctx, unsigned long long seed) {
    memset(ctx, 0, sizeof *ctx);
    graft_rng_seed(&ctx->rng, seed);
    atomic_init(&ctx->live_bytes, 0);
    atomic_init(&ctx->debt, 0);
    atomic_init(&ctx->cap, 0);
    atomic_init(&ctx->peak_bytes, 0);
    atomic_init(&ctx->fault_countdown, 0);
    atomic_init(&ctx->fault_allocs, 0);
    atomic_init(&ctx->fault_fired, false);
    atomic_init(&ctx->fault_sticky, false);
    pthread_mutex_init(&ctx->cache_lock, NULL);
}

void graft_ctx_close(graft_ctx *ctx) {
    pthread_mutex_lock(&ctx->cache_lock);
    ctx->closed = true;
    pthread_mutex_unlock(&ctx->cache_lock);
    graft_ctx_flush(ctx);
}

typedef struct {
    char *data;
    size_t bytes;
} span;

/* Pages to return to the OS once the lock is released. */
typedef struct {
    int n;
    span at[GRAFT_CACHE_SLOTS + 1];
} unmap_list;

static void unmap_all(const unmap_list *u) {
    for (int i = 0; i < u->n; i++) graft_pages_unmap(u->at[i].data, u->at[i].bytes);
}

/* What the cache may hold beside the live tensors and `incoming` more bytes: never enough
 * to take the two more than a sixteenth past the highest live total seen (or a small
 * floor). The cache keeps what a repeating loop has shown it needs. The sixteenth is room
 * for dead tensors that wait for Lua's collector: without it they hold the memory a loop's
 * next large buffer needs, and every pass gave back resident pages and faulted in fresh
 * ones (900 a resnet18 forward at batch 1, a tenth of its time). */
static size_t cache_budget(graft_ctx *ctx, size_t incoming) {
    size_t peak = atomic_load(&ctx->peak_bytes), live = atomic_load(&ctx->live_bytes) + incoming;
    if (peak < GRAFT_CACHE_FLOOR_BYTES) peak = GRAFT_CACHE_FLOOR_BYTES;
    peak += peak / GRAFT_CACHE_SLACK;
    return peak > live ? peak - live : 0;
}

/* Unlinks slot i (the slots' order means nothing: ages are kept in each). */
static void unlink_slot(graft_ctx *ctx, int i) {
    ctx->cached_bytes -= ctx->cache[i].bytes;
    ctx->cache[i] = ctx->cache[--ctx->ncached];
}

/* Drops the oldest blocks until `bytes` more fit in `budget` and a free slot. */
static void make_room(graft_ctx *ctx, size_t bytes, size_t budget, unmap_list *u) {
    while (ctx->ncached > 0 && (ctx->ncached == GRAFT_CACHE_SLOTS ||
                                ctx->cached_bytes + bytes > budget)) {
        int oldest = 0;
        for (int i = 1; i < ctx->ncached; i++)
            if (ctx->cache[i].given < ctx->cache[oldest].given) oldest = i;
        u->at[u->n++] = (span){ctx->cache[oldest].data, ctx->cache[oldest].bytes};
        unlink_slot(ctx, oldest);
    }
}

void *graft_ctx_take_block(graft_ctx *ctx, size_t bytes) {
    char *found = NULL;
    unmap_list u = {0};
    size_t budget = cache_budget(ctx, bytes);
    pthread_mutex_lock(&ctx->cache_lock);
    int best = -1;   /* the smallest block that holds bytes; of equals, the newest (warm) */
    for (int i = 0; i < ctx->ncached; i++) {
        size_t b = ctx->cache[i].bytes;
        if (b < bytes) continue;
        if (best < 0 || b < ctx->cache[best].bytes ||
            (b == ctx->cache[best].bytes && ctx->cache[i].given > ctx->cache[best].given))
            best = i;
    }
    if (best >= 0) {   /* the rest stays cached, however small: it joins the block again */
        found = ctx->cache[best].data;
        if (bytes < ctx->cache[best].bytes) {
            ctx->cache[best].data += bytes;
            ctx->cache[best].bytes -= bytes;
            ctx->cached_bytes -= bytes;
        } else {
            unlink_slot(ctx, best);
        }
    } else {
        make_room(ctx, 0, budget, &u);   /* the caller maps fresh pages: keep the peak */
    }
    pthread_mutex_unlock(&ctx->cache_lock);
    unmap_all(&u);
    if (found) graft_pages_show(found, bytes);
    return found;
}

void graft_ctx_give_block(graft_ctx *ctx, void *data, size_t bytes) {
    unmap_list u = {0};
    char *p = data;
    size_t budget = cache_budget(ctx, 0), page = graft_page_size();
    graft_pages_hide(data, bytes);
    pthread_mutex_lock(&ctx->cache_lock);
    if (ctx->closed) budget = 0;
    /* Join the cached neighbours: pages freed piecemeal serve a large request again. */
    for (int i = 0; i < ctx->ncached;) {
        if (ctx->cache[i].data + ctx->cache[i].bytes == p) p = ctx->cache[i].data;
        else if (p + bytes != ctx->cache[i].data) {
            i++;
            continue;
        }
        bytes += ctx->cache[i].bytes;
        unlink_slot(ctx, i);
    }
    make_room(ctx, bytes, budget, &u);
    size_t keep = bytes <= budget ? bytes : budget / page * page;   /* what fits of this one */
    if (keep < GRAFT_PAGES_MIN_BYTES) keep = 0;
    if (keep) {
        ctx->cache[ctx->ncached].data = p;
        ctx->cache[ctx->ncached].bytes = keep;
        ctx->cache[ctx->ncached++].given = ++ctx->clock;
        ctx->cached_bytes += keep;
    }
    if (keep < bytes) u.at[u.n++] = (span){p + keep, bytes - keep};
    pthread_mutex_unlock(&ctx->cache_lock);
    unmap_all(&u);
}

void graft_ctx_flush(graft_ctx *ctx) {
    unmap_list u = {0};
    pthread_mutex_lock(&ctx->cache_lock);
    make_room(ctx, 0, 0, &u);
    pthread_mutex_unlock(&ctx->cache_lock);
    unmap_all(&u);
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
