/* Fuzzes convolution and pooling over shapes and options: the bytes choose an op, a shape
 * (empty batches, 1x1 maps, kernels larger than the map), options (strides past the kernel,
 * padding past half the kernel, dilation past the map, groups and depthwise, ceil mode, a
 * non-contiguous input) and whether the weights are prepared (kept for graft's packed GEMM or
 * as a Winograd transform). Each call plans, allocates and runs the kernels: an error is
 * fine, a crash or an access outside a buffer (ASan) is a finding, and so is a kept-weights
 * forward that disagrees with the plain one. */
#include <math.h>
#include <string.h>

#include "../../csrc/core/ctx.h"
#include "../../csrc/ops/conv2d.h"
#include "../../csrc/ops/pool.h"
#include "fuzz.h"

typedef struct {
    const uint8_t *p;
    size_t n;
} bytes;

/* The next byte (0 past the end) mapped to [lo, hi]. */
static int64_t take(bytes *b, int64_t lo, int64_t hi) {
    uint8_t v = 0;
    if (b->n) {
        v = *b->p++;
        b->n--;
    }
    return lo + v % (hi - lo + 1);
}

/* A tensor of `size` with a fixed, varied fill; transposed: a (..., w, h) tensor viewed
 * with its last two dims swapped, so the kernels see a non-contiguous input. */
static bool make(graft_ctx *ctx, graft_tensor *t, int ndim, const int64_t *size, bool transposed) {
    int64_t s[4];
    memcpy(s, size, sizeof(int64_t) * (size_t)ndim);
    if (transposed && ndim >= 2) {
        s[ndim - 2] = size[ndim - 1];
        s[ndim - 1] = size[ndim - 2];
    }
    graft_error err;
    if (graft_tensor_alloc(t, ctx, GRAFT_F32, ndim, s, &err) != GRAFT_OK) return false;
    float *d = graft_tensor_data(t);
    for (int64_t i = 0, n = graft_tensor_numel(t); i < n; i++) d[i] = (float)((i * 37 % 101) - 50) / 50.0f;
    if (transposed && ndim >= 2) graft_view_transpose(t, ndim - 2, ndim - 1);
    return true;
}

static void release(graft_tensor *t) { graft_tensor_release(t); }

/* Whether two convolutions' results agree within rounding (Winograd's transforms differ
 * from im2col's sums by a few float epsilons of the largest value). */
static bool agree(const graft_tensor *a, const graft_tensor *b) {
    if (!graft_tensor_same_shape(a, b)) return false;
    const float *x = graft_tensor_data(a), *y = graft_tensor_data(b);
    int64_t n = graft_tensor_numel(a);
    float scale = 1;
    for (int64_t i = 0; i < n; i++) scale = fmaxf(scale, fabsf(y[i]));
    for (int64_t i = 0; i < n; i++)
        if (!(fabsf(x[i] - y[i]) <= 1e-3f * scale)) return false;
    return true;
}

