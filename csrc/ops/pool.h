/* 2-D pooling over the last two dims (N, C, H, W or C, H, W), f32: max (with the positions
 * it picked, for backward), average (count_include_pad, divisor_override) and adaptive
 * average, each with its gradient. */
#ifndef GRAFT_OPS_POOL_H
#define GRAFT_OPS_POOL_H

#include <stdbool.h>

#include "../core/tensor.h"

typedef struct {
    int64_t kernel[2], stride[2], padding[2], dilation[2];
    bool ceil_mode, count_include_pad;
    int64_t divisor;   /* 0: none (divisor_override) */
} graft_pool2d_opts;

/* out and idx (i64 positions within each input plane) are empty headers; idx NULL: no
 * positions (inference), and a faster kernel. */
graft_status graft_max_pool2d(graft_ctx *ctx, graft_tensor *out, graft_tensor *idx,
                              const graft_tensor *x, const graft_pool2d_opts *o, graft_error *err);
/* gx (empty, x's shape) from g and the positions max_pool2d picked. */
graft_status graft_max_pool2d_grad(graft_ctx *ctx, graft_tensor *gx, const graft_tensor *g,
                                   const graft_tensor *idx, const graft_tensor *x, graft_error *err);
graft_status graft_avg_pool2d(graft_ctx *ctx, graft_tensor *out, const graft_tensor *x,
                              const graft_pool2d_opts *o, graft_error *err);
graft_status graft_avg_pool2d_grad(graft_ctx *ctx, graft_tensor *gx, const graft_tensor *g,
                                   const graft_tensor *x, const graft_pool2d_opts *o, graft_error *err);
/* Output size (oh, ow); window i covers [floor(i*H/oh), ceil((i+1)*H/oh)). */
graft_status graft_adaptive_avg_pool2d(graft_ctx *ctx, graft_tensor *out, const graft_tensor *x,
                                       int64_t oh, int64_t ow, graft_error *err);
graft_status graft_adaptive_avg_pool2d_grad(graft_ctx *ctx, graft_tensor *gx, const graft_tensor *g,
                                            const graft_tensor *x, graft_error *err);

#endif
