/* conv2d: im2col/col2im + GEMM per image and group; direct loops for depthwise. Images run
 * in parallel (each on a single-threaded BLAS call) when there are at least two; a single
 * image gets all threads inside BLAS. Prepared weights (inference, frozen layers) run on
 * graft's packed-weight GEMM instead (packed_gemm.h), or by Winograd on a kept transform. */
#include "conv2d.h"

#include <stdlib.h>
#include <omp.h>
#include <string.h>

#include "../core/threads.h"
#include "copy.h"
#include "matmul.h"
#include "packed_gemm.h"
#include "vecmath.h"
#include "winograd.h"
#include "window.h"

graft_status graft_conv2d_check(graft_conv2d_shape *s, const graft_tensor *x, const graft_tensor *w,
                                const graft_tensor *b, const graft_conv2d_opts *o, graft_error *err) {
    char bx[128], bw[128];
    graft_shape_str(bx, sizeof bx, x->ndim, x->size);
    graft_shape_str(bw, sizeof bw, w->ndim, w->size);
    if (x->dtype != GRAFT_F32 || w->dtype != GRAFT_F32 || (b && b->dtype != GRAFT_F32))
        return graft_error_set(err, GRAFT_EINVAL, "expects f32 tensors");
    if (x->ndim != 4 || w->ndim != 4)
        return graft_error_set(err, GRAFT_EINVAL, "expects a 4-D input (N, C, H, W) and a 4-D weight, "
                               "got input %s and weight %s", bx, bw);
    int64_t g = o->groups;
    if (g < 1) return graft_error_set(err, GRAFT_EINVAL, "groups must be >= 1, not %lld", (long long)g);
    for (int i = 0; i < 2; i++)
        if (o->stride[i] < 1 || o->padding[i] < 0 || o->dilation[i] < 1)
            return graft_error_set(err, GRAFT_EINVAL, "stride and dilation must be >= 1 and padding >= 0");
    *s = (graft_conv2d_shape){x->size[0], x->size[1], x->size[2], x->size[3], w->size[0], w->size[2],
                              w->size[3], 0, 0, o->stride[0], o->stride[1], o->padding[0],
                              o->padding[1], o->dilation[0], o->dilation[1], g};
    if (s->cin != w->size[1] * g)
        return graft_error_set(err, GRAFT_EINVAL, "input has %lld channels but weight expects %lld "
                               "(input %s, weight %s, groups %lld)", (long long)s->cin,
                               (long long)(w->size[1] * g), bx, bw, (long long)g);
    if (s->cout % g != 0)
        return graft_error_set(err, GRAFT_EINVAL, "%lld output channels do not split into %lld groups",
                               (long long)s->cout, (long long)g);
    if (b && (b->ndim != 1 || b->size[0] != s->cout))
        return graft_error_set(err, GRAFT_EINVAL, "bias must have %lld elements (weight %s)",
                               (long long)s->cout, bw);
    int64_t eh = s->h + 2 * s->ph - s->dh * (s->kh - 1), ew = s->w + 2 * s->pw - s->dw * (s->kw - 1);
    if (eh < 1 || ew < 1)
        return graft_error_set(err, GRAFT_EINVAL, "input %s (padded) is smaller than the kernel %s", bx, bw);
    s->ho = (eh - 1) / s->sh + 1;
    s->wo = (ew - 1) / s->sw + 1;
    return GRAFT_OK;
}

static bool pointwise(const graft_conv2d_shape *s) {
    return s->kh == 1 && s->kw == 1 && s->sh == 1 && s->sw == 1 && s->ph == 0 && s->pw == 0;
}

/* One input channel per group; a single-channel input (gray images) is better served by
 * im2col + GEMM, which handles many output channels at once. */
static bool depthwise(const graft_conv2d_shape *s) { return s->cin == s->groups && s->groups > 1; }

/* col (cin_g*kh*kw, ho*wo) from x (cin_g, h, w); zero where the kernel hangs over padding. */
static void im2col(float *col, const float *x, int64_t channels, const graft_conv2d_shape *s) {
    int64_t howo = s->ho * s->wo;
    for (int64_t c = 0; c < channels; c++)
        for (int64_t i = 0; i < s->kh; i++)
            for (int64_t j = 0; j < s->kw; j++) {
                float *dst = col + ((c * s->kh + i) * s->kw + j) * howo;
                int64_t off = j * s->dw - s->pw, lo, hi;
                graft_valid_range(off, s->sw, s->w, s->wo, &lo, &hi);
                for (int64_t oh = 0; oh < s->ho; oh++, dst += s->wo) {
                    int64_t ih = oh * s->sh - s->ph + i * s->dh;
                    if (ih < 0 || ih >= s->h) {
                        memset(dst, 0, sizeof(float) * (size_t)s->wo);
                        continue;
                    }
                    const float *row = x + (c * s->h + ih) * s->w + off;
                    memset(dst, 0, sizeof(float) * (size_t)lo);
                    if (s->sw == 1) memcpy(dst + lo, row + lo, sizeof(float) * (size_t)(hi - lo));
                    else
                        for (int64_t ow = lo; ow < hi; ow++) dst[ow] = row[ow * s->sw];
                    memset(dst + hi, 0, sizeof(float) * (size_t)(s->wo - hi));
                }
            }
}

