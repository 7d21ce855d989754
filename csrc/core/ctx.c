/* graft_ctx set-up. */
#include "ctx.h"

void graft_ctx_init(graft_ctx *ctx, unsigned long long seed) {
    graft_rng_seed(&ctx->rng, seed);
    atomic_init(&ctx->live_bytes, 0);
    atomic_init(&ctx->debt, 0);
    atomic_init(&ctx->cap, 0);
    atomic_init(&ctx->peak_bytes, 0);
}
