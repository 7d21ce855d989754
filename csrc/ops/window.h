/* Sliding windows (convolution, pooling): which outputs of a row see a given input column. */
#ifndef GRAFT_OPS_WINDOW_H
#define GRAFT_OPS_WINDOW_H

#include <stdint.h>

/* The output columns [lo, hi) whose input column ow * stride + off lies inside [0, width):
 * a window tap at offset `off` reads real pixels there and padding elsewhere. Both lie in
 * [0, wo]: a tap wholly in the padding (a 7-wide kernel padded by 3 on a 2-wide map) gives
 * an empty range, not one past the row, which callers would clear or copy beyond its end. */
static inline void graft_valid_range(int64_t off, int64_t stride, int64_t width, int64_t wo, int64_t *lo,
                                     int64_t *hi) {
    *lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
    *hi = width - 1 - off >= 0 ? (width - 1 - off) / stride + 1 : 0;
    if (*lo > wo) *lo = wo;
    if (*hi > wo) *hi = wo;
    if (*hi < *lo) *hi = *lo;
}

#endif
