/* Selection by index: index_select, gather, topk. Index tensors are i64; `base` is the
 * number the first position has in them (1 from Lua, 0 from C), so indices are checked
 * and reported in the caller's own numbering. */
#ifndef GRAFT_OPS_INDEX_H
#define GRAFT_OPS_INDEX_H

#include <stdbool.h>

#include "../core/tensor.h"

/* out = x with dim restricted to the positions in the 1-D idx, in that order. */
graft_status graft_index_select(graft_ctx *ctx, graft_tensor *out, const graft_tensor *x,
                                int dim, const graft_tensor *idx, int64_t base, graft_error *err);
/* out[i][j][k] = x[i][idx[i][j][k]][k] for dim 1 (likewise for any dim); out has idx's shape,
 * idx has x's rank and no larger size than x outside dim. */
graft_status graft_gather(graft_ctx *ctx, graft_tensor *out, const graft_tensor *x, int dim,
                          const graft_tensor *idx, int64_t base, graft_error *err);
/* The k largest (or smallest) entries along dim, sorted, and their positions (i64, counted
 * from base). NaN counts as larger than any number, as in PyTorch. */
graft_status graft_topk(graft_ctx *ctx, graft_tensor *values, graft_tensor *indices,
                        const graft_tensor *x, int64_t k, int dim, bool largest, int64_t base,
                        graft_error *err);
/* dst[..., idx[i], ...] += src[..., i, ...] along dim, for the 1-D idx (index_select's
 * backward). dst and src have the same shape outside dim; repeated indices accumulate. */
graft_status graft_index_add(graft_tensor *dst, int dim, const graft_tensor *idx,
                             const graft_tensor *src, int64_t base, graft_error *err);
/* dst[i][idx[i][j][k]][k] += src[i][j][k] for dim 1 (likewise for any dim): gather's
 * backward. idx and src have one shape, no larger than dst's outside dim. f32 only. */
graft_status graft_scatter_add(graft_tensor *dst, int dim, const graft_tensor *idx,
                               const graft_tensor *src, int64_t base, graft_error *err);
/* Adds base to every element of the i64 tensor t (contiguous), e.g. to renumber positions. */
void graft_index_rebase(graft_tensor *t, int64_t base);

#endif
