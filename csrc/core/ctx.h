/* Per-lua_State state passed explicitly to the core: its RNG, the accounting of tensor
 * memory (live bytes, bytes allocated since the binding last nudged Lua's GC, an optional
 * cap), and a cache of freed large blocks (whole pages, see pages.h). Reusing pages that
 * are already resident skips the page faults and zeroing of fresh memory: about a tenth of
 * a 1024x1024 matmul, 7-9% of a resnet18 forward. A block serves any request it can hold
 * (the rest stays cached) and adjacent freed blocks join, so one stage's buffers serve
 * the next stage's other sizes. */
#ifndef GRAFT_CTX_H
#define GRAFT_CTX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "rng.h"

#define GRAFT_CACHE_SLOTS 64
#define GRAFT_CACHE_FLOOR_BYTES ((size_t)64 << 20)   /* see cache_budget in ctx.c */
#define GRAFT_CACHE_SLACK 16
#define GRAFT_FAULT_SITES 128   /* distinct allocation sites the fault hook records */   /* live + cached may pass the peak by 1/16 of it: cache_budget */

/* Kernel calls counted per state, so tests can see what backward did and did not run. */
typedef enum {
    GRAFT_COUNT_CONV_FORWARD, GRAFT_COUNT_CONV_GRAD_INPUT, GRAFT_COUNT_CONV_GRAD_WEIGHT,
    GRAFT_COUNT_LINEAR_FORWARD, GRAFT_COUNT_LINEAR_GRAD_INPUT, GRAFT_COUNT_LINEAR_GRAD_WEIGHT,
    GRAFT_COUNT_BN_FORWARD, GRAFT_COUNT_BN_BACKWARD,
    GRAFT_NUM_COUNTERS
} graft_counter;

typedef struct graft_ctx {
    graft_rng rng;
    atomic_size_t live_bytes;   /* storage bytes in use through this ctx */
    atomic_size_t debt;         /* bytes allocated since the binding last stepped the GC */
    atomic_size_t cap;          /* 0 = no limit on live + cached bytes */
    atomic_size_t peak_bytes;   /* the high-water mark of live_bytes */

    atomic_llong counters[GRAFT_NUM_COUNTERS];

    /* The allocation-fault hook (alloc.h), used only in GRAFT_ALLOC_FAULTS builds. */
    atomic_llong fault_countdown;   /* > 0: the allocation that takes it to 0 fails */
    atomic_llong fault_allocs;      /* allocations counted since the hook was armed */
    atomic_bool fault_fired;        /* the armed allocation failed */
    atomic_bool fault_sticky;       /* and every one after it fails too */
    int fault_nsites;               /* distinct sites reached (under cache_lock) */
    const char *fault_sites[GRAFT_FAULT_SITES];

    pthread_mutex_t cache_lock; /* loader threads free storage too */
    int ncached;
    size_t cached_bytes;
    unsigned long long clock;   /* ticks once per block given back: the blocks' ages */
    bool closed;                /* after graft_ctx_close: frees bypass the cache */
    struct {
        char *data;
        size_t bytes;
        unsigned long long given;   /* clock when last given back; the oldest goes first */
    } cache[GRAFT_CACHE_SLOTS];
} graft_ctx;

void graft_ctx_init(graft_ctx *ctx, unsigned long long seed);
/* Frees the cached blocks and stops caching; the ctx stays usable for accounting. */
void graft_ctx_close(graft_ctx *ctx);
/* `bytes` (whole pages, at least GRAFT_PAGES_MIN_BYTES) cut from the smallest cached block
 * that holds them, or NULL. */
void *graft_ctx_take_block(graft_ctx *ctx, size_t bytes);
/* Takes back pages from graft_ctx_take_block or graft_pages_map: cached while the budget
 * allows (see cache_budget in ctx.c), else returned to the OS. */
void graft_ctx_give_block(graft_ctx *ctx, void *data, size_t bytes);
/* Frees every cached block (before failing an allocation, or on request). */
void graft_ctx_flush(graft_ctx *ctx);
size_t graft_ctx_cached_bytes(graft_ctx *ctx);
/* Counts one call of a kernel; ctx may be NULL. */
void graft_ctx_count(graft_ctx *ctx, graft_counter c);
const char *graft_counter_name(graft_counter c);

#endif
