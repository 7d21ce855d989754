/* Sliding windows (convolution, pooling): which outputs of a row see a given input column. */
#ifndef GRAFT_OPS_WINDOW_H
#define GRAFT_OPS_WINDOW_H

#include <stdint.h>

/* The output columns [lo, hi) whose input column ow * stride + off lies inside [0, width):
 * a window tap at offset `off` reads real pixels there and padding elsewhere. */
static inline void graft_valid_range(int64_t off, int64_t stride, int64_t width, int64_t wo, int64_t *lo,
                                     int64_t *hi) {
    *lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
    *hi = width - 1 - off >= 0 ? (width - 1 - off) / stride + 1 : 0;
    if (*hi > wo) *hi = wo;
    if (*hi < *lo) *hi = *lo;
}

#endif
