/* 2-D convolution, NCHW, f32: im2col + graft_sgemm (gemm.h) per image and group, Winograd for 3x3
 * stride-1 ones (winograd.h), the GEMM alone for 1x1 convolutions with stride 1 and no
 * padding, and direct loops for depthwise ones (one input channel per group). Weights
 * prepared once (graft_conv2d's `prepared`) run on graft's packed-weight GEMM
 * (packed_gemm.h), which makes im2col columns as it goes.
 * graft_conv2d / graft_conv2d_grad validate (graft_conv2d_check), choose the path once
 * (graft_conv2d_plan), allocate what it needs and call the kernels, which never allocate and
 * never fail. */
#ifndef GRAFT_OPS_CONV2D_H
#define GRAFT_OPS_CONV2D_H

#include "../core/tensor.h"

typedef struct {
    int64_t stride[2], padding[2], dilation[2], groups;
} graft_conv2d_opts;

typedef struct {
    int64_t n, cin, h, w;          /* input */
    int64_t cout, kh, kw;          /* weight (cout, cin / groups, kh, kw) */
    int64_t ho, wo;                /* output */
    int64_t sh, sw, ph, pw, dh, dw, groups;
} graft_conv2d_shape;

/* Checks shapes and options and fills s; the message names both shapes on a mismatch. */
graft_status graft_conv2d_check(graft_conv2d_shape *s, const graft_tensor *x, const graft_tensor *w,
                                const graft_tensor *b, const graft_conv2d_opts *o, graft_error *err);

/* What a convolution's prepared weights hold (see graft_conv2d): `positions` rows of
 * `floats`. The Winograd transform for tiles of `tile` ((tile + 2)^2 positions of a cout x
 * cin matrix), or with tile 0 the weight itself as a cout x (cin kh kw) matrix (one
 * position); packed: each position packed for graft_packed_gemm (packed_gemm.h), else as it
 * lies. positions 0: nothing is worth keeping (no Winograd, and the packed kernel is not
 * available or does not serve grouped convolutions). The form depends on the batch size. */
typedef struct {
    int tile;
    bool packed;
    int64_t positions, floats;
} graft_conv2d_prepared;
graft_conv2d_prepared graft_conv2d_prepared_of(const graft_conv2d_shape *s);

/* How a convolution runs, chosen once (graft_conv2d_plan_forward/_backward) and read by the
 * kernels and by whoever allocates their scratch, so that the path taken and the scratch
 * sized for it cannot disagree. */
typedef enum {
    GRAFT_CONV2D_DEPTHWISE,   /* direct loops, one input channel per group; no scratch */
    GRAFT_CONV2D_WINOGRAD,    /* 3x3 stride 1 by tiles of `tile` (winograd.h) */
    GRAFT_CONV2D_PACKED,      /* forward on prepared weights packed for graft's GEMM */
    GRAFT_CONV2D_IM2COL,      /* im2col (none for 1x1) + BLAS per image and group */
} graft_conv2d_path;

typedef struct {
    graft_conv2d_path path;
    bool backward;
    int tile;            /* WINOGRAD: m, 2 or 4 */
    bool packed;         /* WINOGRAD forward: the prepared transform given is packed */
    bool transform;      /* WINOGRAD forward: no prepared transform, made per call in scratch */
    int team;            /* graft's thread count, read once for the sizes and the call */
    int images;          /* IM2COL, PACKED: threads running images in parallel (1: one by one) */
    int shared;          /* IM2COL forward of one image: threads sharing it (1: BLAS alone) */
    size_t per_thread;   /* IM2COL, PACKED with images > 1: floats of scratch per image thread */
    size_t scratch;      /* floats of scratch in all */
} graft_conv2d_plan;

/* The plan for the forward of s on a team of `team` threads; prepared: the kernel will be
 * given w's preparation in the form graft_conv2d_prepared_of(s) gives. Never fails. */
graft_conv2d_plan graft_conv2d_plan_forward(const graft_conv2d_shape *s, int team, bool prepared);
/* The plan for the gradients of s. */
graft_conv2d_plan graft_conv2d_plan_backward(const graft_conv2d_shape *s, int team);

/* y (n, cout, ho, wo) = x (n, cin, h, w) conv w + b (cout) or NULL, as p (a forward plan of
 * s) says. Contiguous data. u: w's preparation when p was planned with one, else NULL.
 * scratch: p->scratch floats. */
void graft_conv2d_forward(float *y, const float *x, const float *w, const float *u, const float *b,
                          const graft_conv2d_shape *s, const graft_conv2d_plan *p, float *scratch);
/* Accumulates (+=) into gx, gw, gb; NULL = nobody needs that gradient, and its GEMMs are
 * skipped (frozen weights, or nothing trainable below). p: a backward plan of s. */
void graft_conv2d_backward(float *gx, float *gw, float *gb, const float *gy, const float *x,
                           const float *w, const graft_conv2d_shape *s, const graft_conv2d_plan *p,
                           float *scratch);

/* out (empty) = conv2d(x, w, b); b may be NULL. prepared, for weights that stay unchanged
 * between calls (inference, frozen layers), keeps w's preparation (its Winograd transform,
 * or the weight packed for the GEMM): NULL, none kept; an empty tensor is filled when this
 * convolution has a preparation, a filled one is used as it is (the caller makes a new one
 * when w changes), and one made in another form (for another batch size) is made again in
 * its place. A prepared transform lets a single image run by Winograd, whose per-call
 * transform would not be repaid, and batches by F(4x4). */
graft_status graft_conv2d(graft_ctx *ctx, graft_tensor *out, const graft_tensor *x,
                          const graft_tensor *w, const graft_tensor *b, const graft_conv2d_opts *o,
                          graft_tensor *prepared, graft_error *err);
/* The gradients wanted (empty headers, or NULL when not wanted), allocated here. */
graft_status graft_conv2d_grad(graft_ctx *ctx, graft_tensor *gx, graft_tensor *gw, graft_tensor *gb,
                               const graft_tensor *gy, const graft_tensor *x, const graft_tensor *w,
                               const graft_conv2d_opts *o, graft_error *err);

#endif
