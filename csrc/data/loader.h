/* The loader's worker pool: threads that read image files, decode them and apply a
 * transform pipeline, a batch at a time, while the Lua thread trains on the previous
 * batch. A pool belongs to one graft.data.Loader (no state is shared between pools or
 * lua_States). Sample i of a batch draws its random parameters from a generator seeded by
 * (seed, epoch, index), so results never depend on which thread ran it. */
#ifndef GRAFT_DATA_LOADER_H
#define GRAFT_DATA_LOADER_H

#include "../core/tensor.h"
#include "pipeline.h"

typedef struct graft_pool graft_pool;
typedef struct graft_batch graft_batch;

/* A pool of `workers` threads (0: every batch is made by the thread that waits for it). */
graft_status graft_pool_new(graft_pool **out, int workers, graft_error *err);
/* Cancels the pool's unfinished batches, stops and joins its threads, frees it. Batches
 * not yet freed stay valid to free (they report themselves cancelled). */
void graft_pool_free(graft_pool *pool);

typedef struct {
    const char *path;
    uint64_t seed[3];     /* (seed, epoch, index) */
} graft_sample_spec;

/* Queues n samples, each read from its path, converted to `channels` (0 = the file's own),
 * then put through steps[0..nsteps). Everything is copied: the caller's arrays may go. */
graft_status graft_batch_submit(graft_pool *pool, int n, const graft_sample_spec *samples,
                                const graft_tf *steps, int nsteps, int channels, int64_t max_pixels,
                                graft_batch **out, graft_error *err);
/* The number of samples in b. */
int graft_batch_count(const graft_batch *b);
/* Waits until every sample is done, running queued samples of this batch itself meanwhile. */
void graft_batch_wait(graft_batch *b);
/* After wait: sample i's status (its message in *err when not OK). */
graft_status graft_batch_status(const graft_batch *b, int i, graft_error *err);
/* After wait: the generator state after sample i's transforms (for transforms run later). */
const graft_rng *graft_batch_rng(const graft_batch *b, int i);
/* After wait: stacks the samples whose `keep` is nonzero (all when keep is NULL) into a new
 * f32 tensor {k, C, H, W}; they must have one shape. */
graft_status graft_batch_collate(graft_batch *b, const char *keep, graft_ctx *ctx, graft_tensor *out,
                                 graft_error *err);
/* After wait: sample i alone as a new f32 tensor {C, H, W}. */
graft_status graft_batch_sample(graft_batch *b, int i, graft_ctx *ctx, graft_tensor *out, graft_error *err);
/* Cancels what has not started, waits for what has, frees the batch. */
void graft_batch_free(graft_batch *b);

#endif
