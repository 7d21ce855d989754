/* Copies between tensors of any layout and dtype, fills, and the helpers that produce a
 * contiguous tensor or one of another dtype. Outputs passed as `out` must be empty headers;
 * they are allocated here (through ctx) and stay empty on failure. */
#ifndef GRAFT_OPS_COPY_H
#define GRAFT_OPS_COPY_H

#include "../core/tensor.h"

/* dst[i] = (dst dtype) src[i]; src is broadcast to dst's shape. Converting f32 to an
 * integer truncates toward zero (NaN and out-of-range become INT64_MIN, then wrap for u8),
 * as PyTorch does. dst and src must not overlap unless they are the same view. */
graft_status graft_copy(graft_tensor *dst, const graft_tensor *src, graft_error *err);
/* Sets every element of t (any layout) to v converted to t's dtype. */
void graft_fill(graft_tensor *t, double v);
/* out = a contiguous tensor of dtype dt with src's values: a shared view when src already is
 * one, else a fresh copy. */
graft_status graft_contiguous_as(graft_ctx *ctx, graft_tensor *out, const graft_tensor *src,
                                 graft_dtype dt, graft_error *err);
/* out = a fresh contiguous copy of src in dtype dt (never shares storage). */
graft_status graft_clone_as(graft_ctx *ctx, graft_tensor *out, const graft_tensor *src,
                            graft_dtype dt, graft_error *err);
/* Converts one f32 to i64 as graft_copy does. */
int64_t graft_f32_to_i64(float v);

#endif