/* gx (cin_g, h, w) += the columns of gcol put back where im2col took them from. */
static void col2im_add(float *gx, const float *gcol, int64_t channels, const graft_conv2d_shape *s) {
    int64_t howo = s->ho * s->wo;
    for (int64_t c = 0; c < channels; c++)
        for (int64_t i = 0; i < s->kh; i++)
            for (int64_t j = 0; j < s->kw; j++) {
                const float *src = gcol + ((c * s->kh + i) * s->kw + j) * howo;
                int64_t off = j * s->dw - s->pw, lo, hi;
                graft_valid_range(off, s->sw, s->w, s->wo, &lo, &hi);
                for (int64_t oh = 0; oh < s->ho; oh++, src += s->wo) {
                    int64_t ih = oh * s->sh - s->ph + i * s->dh;
                    if (ih < 0 || ih >= s->h) continue;
                    float *row = gx + (c * s->h + ih) * s->w + off;
                    for (int64_t ow = lo; ow < hi; ow++) row[ow * s->sw] += src[ow];
                }
            }
}

/* One thread's scratch on the im2col path: its columns, and for backward the column
 * gradient and a private weight gradient. */
static size_t im2col_scratch(const graft_conv2d_shape *s, bool backward) {
    size_t k = (size_t)(s->cin / s->groups * s->kh * s->kw), howo = (size_t)(s->ho * s->wo);
    size_t col = pointwise(s) ? 0 : k * howo;
    return col + (backward ? col + (size_t)s->cout * k : 0);
}

/* Threads for the image loop: one per image up to the team, else BLAS gets them all. */
static int image_threads(const graft_conv2d_shape *s, int team) {
    if (team <= 1 || s->n < 2) return 1;
    return s->n < team ? (int)s->n : team;
}

/* The packed path (prepared weights, one group): the GEMM makes each image's im2col
 * columns a panel at a time, so no image's columns are ever stored whole, except on maps
 * narrower than PANEL_MIN_WIDTH, whose panels would be made of many short runs: their
 * columns, small at that size, are made once per image (by all the threads at batch 1). */
enum { PANEL_MIN_WIDTH = 16 };

static bool whole_columns(const graft_conv2d_shape *s) { return !pointwise(s) && s->wo < PANEL_MIN_WIDTH; }

typedef struct {
    const float *x;   /* one image */
    const graft_conv2d_shape *s;
} image_columns;

/* dst[k] = src[k stride] for k < n: strides 1 and 2 (most convolutions) as loops of their
 * own, which vectorise where a stride known only at run time kept the copy scalar. */
static inline void gather(float *restrict dst, const float *restrict src, int64_t n, int64_t stride) {
    if (stride == 1)
        for (int64_t k = 0; k < n; k++) dst[k] = src[k];
    else if (stride == 2)
        for (int64_t k = 0; k < n; k++) dst[k] = src[2 * k];
    else
        for (int64_t k = 0; k < n; k++) dst[k] = src[k * stride];
}

/* panel (k rows of GRAFT_PACKED_COLS) = the im2col columns n0 .. n0 + width of one image,
 * a run of output positions along one output row at a time. */
GRAFT_CLONES
static void im2col_panel(float *panel, int64_t n0, int64_t width, const void *arg) {
    const image_columns *im = arg;
    const graft_conv2d_shape *s = im->s;
    for (int64_t t = 0; t < width;) {
        int64_t oh = (n0 + t) / s->wo, ow0 = (n0 + t) % s->wo;
        int64_t end = ow0 + (s->wo - ow0 < width - t ? s->wo - ow0 : width - t);
        for (int64_t c = 0; c < s->cin; c++)
            for (int64_t i = 0; i < s->kh; i++) {
                int64_t ih = oh * s->sh - s->ph + i * s->dh;
                const float *row = ih >= 0 && ih < s->h ? im->x + (c * s->h + ih) * s->w : NULL;
                for (int64_t j = 0; j < s->kw; j++) {
                    float *dst = panel + ((c * s->kh + i) * s->kw + j) * GRAFT_PACKED_COLS + t;
                    int64_t off = j * s->dw - s->pw, lo = end, hi = end, ow = ow0;
                    if (row) {   /* [lo, hi): the run's positions that read real pixels */
                        graft_valid_range(off, s->sw, s->w, s->wo, &lo, &hi);
                        lo = lo < ow0 ? ow0 : lo > end ? end : lo;
                        hi = hi < lo ? lo : hi > end ? end : hi;
                    }
                    for (; ow < lo; ow++) dst[ow - ow0] = 0;
                    if (hi > ow) gather(dst + (ow - ow0), row + ow * s->sw + off, hi - ow, s->sw);
                    for (ow = hi; ow < end; ow++) dst[ow - ow0] = 0;
                }
            }
        t += end - ow0;
    }
}

