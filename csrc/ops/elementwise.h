/* Elementwise arithmetic, math functions, comparisons and where, with NumPy broadcasting
 * and PyTorch's type promotion (f32 > i64 > u8; true division and float-only functions
 * compute in f32; comparisons give u8 masks). `out` is an empty header that is allocated
 * here; the *_into forms write into an existing tensor instead (in-place ops). */
#ifndef GRAFT_OPS_ELEMENTWISE_H
#define GRAFT_OPS_ELEMENTWISE_H

#include "../core/tensor.h"

typedef enum {
    GRAFT_ADD, GRAFT_SUB, GRAFT_MUL, GRAFT_DIV, GRAFT_POW, GRAFT_MAXIMUM, GRAFT_MINIMUM,
    GRAFT_EQ, GRAFT_NE, GRAFT_LT, GRAFT_LE, GRAFT_GT, GRAFT_GE,
    GRAFT_NUM_BINOPS
} graft_binop;

typedef enum {
    GRAFT_NEG, GRAFT_ABS, GRAFT_SIGN, GRAFT_RELU, GRAFT_CLAMP, GRAFT_POW_SCALAR, /* keep dtype */
    GRAFT_EXP, GRAFT_LOG, GRAFT_SQRT, GRAFT_RSQRT, GRAFT_SIGMOID, GRAFT_TANH,    /* f32 only */
    GRAFT_FLOOR, GRAFT_CEIL, GRAFT_ROUND, GRAFT_RECIPROCAL,
    GRAFT_RELU6, GRAFT_SILU, GRAFT_GELU, GRAFT_HARDSWISH, GRAFT_HARDSIGMOID,  /* f32 only */
    GRAFT_NUM_UNOPS
} graft_unop;

const char *graft_binop_name(graft_binop op);
const char *graft_unop_name(graft_unop op);

/* out = a op b, broadcast. */
graft_status graft_binary(graft_ctx *ctx, graft_tensor *out, const graft_tensor *a,
                          const graft_tensor *b, graft_binop op, graft_error *err);
/* dst = a op b where the broadcast of a and b must have dst's shape and the result type
 * must convert to dst's dtype without loss of kind (no f32 result into an integer dst). */
graft_status graft_binary_into(graft_ctx *ctx, graft_tensor *dst, const graft_tensor *a,
                               const graft_tensor *b, graft_binop op, graft_error *err);
/* out = op(x). arg: GRAFT_CLAMP {lo, hi} (+-inf = unbounded), GRAFT_POW_SCALAR {exponent};
 * ignored otherwise, may be NULL. Functions that are f32-only turn integer input to f32. */
graft_status graft_unary(graft_ctx *ctx, graft_tensor *out, const graft_tensor *x,
                         graft_unop op, const double *arg, graft_error *err);
/* gx = g * op'(x): the gradient of an activation (relu relu6 sigmoid tanh silu gelu
 * hardswish hardsigmoid), with PyTorch's values at the kinks. g and x are f32 of one shape. */
graft_status graft_unary_grad(graft_ctx *ctx, graft_tensor *gx, const graft_tensor *g,
                              const graft_tensor *x, graft_unop op, graft_error *err);
/* out = mask ? a : b, all three broadcast; mask is nonzero-is-true of any dtype. */
graft_status graft_where(graft_ctx *ctx, graft_tensor *out, const graft_tensor *mask,
                         const graft_tensor *a, const graft_tensor *b, graft_error *err);

#endif
