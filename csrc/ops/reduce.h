/* Reductions over one dim or over all elements: sum, mean, prod (accumulated in double for
 * f32, wrapping for integers), max/min with their positions, argmax/argmin. NaN propagates
 * through max/min as in PyTorch. */
#ifndef GRAFT_OPS_REDUCE_H
#define GRAFT_OPS_REDUCE_H

#include <stdbool.h>

#include "../core/tensor.h"

typedef enum {
    GRAFT_RSUM, GRAFT_RMEAN, GRAFT_RPROD, GRAFT_RMAX, GRAFT_RMIN, GRAFT_RARGMAX, GRAFT_RARGMIN
} graft_redop;

/* Reduces x over dim (0-based), or over every element when dim < 0 (then keepdim keeps
 * every dim at size 1). values and indices are empty headers allocated here; either may
 * be NULL when not wanted (indices are produced only by max/min/argmax/argmin, as i64
 * positions counted from base).
 * Result dtypes: sum/prod of integers -> i64, mean -> f32, max/min keep x's dtype. */
graft_status graft_reduce(graft_ctx *ctx, graft_tensor *values, graft_tensor *indices,
                          const graft_tensor *x, int dim, bool keepdim, graft_redop op,
                          int64_t base, graft_error *err);

#endif