/* Where an image's GEMM reads its columns: the input itself (1x1), the whole im2col in
 * `whole` (narrow maps), or panels made from im (the rest). Sizing scratch asks with NULLs. */
static graft_packed_rhs image_rhs(const graft_conv2d_shape *s, const image_columns *im, const float *whole) {
    int64_t howo = s->ho * s->wo;
    if (pointwise(s)) return (graft_packed_rhs){.b = im ? im->x : NULL, .ldb = howo};
    if (whole_columns(s)) return (graft_packed_rhs){.b = whole, .ldb = howo};
    return (graft_packed_rhs){.fill = im2col_panel, .arg = im};
}

/* Per image: its whole columns (if made so), and what its GEMM needs on gemm_threads. */
static size_t packed_scratch_per_image(const graft_conv2d_shape *s, int gemm_threads) {
    int64_t k = s->cin * s->kh * s->kw, howo = s->ho * s->wo;
    graft_packed_rhs rhs = image_rhs(s, NULL, NULL);
    return (whole_columns(s) ? (size_t)(k * howo) : 0) + graft_packed_scratch(s->cout, howo, k, &rhs, gemm_threads);
}

/* y (one image) = pw conv x + b on `threads` threads (1: inside the image loop). */
static void packed_image(float *y, const float *x, const float *pw, const float *b, const graft_conv2d_shape *s,
                         float *scratch, int threads) {
    int64_t k = s->cin * s->kh * s->kw, howo = s->ho * s->wo, hw = s->h * s->w;
    image_columns im = {x, s};
    graft_packed_rhs rhs = image_rhs(s, &im, scratch);
    if (whole_columns(s)) {
#pragma omp parallel num_threads(threads) if (threads > 1)
        {   /* split by input channel */
            int t = omp_get_thread_num(), nt = omp_get_num_threads();
            int64_t c0 = s->cin * t / nt, c1 = s->cin * (t + 1) / nt;
            if (c1 > c0) im2col(scratch + c0 * s->kh * s->kw * howo, x + c0 * hw, c1 - c0, s);
        }
        scratch += k * howo;
    }
    graft_packed_gemm(y, howo, pw, s->cout, k, &rhs, howo, b, false, scratch, threads);
}


/* This thread's share of scratch: per floats each. A plan that needs none has no scratch
 * (NULL), and NULL plus an offset, even 0, is undefined. */
static float *thread_scratch(float *scratch, size_t per) {
    return scratch ? scratch + per * (size_t)omp_get_thread_num() : NULL;
}

static void packed_forward(float *y, const float *x, const float *pw, const float *b, const graft_conv2d_shape *s,
                           const graft_conv2d_plan *p, float *scratch) {
    int64_t xs = s->cin * s->h * s->w, ys = s->cout * s->ho * s->wo;
    if (p->images > 1) {
#pragma omp parallel for num_threads(p->images) schedule(dynamic)
        for (int64_t n = 0; n < s->n; n++)
            packed_image(y + n * ys, x + n * xs, pw, b, s, thread_scratch(scratch, p->per_thread), 1);
        return;
    }
    int inner = graft_threads_for(ys * s->cin * s->kh * s->kw) > 1 ? p->team : 1;
    for (int64_t n = 0; n < s->n; n++) packed_image(y + n * ys, x + n * xs, pw, b, s, scratch, inner);
}

/* The preparation of s's weight for tiles of `tile` (0: the packed weight itself). */
static graft_conv2d_prepared form_of(const graft_conv2d_shape *s, int tile, bool packed) {
    graft_conv2d_prepared p = {.tile = tile, .packed = packed};
    if (tile) {
        p.positions = (tile + 2) * (tile + 2);
        p.floats = (int64_t)graft_winograd_position_floats(s, packed);
    } else if (packed && s->groups == 1 && !depthwise(s)) {
        p.positions = 1;
        p.floats = (int64_t)graft_packed_floats(s->cout, s->cin * s->kh * s->kw);
    }
    return p;
}

graft_conv2d_prepared graft_conv2d_prepared_of(const graft_conv2d_shape *s) {
    return form_of(s, graft_winograd_tile(s, true), graft_packed_available());
}

