/* softmax and log_softmax over one dim, f32, in a numerically safe form (the maximum is
 * subtracted first), with their gradients computed from the forward output. */
#ifndef GRAFT_OPS_SOFTMAX_H
#define GRAFT_OPS_SOFTMAX_H

#include <stdbool.h>

#include "../core/tensor.h"

/* out (empty) = softmax or log_softmax of x along dim (0-based). */
graft_status graft_softmax(graft_ctx *ctx, graft_tensor *out, const graft_tensor *x, int dim,
                           bool take_log, graft_error *err);
/* gx (empty) from the output gradient g and the forward output y (same shape). */
graft_status graft_softmax_grad(graft_ctx *ctx, graft_tensor *gx, const graft_tensor *g,
                                const graft_tensor *y, int dim, bool take_log, graft_error *err);

#endif
