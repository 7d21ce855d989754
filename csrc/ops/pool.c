/* Pooling: one input plane (H, W) at a time, planes in parallel. */
#include "pool.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "../core/threads.h"
#include "copy.h"
#include "vecmath.h"
#include "window.h"

typedef struct {
    int64_t planes, h, w, oh, ow;
} geometry;

/* PyTorch's output size (pooling_output_shape): the span floored, or with ceil_mode rounded
 * up, division rounding toward -inf; ceil mode's extra window is dropped unless it starts
 * inside the input or its left padding. Below 1 the input is too small. */
static int64_t pooled_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
    int64_t span = in + 2 * p - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0);
    int64_t out = (span >= 0 ? span / s : -((-span + s - 1) / s)) + 1;
    if (ceil_mode && (out - 1) * s >= in + p) out--;
    return out;
}

static graft_status plan(geometry *g, int64_t out_size[GRAFT_MAX_DIMS], const graft_tensor *x,
                         const graft_pool2d_opts *o, graft_error *err) {
    char bx[128];
    graft_shape_str(bx, sizeof bx, x->ndim, x->size);
    if (x->dtype != GRAFT_F32) return graft_error_set(err, GRAFT_EINVAL, "expects f32, not %s", graft_dtype_name(x->dtype));
    if (x->ndim != 3 && x->ndim != 4)
        return graft_error_set(err, GRAFT_EINVAL, "expects a 3-D or 4-D input, got %s", bx);
    for (int i = 0; i < 2; i++) {
        if (o->kernel[i] < 1 || o->stride[i] < 1 || o->dilation[i] < 1 || o->padding[i] < 0)
            return graft_error_set(err, GRAFT_EINVAL, "kernel, stride and dilation must be >= 1, padding >= 0");
        if (o->padding[i] * 2 > o->kernel[i])
            return graft_error_set(err, GRAFT_EINVAL, "padding %lld is more than half the kernel size %lld",
                                   (long long)o->padding[i], (long long)o->kernel[i]);
    }
    /* as PyTorch: only a 4-D input's batch may be empty */
    for (int i = x->ndim == 4 ? 1 : 0; i < x->ndim; i++)
        if (x->size[i] == 0)
            return graft_error_set(err, GRAFT_EINVAL, "expects a non-empty 3-D or 4-D input (only the batch may be "
                                   "empty), got %s", bx);
    g->h = x->size[x->ndim - 2];
    g->w = x->size[x->ndim - 1];
    g->planes = g->h > 0 && g->w > 0 ? graft_tensor_numel(x) / (g->h * g->w) : 0;
    g->oh = pooled_size(g->h, o->kernel[0], o->stride[0], o->padding[0], o->dilation[0], o->ceil_mode);
    g->ow = pooled_size(g->w, o->kernel[1], o->stride[1], o->padding[1], o->dilation[1], o->ceil_mode);
    if (g->oh < 1 || g->ow < 1)
        return graft_error_set(err, GRAFT_EINVAL, "input %s is smaller than the %lldx%lld window", bx,
                               (long long)o->kernel[0], (long long)o->kernel[1]);
    memcpy(out_size, x->size, sizeof(int64_t) * GRAFT_MAX_DIMS);
    out_size[x->ndim - 2] = g->oh;
    out_size[x->ndim - 1] = g->ow;
    return GRAFT_OK;
}

/* The larger of best and v; a NaN v wins. */
static inline float max_or_nan(float best, float v) { return ((v > best) | (v != v)) ? v : best; }

/* y[k] = max(y[k], x[k stride]) for k < n (a NaN in x wins): strides 1 and 2 as loops of
 * their own, which vectorise where a stride known only at run time kept the loop scalar. */
static inline void max_run(float *restrict y, const float *restrict x, int64_t n, int64_t stride) {
    if (stride == 1)
        for (int64_t k = 0; k < n; k++) y[k] = max_or_nan(y[k], x[k]);
    else if (stride == 2)
        for (int64_t k = 0; k < n; k++) y[k] = max_or_nan(y[k], x[2 * k]);
    else
        for (int64_t k = 0; k < n; k++) y[k] = max_or_nan(y[k], x[k * stride]);
}