/* Every choice of path is made here, with the scratch it needs beside it. */
graft_conv2d_plan graft_conv2d_plan_forward(const graft_conv2d_shape *s, int team, bool prepared) {
    graft_conv2d_plan p = {.path = GRAFT_CONV2D_DEPTHWISE, .team = team, .images = 1, .shared = 1};
    if (depthwise(s)) return p;
    /* prepared: the kernel gets the form graft_conv2d_prepared_of chose to keep */
    graft_conv2d_prepared form = {0};
    if (prepared) form = graft_conv2d_prepared_of(s);
    p.tile = prepared ? form.tile : graft_winograd_tile(s, false);
    if (p.tile) {
        p.path = GRAFT_CONV2D_WINOGRAD;
        p.packed = form.packed;
        p.transform = !prepared;
        p.scratch = graft_winograd_scratch(s, p.tile, team) +
                    (p.transform ? graft_winograd_weight_floats(s, p.tile, false) : 0);
        return p;
    }
    p.images = image_threads(s, team);
    if (prepared) {
        p.path = GRAFT_CONV2D_PACKED;
        p.per_thread = packed_scratch_per_image(s, p.images > 1 ? 1 : team);
    } else {
        p.path = GRAFT_CONV2D_IM2COL;
        p.per_thread = im2col_scratch(s, false);
        if (s->n == 1 && s->groups == 1) p.shared = graft_threads_for(s->cout * s->ho * s->wo * s->cin * s->kh * s->kw);
    }
    p.scratch = p.per_thread * (size_t)p.images;
    return p;
}

graft_conv2d_plan graft_conv2d_plan_backward(const graft_conv2d_shape *s, int team) {
    graft_conv2d_plan p = {.path = GRAFT_CONV2D_DEPTHWISE, .backward = true, .team = team, .images = 1, .shared = 1};
    if (depthwise(s)) return p;
    p.tile = graft_winograd_tile(s, false);
    if (p.tile) {   /* the input and weight gradients by Winograd, one after the other */
        p.path = GRAFT_CONV2D_WINOGRAD;
        graft_conv2d_shape g = graft_winograd_input_grad_shape(s);
        size_t input = graft_winograd_scratch(&g, p.tile, team) + graft_winograd_weight_floats(&g, p.tile, false);
        size_t weight = graft_winograd_weight_grad_scratch(s, team);
        p.scratch = input > weight ? input : weight;
        return p;
    }
    p.path = GRAFT_CONV2D_IM2COL;
    p.images = image_threads(s, team);
    p.per_thread = im2col_scratch(s, true);
    p.scratch = p.per_thread * (size_t)p.images;
    return p;
}

static void forward_image(float *y, const float *x, const float *w, const float *b,
                          const graft_conv2d_shape *s, float *col) {
    int64_t cin_g = s->cin / s->groups, cout_g = s->cout / s->groups;
    int64_t k = cin_g * s->kh * s->kw, howo = s->ho * s->wo, hw = s->h * s->w;
    for (int64_t g = 0; g < s->groups; g++) {
        const float *src = x + g * cin_g * hw;
        if (!pointwise(s)) {
            im2col(col, src, cin_g, s);
            src = col;
        }
        graft_sgemm(false, false, cout_g, howo, k, 1.0f, w + g * cout_g * k, k, src, howo, 0.0f,
                    y + g * cout_g * howo, howo);
    }
    if (b)
        for (int64_t c = 0; c < s->cout; c++)
            for (int64_t i = 0; i < howo; i++) y[c * howo + i] += b[c];
}

/* Depthwise convolution works a row at a time: each kernel tap adds a scaled input row
 * to the output row, a loop over contiguous memory (for stride 1) that the compiler
 * vectorises; padding is handled by each tap's valid column range, not per element.
 * Cloned per instruction set (vecmath.h). */

GRAFT_CLONES
static void depthwise_plane(float *restrict yc, const float *restrict xc, const float *restrict wc, float bias,
                            const graft_conv2d_shape *s) {
    for (int64_t oh = 0; oh < s->ho; oh++) {
        float *restrict yr = yc + oh * s->wo;
        for (int64_t ow = 0; ow < s->wo; ow++) yr[ow] = bias;
        for (int64_t i = 0; i < s->kh; i++) {
            int64_t ih = oh * s->sh - s->ph + i * s->dh;
            if (ih < 0 || ih >= s->h) continue;
            const float *restrict xr = xc + ih * s->w;
            for (int64_t j = 0; j < s->kw; j++) {
                float wv = wc[i * s->kw + j];
                int64_t off = j * s->dw - s->pw, lo, hi;
                graft_valid_range(off, s->sw, s->w, s->wo, &lo, &hi);
                if (s->sw == 1)
                    for (int64_t ow = lo; ow < hi; ow++) yr[ow] += wv * xr[ow + off];
                else
                    for (int64_t ow = lo; ow < hi; ow++) yr[ow] += wv * xr[ow * s->sw + off];
            }
        }
    }
}

