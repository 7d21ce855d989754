/* Per-lua_State state passed explicitly to the core: its RNG, the accounting of tensor
 * memory (live bytes, bytes allocated since the binding last nudged Lua's GC, and an
 * optional cap), and counters of kernel calls for tests and profiling. */
#ifndef GRAFT_CTX_H
#define GRAFT_CTX_H

#include <stdatomic.h>
#include <stddef.h>

#include "rng.h"

typedef struct graft_ctx {
    graft_rng rng;
    atomic_size_t live_bytes;   /* storage bytes currently allocated through this ctx */
    atomic_size_t debt;         /* bytes allocated since the binding last stepped the GC */
    atomic_size_t cap;          /* 0 = no limit on live_bytes */
    atomic_size_t peak_bytes;   /* the high-water mark of live_bytes */
} graft_ctx;

void graft_ctx_init(graft_ctx *ctx, unsigned long long seed);

#endif