/* The maxima alone (no gradient to route): for each output row, first the maximum down
 * its window's real input rows into `down` (w floats, one vector loop per row), then
 * across the kw taps of that one row over the columns where each reads real pixels
 * (padding never wins): kw strided passes instead of kh kw. A NaN wins outright, as in
 * PyTorch; the order of comparisons is not PyTorch's, which changes nothing but which
 * of +0 and -0 a tie between them keeps. */
GRAFT_CLONES
static void max_plane_values(float *restrict yp, const float *restrict xp, const geometry *g,
                             const graft_pool2d_opts *o, float *restrict down) {
    for (int64_t oh = 0; oh < g->oh; oh++) {
        float *restrict yr = yp + oh * g->ow;
        bool first = true;
        for (int64_t i = 0; i < o->kernel[0]; i++) {
            int64_t ih = oh * o->stride[0] - o->padding[0] + i * o->dilation[0];
            if (ih < 0 || ih >= g->h) continue;
            const float *restrict xr = xp + ih * g->w;
            if (first) memcpy(down, xr, sizeof(float) * (size_t)g->w);
            else max_run(down, xr, g->w, 1);
            first = false;
        }
        for (int64_t ow = 0; ow < g->ow; ow++) yr[ow] = -INFINITY;
        if (first) continue;   /* dilation stepped over every input row: -inf, as PyTorch */
        for (int64_t j = 0; j < o->kernel[1]; j++) {
            int64_t off = j * o->dilation[1] - o->padding[1], lo, hi, sw = o->stride[1];
            graft_valid_range(off, sw, g->w, g->ow, &lo, &hi);
            if (hi > lo) max_run(yr + lo, down + lo * sw + off, hi - lo, sw);
        }
    }
}

/* Max over each window with each maximum's position in its plane (ih * W + iw), for the
 * backward, a row at a time: each window tap is compared against the output row over the
 * columns where it reads real pixels (padding never wins), a select the compiler
 * vectorises. The first tap in window order wins a tie and the last NaN wins outright, as
 * in PyTorch; the first real tap is always taken (so a window of -inf still names one). */
GRAFT_CLONES
static void max_plane(float *restrict yp, int64_t *restrict ip, const float *restrict xp, const geometry *g,
                      const graft_pool2d_opts *o) {
    for (int64_t oh = 0; oh < g->oh; oh++) {
        float *restrict yr = yp + oh * g->ow;
        int64_t *restrict ir = ip + oh * g->ow;
        for (int64_t ow = 0; ow < g->ow; ow++) yr[ow] = -INFINITY;
        for (int64_t ow = 0; ow < g->ow; ow++) ir[ow] = -1;
        for (int64_t i = 0; i < o->kernel[0]; i++) {
            int64_t ih = oh * o->stride[0] - o->padding[0] + i * o->dilation[0];
            if (ih < 0 || ih >= g->h) continue;
            const float *restrict xr = xp + ih * g->w;
            for (int64_t j = 0; j < o->kernel[1]; j++) {
                int64_t off = j * o->dilation[1] - o->padding[1], lo, hi, sw = o->stride[1];
                graft_valid_range(off, sw, g->w, g->ow, &lo, &hi);
                for (int64_t ow = lo; ow < hi; ow++) {
                    float v = xr[ow * sw + off], best = yr[ow];
                    bool take = ir[ow] < 0 || v > best || v != v;
                    yr[ow] = take ? v : best;
                    ir[ow] = take ? ih * g->w + ow * sw + off : ir[ow];
                }
            }
        }
    }
}

/* max_plane with positions for the common 2x2 window at stride 2 with no padding and no partial
 * window: the four taps of each window read straight, the same choices in the same order
 * (short rows left the general loop's per-tap passes mostly overhead). */
GRAFT_CLONES
static void max_plane_at_2x2(float *restrict yp, int64_t *restrict ip, const float *restrict xp, const geometry *g) {
    for (int64_t oh = 0; oh < g->oh; oh++) {
        const float *restrict r0 = xp + 2 * oh * g->w, *restrict r1 = r0 + g->w;
        for (int64_t ow = 0; ow < g->ow; ow++) {
            float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
            bool tb = b > a || b != b;   /* selects, not branches: random data mispredicts */
            float best = tb ? b : a;
            int64_t off = tb ? 1 : 0;
            bool tc = c > best || c != c;
            best = tc ? c : best;
            off = tc ? g->w : off;
            bool td = d > best || d != d;
            yp[oh * g->ow + ow] = td ? d : best;
            ip[oh * g->ow + ow] = 2 * oh * g->w + 2 * ow + (td ? g->w + 1 : off);
        }
    }
}