/* Depthwise: output channel co reads input channel co / (cout / groups) only. */
static void depthwise_forward(float *y, const float *x, const float *w, const float *b,
                              const graft_conv2d_shape *s, int threads) {
    int64_t mult = s->cout / s->groups, hw = s->h * s->w, howo = s->ho * s->wo;
#pragma omp parallel for num_threads(threads) schedule(static) collapse(2)
    for (int64_t n = 0; n < s->n; n++)
        for (int64_t co = 0; co < s->cout; co++)
            depthwise_plane(y + (n * s->cout + co) * howo, x + (n * s->cin + co / mult) * hw,
                            w + co * s->kh * s->kw, b ? b[co] : 0.0f, s);
}

/* One image shared by `threads` threads: im2col split by input channel, then each thread
 * computes its own block of the output on a single BLAS thread. For
 * one image this beats handing the whole GEMM to BLAS's threads, whose split of a short,
 * wide product leaves threads waiting. */
static void forward_image_shared(float *y, const float *x, const float *w, const float *b,
                                 const graft_conv2d_shape *s, float *col, int threads) {
    int64_t k = s->cin * s->kh * s->kw, howo = s->ho * s->wo, hw = s->h * s->w;
    const float *src = pointwise(s) ? x : col;
#pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        if (!pointwise(s)) {
            int64_t c0 = s->cin * t / nt, c1 = s->cin * (t + 1) / nt;
            if (c1 > c0) im2col(col + c0 * s->kh * s->kw * howo, x + c0 * hw, c1 - c0, s);
#pragma omp barrier
        }
        /* a block of output columns each; on small maps (late layers) a block of channels */
        int64_t j0 = 0, j1 = howo, c0 = 0, c1 = s->cout;
        if (howo >= 256) {
            j0 = (howo * t / nt) & ~(int64_t)15;
            j1 = t == nt - 1 ? howo : (howo * (t + 1) / nt) & ~(int64_t)15;
        } else {
            c0 = s->cout * t / nt;
            c1 = s->cout * (t + 1) / nt;
        }
        if (j1 > j0 && c1 > c0) {
            graft_sgemm(false, false, c1 - c0, j1 - j0, k, 1.0f, w + c0 * k, k, src + j0, howo, 0.0f,
                        y + c0 * howo + j0, howo);
            if (b)
                for (int64_t c = c0; c < c1; c++)
                    for (int64_t j = j0; j < j1; j++) y[c * howo + j] += b[c];
        }
    }
}

void graft_conv2d_forward(float *y, const float *x, const float *w, const float *u, const float *b,
                          const graft_conv2d_shape *s, const graft_conv2d_plan *p, float *scratch) {
    int64_t xs = s->cin * s->h * s->w, ys = s->cout * s->ho * s->wo;
    switch (p->path) {
    case GRAFT_CONV2D_DEPTHWISE:
        depthwise_forward(y, x, w, b, s, graft_threads_for(s->n * s->cout * s->ho * s->wo * s->kh * s->kw));
        return;
    case GRAFT_CONV2D_WINOGRAD:
        if (p->transform) {
            graft_winograd_transform_weights(scratch, w, s, p->tile, false, false);
            u = scratch;
            scratch += graft_winograd_weight_floats(s, p->tile, false);
        }
        graft_winograd_forward(y, x, u, p->packed, b, s, p->tile, false, scratch, p->team);
        return;
    case GRAFT_CONV2D_PACKED:
        packed_forward(y, x, u, b, s, p, scratch);
        return;
    case GRAFT_CONV2D_IM2COL:
        if (p->shared > 1) {
            forward_image_shared(y, x, w, b, s, scratch, p->shared);
        } else if (p->images > 1) {
#pragma omp parallel for num_threads(p->images) schedule(dynamic)
            for (int64_t n = 0; n < s->n; n++)
                forward_image(y + n * ys, x + n * xs, w, b, s, thread_scratch(scratch, p->per_thread));
        } else {
            for (int64_t n = 0; n < s->n; n++) forward_image(y + n * ys, x + n * xs, w, b, s, scratch);
        }
        return;
    }
}

/* One image's share of the gradients; gw is this thread's accumulator. */
static void backward_image(float *gx, float *gw, const float *gy, const float *x, const float *w,
                           const graft_conv2d_shape *s, float *col, float *gcol) {
    int64_t cin_g = s->cin / s->groups, cout_g = s->cout / s->groups;
    int64_t k = cin_g * s->kh * s->kw, howo = s->ho * s->wo, hw = s->h * s->w;
    for (int64_t g = 0; g < s->groups; g++) {
        const float *gyg = gy + g * cout_g * howo, *wg = w + g * cout_g * k, *xg = x + g * cin_g * hw;
        if (gw) {   /* gw_g += gy_g col^T */
            const float *src = xg;
            if (!pointwise(s)) {
                im2col(col, xg, cin_g, s);
                src = col;
            }
            graft_sgemm(false, true, cout_g, k, howo, 1.0f, gyg, howo, src, howo, 1.0f, gw + g * cout_g * k, k);
        }
        if (gx) {   /* gcol = w_g^T gy_g, put back into gx */
            if (pointwise(s)) {
                graft_sgemm(true, false, k, howo, cout_g, 1.0f, wg, k, gyg, howo, 1.0f, gx + g * cin_g * hw, howo);
            } else {
                graft_sgemm(true, false, k, howo, cout_g, 1.0f, wg, k, gyg, howo, 0.0f, gcol, howo);
                col2im_add(gx + g * cin_g * hw, gcol, cin_g, s);
            }
        }
    }
}

