/* 3x3 stride-1 convolution by Winograd's minimal filtering (Lavin & Gray 2016): each m x m
 * output tile from an (m + 2) x (m + 2) input tile, the multiplies done as (m + 2)^2 GEMMs
 * (one per tile position) over the tiles of a group of images. F(2x2, 3x3) (m = 2): 16
 * multiplies per channel pair and tile instead of 36; its transforms use only 1, -1 and
 * 1/2, so its error stays within a few float epsilons of the direct sum. F(4x4, 3x3)
 * (m = 4): 36 instead of 144, but coefficients up to 8 and fractions such as 1/6 amplify
 * rounding about 15-fold (tests/300-conv2d.t measures both), so it runs only forward, on
 * prepared transforms (inference and frozen layers), never for a gradient. Kernels never
 * allocate and never fail. */
#ifndef GRAFT_OPS_WINOGRAD_H
#define GRAFT_OPS_WINOGRAD_H

#include <stdbool.h>
#include <stddef.h>

#include "conv2d.h"

/* The tile size m to run s by: 0 (not by Winograd: a 3x3 kernel, stride 1, dilation 1, one
 * group, padding at most 2 and 16+ channels each way are needed), 2 or 4. Without a prepared
 * transform, 2 and only for two images or more (the per-call transform is repaid over two
 * images, not one); with one, 4 when the batch has enough tiles to repay F(4x4)'s larger
 * transform, else 2. */
int graft_winograd_tile(const graft_conv2d_shape *s, bool prepared);
/* The shape of the convolution that gives the input gradient of s: gy (n, cout, ho, wo)
 * with the weights rotated and transposed, padding 2 - p, output (n, cin, h, w). */
graft_conv2d_shape graft_winograd_input_grad_shape(const graft_conv2d_shape *s);
/* U, the transformed weights: (m + 2)^2 positions of a cout x cin matrix, as it lies or
 * packed for graft_packed_gemm (packed_gemm.h). flipped: s is an input gradient's shape (see
 * graft_winograd_input_grad_shape) and w that convolution's (cin, cout, 3, 3) weight as it
 * is. */
size_t graft_winograd_position_floats(const graft_conv2d_shape *s, bool packed);
size_t graft_winograd_weight_floats(const graft_conv2d_shape *s, int m, bool packed);
void graft_winograd_transform_weights(float *u, const float *w, const graft_conv2d_shape *s, int m, bool flipped,
                                      bool packed);
/* Floats of scratch for graft_winograd_forward with a team of `team` threads: a group of
 * images per thread, or a lone group shared by the team. */
size_t graft_winograd_scratch(const graft_conv2d_shape *s, int m, int team);
/* y = x conv U + b (b may be NULL) by tiles of m, U packed or not; accumulate: y += instead
 * (gradients accumulate). */
void graft_winograd_forward(float *y, const float *x, const float *u, bool packed, const float *b,
                            const graft_conv2d_shape *s, int m, bool accumulate, float *scratch, int team);

/* Floats of scratch for graft_winograd_weight_grad with a team of `team` threads. */
size_t graft_winograd_weight_grad_scratch(const graft_conv2d_shape *s, int team);
/* gw += the weight gradient of y = x conv w for the output gradient gy, by F(2x2, 3x3)'s
 * transforms (for any s that graft_winograd_tile runs by tiles of 2). */
void graft_winograd_weight_grad(float *gw, const float *gy, const float *x, const graft_conv2d_shape *s,
                                float *scratch, int team);

#endif