static bool plain_2x2(const geometry *g, const graft_pool2d_opts *o) {
    return o->kernel[0] == 2 && o->kernel[1] == 2 && o->stride[0] == 2 && o->stride[1] == 2 && o->padding[0] == 0 &&
           o->padding[1] == 0 && o->dilation[0] == 1 && o->dilation[1] == 1 && 2 * g->oh <= g->h && 2 * g->ow <= g->w;
}

graft_status graft_max_pool2d(graft_ctx *ctx, graft_tensor *out, graft_tensor *idx,
                              const graft_tensor *x, const graft_pool2d_opts *o, graft_error *err) {
    geometry g;
    int64_t size[GRAFT_MAX_DIMS];
    graft_status st = plan(&g, size, x, o, err);
    if (st != GRAFT_OK) return st;
    graft_tensor cx, down;   /* down: each thread's row of maxima down a window (no positions) */
    graft_tensor_init_empty(out);   /* all empty on failure, so a retry starts clean */
    if (idx) graft_tensor_init_empty(idx);
    graft_tensor_init_empty(&down);
    int nt = graft_threads_for(g.planes * g.oh * g.ow * o->kernel[0] * o->kernel[1]);
    int64_t rows = idx ? 0 : nt * g.w;
    st = graft_contiguous_as(ctx, &cx, x, GRAFT_F32, err);
    if (st == GRAFT_OK) st = graft_tensor_alloc(out, ctx, GRAFT_F32, x->ndim, size, err);
    if (st == GRAFT_OK && idx) st = graft_tensor_alloc(idx, ctx, GRAFT_I64, x->ndim, size, err);
    if (st == GRAFT_OK && rows) st = graft_tensor_alloc(&down, ctx, GRAFT_F32, 1, &rows, err);
    if (st == GRAFT_OK) {
        const float *px = graft_tensor_data(&cx);
        float *py = graft_tensor_data(out), *pd = rows ? graft_tensor_data(&down) : NULL;
        int64_t *pi = idx ? graft_tensor_data(idx) : NULL, ps = g.oh * g.ow;
        bool plain = pi && plain_2x2(&g, o);
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t p = 0; p < g.planes; p++) {
            const float *xp = px + p * g.h * g.w;
            if (!pi) max_plane_values(py + p * ps, xp, &g, o, pd + g.w * omp_get_thread_num());
            else if (plain) max_plane_at_2x2(py + p * ps, pi + p * ps, xp, &g);
            else max_plane(py + p * ps, pi + p * ps, xp, &g, o);
        }
    } else {
        graft_tensor_release(out);
        if (idx) graft_tensor_release(idx);
    }
    graft_tensor_release(&down);
    graft_tensor_release(&cx);
    return st;
}

graft_status graft_max_pool2d_grad(graft_ctx *ctx, graft_tensor *gx, const graft_tensor *g,
                                   const graft_tensor *idx, const graft_tensor *x, graft_error *err) {
    if (!graft_tensor_same_shape(g, idx) || idx->dtype != GRAFT_I64 || g->ndim != x->ndim)
        return graft_error_set(err, GRAFT_EINVAL, "the gradient and positions must match the output");
    graft_tensor cg, ci;
    graft_tensor_init_empty(&ci);
    graft_status st = graft_contiguous_as(ctx, &cg, g, GRAFT_F32, err);
    if (st == GRAFT_OK) st = graft_contiguous_as(ctx, &ci, idx, GRAFT_I64, err);
    if (st == GRAFT_OK) st = graft_tensor_alloc_zeros(gx, ctx, GRAFT_F32, x->ndim, x->size, err);
    if (st == GRAFT_OK) {
        int64_t hw = x->size[x->ndim - 2] * x->size[x->ndim - 1];
        int64_t ohw = g->size[g->ndim - 2] * g->size[g->ndim - 1];
        int64_t planes = hw ? graft_tensor_numel(x) / hw : 0;
        const float *pg = graft_tensor_data(&cg);
        const int64_t *pi = graft_tensor_data(&ci);
        float *px = graft_tensor_data(gx);
        int nt = graft_threads_for(planes * ohw);
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t p = 0; p < planes; p++)
            for (int64_t k = 0; k < ohw; k++)
                if (pi[p * ohw + k] >= 0) px[p * hw + pi[p * ohw + k]] += pg[p * ohw + k];
    }
    graft_tensor_release(&cg);
    graft_tensor_release(&ci);
    return st;
}