/* One (image, output channel) plane of the depthwise gradients: gx gets each tap's scaled
 * output-gradient row, gw each tap's dot product of gradient and input rows (summed in
 * eight lanes, so it vectorises without reassociating a single running sum). */
GRAFT_CLONES
static void depthwise_plane_grad(float *restrict gxc, float *restrict gwc, const float *restrict gyc,
                                 const float *restrict xc, const float *restrict wc, const graft_conv2d_shape *s) {
    for (int64_t oh = 0; oh < s->ho; oh++) {
        const float *restrict gyr = gyc + oh * s->wo;
        for (int64_t i = 0; i < s->kh; i++) {
            int64_t ih = oh * s->sh - s->ph + i * s->dh;
            if (ih < 0 || ih >= s->h) continue;
            for (int64_t j = 0; j < s->kw; j++) {
                int64_t off = j * s->dw - s->pw, lo, hi;
                graft_valid_range(off, s->sw, s->w, s->wo, &lo, &hi);
                int64_t sw = s->sw;
                if (gxc) {
                    float *restrict gxr = gxc + ih * s->w + off;
                    float wv = wc[i * s->kw + j];
                    if (sw == 1)
                        for (int64_t ow = lo; ow < hi; ow++) gxr[ow] += wv * gyr[ow];
                    else
                        for (int64_t ow = lo; ow < hi; ow++) gxr[ow * sw] += wv * gyr[ow];
                }
                if (gwc) {
                    const float *restrict xr = xc + ih * s->w + off;
                    float lane[8] = {0};
                    int64_t ow = lo;
                    if (sw == 1)
                        for (; ow + 8 <= hi; ow += 8)
                            for (int l = 0; l < 8; l++) lane[l] += gyr[ow + l] * xr[ow + l];
                    float acc = 0.0f;
                    for (; ow < hi; ow++) acc += gyr[ow] * xr[ow * sw];
                    for (int l = 0; l < 8; l++) acc += lane[l];
                    gwc[i * s->kw + j] += acc;
                }
            }
        }
    }
}

static void depthwise_backward(float *gx, float *gw, const float *gy, const float *x, const float *w,
                               const graft_conv2d_shape *s) {
    int64_t mult = s->cout / s->groups, hw = s->h * s->w, howo = s->ho * s->wo;
    int threads = graft_threads_for(s->n * s->cout * howo * s->kh * s->kw);
    /* One input channel per iteration: it owns gx[., ci] and the gw rows of its outputs, and
     * sums over images in a fixed order. */
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t ci = 0; ci < s->cin; ci++)
        for (int64_t n = 0; n < s->n; n++)
            for (int64_t co = ci * mult; co < (ci + 1) * mult; co++)
                depthwise_plane_grad(gx ? gx + (n * s->cin + ci) * hw : NULL, gw ? gw + co * s->kh * s->kw : NULL,
                                     gy + (n * s->cout + co) * howo, x + (n * s->cin + ci) * hw,
                                     w + co * s->kh * s->kw, s);
}

/* gb += gy summed over images and positions: channels in parallel, images in order. */
static void bias_grad(float *gb, const float *gy, const graft_conv2d_shape *s) {
    int64_t howo = s->ho * s->wo;
#pragma omp parallel for num_threads(graft_threads_for(s->n * s->cout * howo)) schedule(static)
    for (int64_t c = 0; c < s->cout; c++)
        for (int64_t n = 0; n < s->n; n++) gb[c] += (float)graft_vsum(gy + (n * s->cout + c) * howo, howo);
}

