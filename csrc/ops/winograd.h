/* 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray 2016):
 * each 2x2 output tile from a 4x4 input tile with 16 multiplies per channel pair instead of
 * 36, the multiplies done as 16 GEMMs (one per tile position) over all tiles of an image.
 * The transforms use only 1, -1 and 1/2, so the error stays within a few float epsilons of
 * the direct sum (tests/300-conv2d.t measures it); F(4x4, 3x3) would save more multiplies
 * but its transforms amplify rounding past the PyTorch parity tolerances. Kernels never
 * allocate and never fail. */
#ifndef GRAFT_OPS_WINOGRAD_H
#define GRAFT_OPS_WINOGRAD_H

#include <stdbool.h>
#include <stddef.h>

#include "conv2d.h"

/* 3x3 kernel, stride 1, dilation 1, one group, padding at most 2, and enough channels and
 * pixels for the GEMMs to pay for the transforms; and two images or more unless the weight
 * transform is prepared (it is repaid over one image only when it need not be redone). */
bool graft_winograd_applies(const graft_conv2d_shape *s, bool prepared);
/* The shape of the convolution that gives the input gradient of s: gy (n, cout, ho, wo)
 * with the weights rotated and transposed, padding 2 - p, output (n, cin, h, w). */
graft_conv2d_shape graft_winograd_input_grad_shape(const graft_conv2d_shape *s);
/* U, the transformed weights: 16 x cout x cin floats. flipped: s is an input gradient's
 * shape (see graft_winograd_input_grad_shape) and w that convolution's (cin, cout, 3, 3)
 * weight as it is. */
size_t graft_winograd_weight_floats(const graft_conv2d_shape *s);
void graft_winograd_transform_weights(float *u, const float *w, const graft_conv2d_shape *s, bool flipped);
/* Floats of scratch for graft_winograd_forward with `threads` images at once (one per
 * thread; 1: each image shared by graft's threads). */
size_t graft_winograd_scratch(const graft_conv2d_shape *s, int threads);
/* y = x conv U + b (b may be NULL); accumulate: y += instead (gradients accumulate). */
void graft_winograd_forward(float *y, const float *x, const float *u, const float *b, const graft_conv2d_shape *s,
                            bool accumulate, float *scratch, int threads);

#endif