/* The window of output (oh, ow) clipped to the input, and the divisor PyTorch uses. */
static void avg_window(const geometry *g, const graft_pool2d_opts *o, int64_t oh, int64_t ow,
                       int64_t *h0, int64_t *h1, int64_t *w0, int64_t *w1, float *div) {
    int64_t hs = oh * o->stride[0] - o->padding[0], ws = ow * o->stride[1] - o->padding[1];
    int64_t he = hs + o->kernel[0], we = ws + o->kernel[1];
    if (he > g->h + o->padding[0]) he = g->h + o->padding[0];
    if (we > g->w + o->padding[1]) we = g->w + o->padding[1];
    int64_t padded = (he - hs) * (we - ws);
    *h0 = hs < 0 ? 0 : hs;
    *w0 = ws < 0 ? 0 : ws;
    *h1 = he > g->h ? g->h : he;
    *w1 = we > g->w ? g->w : we;
    int64_t inside = (*h1 - *h0) * (*w1 - *w0);
    *div = (float)(o->divisor ? o->divisor : o->count_include_pad ? padded : inside);
}

graft_status graft_avg_pool2d(graft_ctx *ctx, graft_tensor *out, const graft_tensor *x,
                              const graft_pool2d_opts *o, graft_error *err) {
    geometry g;
    int64_t size[GRAFT_MAX_DIMS];
    graft_status st = plan(&g, size, x, o, err);
    if (st != GRAFT_OK) return st;
    graft_tensor cx;
    st = graft_contiguous_as(ctx, &cx, x, GRAFT_F32, err);
    if (st == GRAFT_OK) st = graft_tensor_alloc(out, ctx, GRAFT_F32, x->ndim, size, err);
    if (st == GRAFT_OK) {
        const float *px = graft_tensor_data(&cx);
        float *py = graft_tensor_data(out);
        int nt = graft_threads_for(g.planes * g.oh * g.ow * o->kernel[0] * o->kernel[1]);
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t p = 0; p < g.planes; p++)
            for (int64_t oh = 0; oh < g.oh; oh++)
                for (int64_t ow = 0; ow < g.ow; ow++) {
                    int64_t h0, h1, w0, w1;
                    float div;
                    avg_window(&g, o, oh, ow, &h0, &h1, &w0, &w1, &div);
                    double acc = 0;
                    for (int64_t ih = h0; ih < h1; ih++)
                        for (int64_t iw = w0; iw < w1; iw++) acc += px[(p * g.h + ih) * g.w + iw];
                    py[(p * g.oh + oh) * g.ow + ow] = (float)(acc / div);
                }
    }
    graft_tensor_release(&cx);
    return st;
}

graft_status graft_avg_pool2d_grad(graft_ctx *ctx, graft_tensor *gx, const graft_tensor *g,
                                   const graft_tensor *x, const graft_pool2d_opts *o, graft_error *err) {
    geometry geo;
    int64_t size[GRAFT_MAX_DIMS];
    graft_status st = plan(&geo, size, x, o, err);
    if (st != GRAFT_OK) return st;
    graft_tensor cg;
    st = graft_contiguous_as(ctx, &cg, g, GRAFT_F32, err);
    if (st == GRAFT_OK) st = graft_tensor_alloc_zeros(gx, ctx, GRAFT_F32, x->ndim, x->size, err);
    if (st == GRAFT_OK) {
        const float *pg = graft_tensor_data(&cg);
        float *px = graft_tensor_data(gx);
        int nt = graft_threads_for(geo.planes * geo.oh * geo.ow * o->kernel[0] * o->kernel[1]);
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t p = 0; p < geo.planes; p++)
            for (int64_t oh = 0; oh < geo.oh; oh++)
                for (int64_t ow = 0; ow < geo.ow; ow++) {
                    int64_t h0, h1, w0, w1;
                    float div;
                    avg_window(&geo, o, oh, ow, &h0, &h1, &w0, &w1, &div);
                    float share = pg[(p * geo.oh + oh) * geo.ow + ow] / div;
                    for (int64_t ih = h0; ih < h1; ih++)
                        for (int64_t iw = w0; iw < w1; iw++) px[(p * geo.h + ih) * geo.w + iw] += share;
                }
    }
    graft_tensor_release(&cg);
    return st;
}