void graft_conv2d_backward(float *gx, float *gw, float *gb, const float *gy, const float *x,
                           const float *w, const graft_conv2d_shape *s, const graft_conv2d_plan *p,
                           float *scratch) {
    if (gb) bias_grad(gb, gy, s);   /* the same on every path */
    if (p->path == GRAFT_CONV2D_DEPTHWISE) {
        depthwise_backward(gx, gw, gy, x, w, s);
        return;
    }
    if (p->path == GRAFT_CONV2D_WINOGRAD) {
        if (gx) {   /* the input gradient is a 3x3 convolution of gy */
            graft_conv2d_shape g = graft_winograd_input_grad_shape(s);
            graft_winograd_transform_weights(scratch, w, &g, p->tile, true, false);
            graft_winograd_forward(gx, gy, scratch, false, NULL, &g, p->tile, true,
                                   scratch + graft_winograd_weight_floats(&g, p->tile, false), p->team);
        }
        if (gw) graft_winograd_weight_grad(gw, gy, x, s, scratch, p->team);
        return;
    }
    int threads = p->images;
    int64_t k = s->cin / s->groups * s->kh * s->kw, howo = s->ho * s->wo;
    int64_t xs = s->cin * s->h * s->w, ys = s->cout * howo;
    size_t col = pointwise(s) ? 0 : (size_t)(k * howo), per = p->per_thread;
    if (threads <= 1) {
        for (int64_t n = 0; n < s->n; n++)
            backward_image(gx ? gx + n * xs : NULL, gw, gy + n * ys, x + n * xs, w, s, scratch, scratch + col);
        return;
    }
    /* Images in parallel, a fixed share per thread; each thread sums its weight gradient
     * apart, and the partial sums are added in thread order, so the result does not depend
     * on timing (a resumed run must repeat an uninterrupted one bit for bit). */
    size_t wn = (size_t)(s->cout * k);
    if (gw)
        for (int t = 0; t < threads; t++) memset(scratch + per * (size_t)t + 2 * col, 0, sizeof(float) * wn);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t n = 0; n < s->n; n++) {
        float *mine = thread_scratch(scratch, per);
        backward_image(gx ? gx + n * xs : NULL, gw ? mine + 2 * col : NULL, gy + n * ys, x + n * xs, w, s, mine,
                       mine + col);
    }
    if (gw)
        for (int t = 0; t < threads; t++)
            for (size_t i = 0; i < wn; i++) gw[i] += scratch[per * (size_t)t + 2 * col + i];
}

/* Scratch through the ctx, like tensors: the same sizes come back every step, and a cached
 * block skips the page faults of fresh memory (which otherwise dominate small networks). */
static graft_status alloc_scratch(graft_ctx *ctx, graft_tensor *t, size_t floats, float **p, graft_error *err) {
    graft_tensor_init_empty(t);
    *p = NULL;
    if (floats == 0) return GRAFT_OK;
    int64_t n = (int64_t)floats;
    graft_status st = graft_tensor_alloc(t, ctx, GRAFT_F32, 1, &n, err);
    if (st == GRAFT_OK) *p = graft_tensor_data(t);
    return st;
}

/* Whether t holds a preparation of s's weight in the form of p. */
static bool holds(const graft_tensor *t, const graft_conv2d_prepared *p) {
    return t->dtype == GRAFT_F32 && t->ndim == 2 && t->size[0] == p->positions && t->size[1] == p->floats &&
           graft_tensor_is_contiguous(t);
}

/* The prepared weights to use (NULL: none wanted, or none for this convolution), made now if
 * `prepared` is empty or holds the form another batch size called for: the Winograd
 * transform for the other tile size, or the plain packing. Anything else in it is an error. */
static graft_status prepare_weights(graft_ctx *ctx, graft_tensor *prepared, const graft_tensor *cw,
                                    const graft_conv2d_shape *s, const float **u, graft_error *err) {
    *u = NULL;
    graft_conv2d_prepared p = graft_conv2d_prepared_of(s);
    if (!prepared || !p.positions) return GRAFT_OK;
    if (prepared->storage && !holds(prepared, &p)) {
        bool other = false;
        for (int tile = 0; tile <= 4; tile += 2) {
            graft_conv2d_prepared q = form_of(s, tile, p.packed);
            other = other || (q.positions && holds(prepared, &q));
        }
        if (!other)
            return graft_error_set(err, GRAFT_EINVAL, "the prepared weights were not made for a {%lld,%lld,%lld,%lld} "
                                   "weight", (long long)s->cout, (long long)(s->cin / s->groups), (long long)s->kh,
                                   (long long)s->kw);
        graft_tensor_release(prepared);
    }
    if (!prepared->storage) {
        int64_t size[2] = {p.positions, p.floats};
        graft_status st = graft_tensor_alloc(prepared, ctx, GRAFT_F32, 2, size, err);
        if (st != GRAFT_OK) return st;
        float *dst = graft_tensor_data(prepared);
        if (p.tile) graft_winograd_transform_weights(dst, graft_tensor_data(cw), s, p.tile, false, p.packed);
        else graft_pack_rows(dst, graft_tensor_data(cw), s->cout, s->cin * s->kh * s->kw, s->cin * s->kh * s->kw);
    }
    *u = graft_tensor_data(prepared);
    return GRAFT_OK;
}

