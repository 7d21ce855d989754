/* Batch normalization (train: batch statistics and a momentum update of the running ones,
 * with the unbiased variance as PyTorch keeps it; eval: the running statistics) and layer
 * normalization, f32, with their gradients. */
#ifndef GRAFT_OPS_NORM_H
#define GRAFT_OPS_NORM_H

#include <stdbool.h>

#include "../core/tensor.h"

/* x (N, C, ...). y, mean and invstd (C, for backward) are empty headers. running_mean/var
 * (C) may be NULL; in training they are updated in place. weight/bias (C) may be NULL. */
graft_status graft_batch_norm(graft_ctx *ctx, graft_tensor *y, graft_tensor *mean, graft_tensor *invstd,
                              const graft_tensor *x, graft_tensor *running_mean, graft_tensor *running_var,
                              const graft_tensor *weight, const graft_tensor *bias, bool training,
                              double momentum, double eps, graft_error *err);
/* gx, gw, gb: empty headers or NULL. training: the statistics were the batch's (their
 * gradient flows into gx); else they were constants. */
graft_status graft_batch_norm_grad(graft_ctx *ctx, graft_tensor *gx, graft_tensor *gw, graft_tensor *gb,
                                   const graft_tensor *g, const graft_tensor *x, const graft_tensor *weight,
                                   const graft_tensor *mean, const graft_tensor *invstd, bool training,
                                   graft_error *err);
/* Normalizes over the last `ndims` dims of x. mean/rstd (one per row) are for backward. */
graft_status graft_layer_norm(graft_ctx *ctx, graft_tensor *y, graft_tensor *mean, graft_tensor *rstd,
                              const graft_tensor *x, int ndims, const graft_tensor *weight,
                              const graft_tensor *bias, double eps, graft_error *err);
graft_status graft_layer_norm_grad(graft_ctx *ctx, graft_tensor *gx, graft_tensor *gw, graft_tensor *gb,
                                   const graft_tensor *g, const graft_tensor *x, int ndims,
                                   const graft_tensor *weight, const graft_tensor *mean,
                                   const graft_tensor *rstd, graft_error *err);

#endif
