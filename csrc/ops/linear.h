/* linear: y = x W^T + b over the last dim of x, one graft_sgemm for all leading dims, and
 * its gradients (only those asked for). */
#ifndef GRAFT_OPS_LINEAR_H
#define GRAFT_OPS_LINEAR_H

#include "../core/tensor.h"

/* y (empty, (..., out)) = x (..., in) W (out, in)^T + b (out) or NULL. */
graft_status graft_linear(graft_ctx *ctx, graft_tensor *y, const graft_tensor *x,
                          const graft_tensor *w, const graft_tensor *b, graft_error *err);
/* gx, gw, gb: empty headers to allocate, or NULL when not wanted. */
graft_status graft_linear_grad(graft_ctx *ctx, graft_tensor *gx, graft_tensor *gw, graft_tensor *gb,
                               const graft_tensor *g, const graft_tensor *x, const graft_tensor *w,
                               graft_error *err);

#endif