graft_status graft_conv2d(graft_ctx *ctx, graft_tensor *out, const graft_tensor *x,
                          const graft_tensor *w, const graft_tensor *b, const graft_conv2d_opts *o,
                          graft_tensor *prepared, graft_error *err) {
    graft_conv2d_shape s;
    graft_status st = graft_conv2d_check(&s, x, w, b, o, err);
    if (st != GRAFT_OK) return st;
    graft_tensor cx, cw, cb;
    graft_tensor_init_empty(&cb);
    st = graft_contiguous_as(ctx, &cx, x, GRAFT_F32, err);
    if (st == GRAFT_OK) st = graft_contiguous_as(ctx, &cw, w, GRAFT_F32, err);
    else graft_tensor_init_empty(&cw);
    if (st == GRAFT_OK && b) st = graft_contiguous_as(ctx, &cb, b, GRAFT_F32, err);
    const float *u = NULL;
    if (st == GRAFT_OK) st = prepare_weights(ctx, prepared, &cw, &s, &u, err);
    int64_t size[4] = {s.n, s.cout, s.ho, s.wo};
    if (st == GRAFT_OK) st = graft_tensor_alloc(out, ctx, GRAFT_F32, 4, size, err);
    /* the thread count read once: the scratch is sized for this team */
    graft_conv2d_plan plan = graft_conv2d_plan_forward(&s, graft_threads_get(), u != NULL);
    float *scratch = NULL;
    graft_tensor scratch_t;
    graft_tensor_init_empty(&scratch_t);
    if (st == GRAFT_OK) {
        st = alloc_scratch(ctx, &scratch_t, plan.scratch, &scratch, err);
        if (st != GRAFT_OK) graft_tensor_release(out);
    }
    if (st == GRAFT_OK) {
        graft_conv2d_forward(graft_tensor_data(out), graft_tensor_data(&cx), graft_tensor_data(&cw), u,
                             b ? graft_tensor_data(&cb) : NULL, &s, &plan, scratch);
        graft_ctx_count(ctx, GRAFT_COUNT_CONV_FORWARD);
    }
    graft_tensor_release(&scratch_t);
    graft_tensor_release(&cx);
    graft_tensor_release(&cw);
    graft_tensor_release(&cb);
    return st;
}

graft_status graft_conv2d_grad(graft_ctx *ctx, graft_tensor *gx, graft_tensor *gw, graft_tensor *gb,
                               const graft_tensor *gy, const graft_tensor *x, const graft_tensor *w,
                               const graft_conv2d_opts *o, graft_error *err) {
    graft_conv2d_shape s;
    graft_status st = graft_conv2d_check(&s, x, w, NULL, o, err);
    if (st != GRAFT_OK) return st;
    if (gy->ndim != 4 || gy->size[0] != s.n || gy->size[1] != s.cout || gy->size[2] != s.ho || gy->size[3] != s.wo)
        return graft_error_set(err, GRAFT_EINVAL, "the output gradient does not have the output's shape");
    graft_tensor cx, cw, cg;
    graft_tensor_init_empty(&cw);
    graft_tensor_init_empty(&cg);
    st = graft_contiguous_as(ctx, &cx, x, GRAFT_F32, err);
    if (st == GRAFT_OK) st = graft_contiguous_as(ctx, &cw, w, GRAFT_F32, err);
    if (st == GRAFT_OK) st = graft_contiguous_as(ctx, &cg, gy, GRAFT_F32, err);
    if (st == GRAFT_OK && gx) st = graft_tensor_alloc_zeros(gx, ctx, GRAFT_F32, 4, x->size, err);
    if (st == GRAFT_OK && gw) st = graft_tensor_alloc_zeros(gw, ctx, GRAFT_F32, 4, w->size, err);
    if (st == GRAFT_OK && gb) st = graft_tensor_alloc_zeros(gb, ctx, GRAFT_F32, 1, &s.cout, err);
    /* the thread count read once: the scratch is sized for this team */
    graft_conv2d_plan plan = graft_conv2d_plan_backward(&s, graft_threads_get());
    float *scratch = NULL;
    graft_tensor scratch_t;
    graft_tensor_init_empty(&scratch_t);
    if (st == GRAFT_OK) st = alloc_scratch(ctx, &scratch_t, plan.scratch, &scratch, err);
    if (st == GRAFT_OK) {
        graft_conv2d_backward(gx ? graft_tensor_data(gx) : NULL, gw ? graft_tensor_data(gw) : NULL,
                              gb ? graft_tensor_data(gb) : NULL, graft_tensor_data(&cg), graft_tensor_data(&cx),
                              graft_tensor_data(&cw), &s, &plan, scratch);
        if (gx) graft_ctx_count(ctx, GRAFT_COUNT_CONV_GRAD_INPUT);
        if (gw) graft_ctx_count(ctx, GRAFT_COUNT_CONV_GRAD_WEIGHT);
    } else {
        if (gx) graft_tensor_release(gx);
        if (gw) graft_tensor_release(gw);
        if (gb) graft_tensor_release(gb);
    }
    graft_tensor_release(&scratch_t);
    graft_tensor_release(&cx);
    graft_tensor_release(&cw);
    graft_tensor_release(&cg);
    return st;
}