static int64_t start_of(int64_t i, int64_t in, int64_t out) { return i * in / out; }
static int64_t end_of(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

graft_status graft_adaptive_avg_pool2d(graft_ctx *ctx, graft_tensor *out, const graft_tensor *x,
                                       int64_t oh, int64_t ow, graft_error *err) {
    /* an output size of 0 gives an empty result, as PyTorch's does */
    if (x->dtype != GRAFT_F32 || (x->ndim != 3 && x->ndim != 4) || oh < 0 || ow < 0)
        return graft_error_set(err, GRAFT_EINVAL, "expects a 3-D or 4-D f32 input and an output size >= 0");
    int64_t h = x->size[x->ndim - 2], w = x->size[x->ndim - 1], hw = h * w;
    if (h < 1 || w < 1) return graft_error_set(err, GRAFT_EINVAL, "the input has an empty plane");
    int64_t planes = graft_tensor_numel(x) / hw, size[GRAFT_MAX_DIMS];
    memcpy(size, x->size, sizeof size);
    size[x->ndim - 2] = oh;
    size[x->ndim - 1] = ow;
    graft_tensor cx;
    graft_status st = graft_contiguous_as(ctx, &cx, x, GRAFT_F32, err);
    if (st == GRAFT_OK) st = graft_tensor_alloc(out, ctx, GRAFT_F32, x->ndim, size, err);
    if (st == GRAFT_OK) {
        const float *px = graft_tensor_data(&cx);
        float *py = graft_tensor_data(out);
        int nt = graft_threads_for(planes * hw);
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t p = 0; p < planes; p++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    int64_t h0 = start_of(i, h, oh), h1 = end_of(i, h, oh), w0 = start_of(j, w, ow), w1 = end_of(j, w, ow);
                    double acc = 0;
                    for (int64_t a = h0; a < h1; a++)
                        for (int64_t b = w0; b < w1; b++) acc += px[p * hw + a * w + b];
                    py[(p * oh + i) * ow + j] = (float)(acc / (double)((h1 - h0) * (w1 - w0)));
                }
    }
    graft_tensor_release(&cx);
    return st;
}

graft_status graft_adaptive_avg_pool2d_grad(graft_ctx *ctx, graft_tensor *gx, const graft_tensor *g,
                                            const graft_tensor *x, graft_error *err) {
    if (g->ndim != x->ndim) return graft_error_set(err, GRAFT_EINVAL, "the gradient must match the output");
    int64_t h = x->size[x->ndim - 2], w = x->size[x->ndim - 1], hw = h * w;
    int64_t oh = g->size[g->ndim - 2], ow = g->size[g->ndim - 1];
    int64_t planes = hw ? graft_tensor_numel(x) / hw : 0;
    graft_tensor cg;
    graft_status st = graft_contiguous_as(ctx, &cg, g, GRAFT_F32, err);
    if (st == GRAFT_OK) st = graft_tensor_alloc_zeros(gx, ctx, GRAFT_F32, x->ndim, x->size, err);
    if (st == GRAFT_OK) {
        const float *pg = graft_tensor_data(&cg);
        float *px = graft_tensor_data(gx);
        int nt = graft_threads_for(planes * hw);
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t p = 0; p < planes; p++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    int64_t h0 = start_of(i, h, oh), h1 = end_of(i, h, oh), w0 = start_of(j, w, ow), w1 = end_of(j, w, ow);
                    float share = pg[(p * oh + i) * ow + j] / (float)((h1 - h0) * (w1 - w0));
                    for (int64_t a = h0; a < h1; a++)
                        for (int64_t b = w0; b < w1; b++) px[p * hw + a * w + b] += share;
                }
    }
    graft_tensor_release(&cg);
    return st;
}