static void conv(graft_ctx *ctx, bytes *b) {
    int64_t g = take(b, 1, 4), cin = g * take(b, 1, 3), cout = g * take(b, 1, 3);
    int64_t n = take(b, 0, 3), h = take(b, 0, 12), w = take(b, 0, 12), kh = take(b, 1, 8), kw = take(b, 1, 8);
    graft_conv2d_opts o = {{take(b, 0, 5), take(b, 0, 5)}, {take(b, -1, 6), take(b, -1, 6)},
                           {take(b, 1, 4), take(b, 1, 4)}, g};
    int flags = (int)take(b, 0, 255);
    if (flags & 1) {   /* the shape Winograd runs: 3x3, stride 1, 16+ channels, padding <= 2 */
        g = o.groups = 1, cin = 16 + (flags >> 7), cout = 16, kh = kw = 3;
        o.stride[0] = o.stride[1] = o.dilation[0] = o.dilation[1] = 1;
        o.padding[0] = take(b, 0, 2), o.padding[1] = take(b, 0, 2);
        h = take(b, 1, 14), w = take(b, 1, 14);
    }
    if (flags & 2) cout = cin = g;   /* depthwise */
    if (flags & 64) cin += 1;        /* channels that do not match the weight */
    int64_t xs[4] = {n, cin, h, w}, ws[4] = {cout, cin / g, kh, kw}, bs[1] = {cout};
    graft_tensor x, wt, bias, y, y2, kept, gx, gw, gb;
    graft_tensor_init_empty(&kept);
    bool has_bias = flags & 4;
    if (!make(ctx, &x, 4, xs, flags & 8)) return;
    if (!make(ctx, &wt, 4, ws, false)) {
        release(&x);
        return;
    }
    if (!make(ctx, &bias, 1, bs, false)) {
        release(&x);
        release(&wt);
        return;
    }
    graft_error err;
    if (graft_conv2d(ctx, &y, &x, &wt, has_bias ? &bias : NULL, &o, NULL, &err) == GRAFT_OK) {
        /* kept weights: made on the first call, used on the second, remade for another batch */
        if (flags & 16) {
            for (int k = 0; k < 2; k++)
                if (graft_conv2d(ctx, &y2, &x, &wt, has_bias ? &bias : NULL, &o, &kept, &err) == GRAFT_OK) {
                    if (!agree(&y2, &y)) abort();   /* a finding: kept weights give another answer */
                    release(&y2);
                }
            graft_tensor x1;
            int64_t x1s[4] = {n + 1, cin, h, w};
            if (make(ctx, &x1, 4, x1s, false)) {
                if (graft_conv2d(ctx, &y2, &x1, &wt, has_bias ? &bias : NULL, &o, &kept, &err) == GRAFT_OK) release(&y2);
                release(&x1);
            }
        }
        graft_tensor gy;
        if (make(ctx, &gy, 4, y.size, flags & 32)) {
            graft_tensor_init_empty(&gx);
            graft_tensor_init_empty(&gw);
            graft_tensor_init_empty(&gb);
            bool wx = flags & 128 || !(flags & 32), ww = !(flags & 128), wb = has_bias;
            if (graft_conv2d_grad(ctx, wx ? &gx : NULL, ww ? &gw : NULL, wb ? &gb : NULL, &gy, &x, &wt, &o, &err) ==
                GRAFT_OK) {
                release(&gx);
                release(&gw);
                release(&gb);
            }
            release(&gy);
        }
        release(&y);
    }
    release(&kept);
    release(&bias);
    release(&wt);
    release(&x);
}

static void pool(graft_ctx *ctx, bytes *b, int kind) {
    int ndim = take(b, 0, 4) == 0 ? 3 : 4;
    int64_t size[4] = {take(b, 0, 2), take(b, 0, 3), take(b, 0, 10), take(b, 0, 10)};
    const int64_t *shape = ndim == 4 ? size : size + 1;
    graft_pool2d_opts o = {{take(b, 1, 6), take(b, 1, 6)}, {take(b, 0, 5), take(b, 0, 5)},
                           {take(b, -1, 3), take(b, -1, 3)}, {take(b, 1, 4), take(b, 1, 4)}, false, true, 0};
    int flags = (int)take(b, 0, 255);
    o.ceil_mode = flags & 1;
    o.count_include_pad = !(flags & 2);
    if (flags & 4) o.divisor = take(b, -1, 5);
    graft_tensor x, y, idx, gy, gx;
    if (!make(ctx, &x, ndim, shape, flags & 8)) return;
    graft_error err;
    if (kind == 0) {   /* max: with positions (and the gradient) or the inference kernel */
        bool positions = flags & 16;
        if (graft_max_pool2d(ctx, &y, positions ? &idx : NULL, &x, &o, &err) == GRAFT_OK) {
            if (positions) {
                if (make(ctx, &gy, ndim, y.size, flags & 32)) {
                    if (graft_max_pool2d_grad(ctx, &gx, &gy, &idx, &x, &err) == GRAFT_OK) release(&gx);
                    release(&gy);
                }
                release(&idx);
            }
            release(&y);
        }
    } else if (kind == 1) {
        if (graft_avg_pool2d(ctx, &y, &x, &o, &err) == GRAFT_OK) {
            if (make(ctx, &gy, ndim, y.size, flags & 32)) {
                if (graft_avg_pool2d_grad(ctx, &gx, &gy, &x, &o, &err) == GRAFT_OK) release(&gx);
                release(&gy);
            }
            release(&y);
        }
    } else {
        if (graft_adaptive_avg_pool2d(ctx, &y, &x, take(b, -1, 12), take(b, -1, 12), &err) == GRAFT_OK) {
            if (make(ctx, &gy, ndim, y.size, flags & 32)) {
                if (graft_adaptive_avg_pool2d_grad(ctx, &gx, &gy, &x, &err) == GRAFT_OK) release(&gx);
                release(&gy);
            }
            release(&y);
        }
    }
    release(&x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    graft_ctx ctx;
    graft_ctx_init(&ctx, 0);
    bytes b = {data, size};
    int op = (int)take(&b, 0, 3);
    if (op == 0) conv(&ctx, &b);
    else pool(&ctx, &b, op - 1);
    graft_ctx_close(&ctx);
    return 0;
}
