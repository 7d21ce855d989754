/* Image kernels for transforms. Single-threaded on purpose: the loader runs one image per
 * worker thread, which parallelises better than splitting one small image. */
#include "vision.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

graft_status graft_fimage_alloc(graft_fimage *img, int c, int h, int w, graft_error *err) {
    img->c = c, img->h = h, img->w = w;
    size_t n = (size_t)c * (size_t)h * (size_t)w;
    img->data = malloc((n ? n : 1) * sizeof(float));
    if (!img->data) return graft_error_set(err, GRAFT_ENOMEM, "out of memory for a %dx%dx%d image", c, h, w);
    return GRAFT_OK;
}

void graft_fimage_free(graft_fimage *img) {
    free(img->data);
    img->data = NULL;
}

void graft_fimage_replace(graft_fimage *img, graft_fimage *next) {
    free(img->data);
    *img = *next;
    next->data = NULL;
}

/* ---- resampling ------------------------------------------------------------------------- */

static double bilinear(double x) {
    x = fabs(x);
    return x < 1 ? 1 - x : 0;
}

static double bicubic(double x) {   /* Keys' cubic with a = -0.5, as PIL and PyTorch's aa path */
    const double a = -0.5;
    x = fabs(x);
    if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
    return 0;
}

/* For each output index along one axis: the first input index, the tap count and the
 * normalised weights (taps per output <= maxtaps). PyTorch's _compute_indices_weights_aa. */
typedef struct {
    int maxtaps;
    int *first, *count;
    float *weights;   /* out x maxtaps */
} taps;

static graft_status make_taps(taps *t, int in, int out, graft_filter filter, graft_error *err) {
    const double scale = (double)in / out;
    const double half = filter == GRAFT_FILTER_BICUBIC ? 2.0 : 1.0;
    const double support = scale >= 1 ? half * scale : half;
    const double invscale = scale >= 1 ? 1 / scale : 1;
    double (*fn)(double) = filter == GRAFT_FILTER_BICUBIC ? bicubic : bilinear;
    t->maxtaps = (int)ceil(support) * 2 + 1;
    t->first = malloc(sizeof(int) * (size_t)out);
    t->count = malloc(sizeof(int) * (size_t)out);
    t->weights = malloc(sizeof(float) * (size_t)out * (size_t)t->maxtaps);
    if (!t->first || !t->count || !t->weights)
        return graft_error_set(err, GRAFT_ENOMEM, "out of memory resizing %d to %d", in, out);
    for (int i = 0; i < out; i++) {
        double center = scale * (i + 0.5);
        int lo = (int)(center - support + 0.5);
        if (lo < 0) lo = 0;
        int hi = (int)(center + support + 0.5);
        if (hi > in) hi = in;
        int n = hi - lo;
        if (n > t->maxtaps) n = t->maxtaps;
        double w[64 * 2 + 1], total = 0;
        double *wp = n <= 129 ? w : malloc(sizeof(double) * (size_t)n);
        if (!wp) return graft_error_set(err, GRAFT_ENOMEM, "out of memory resizing %d to %d", in, out);
        for (int j = 0; j < n; j++) total += wp[j] = fn((j + lo - center + 0.5) * invscale);
        for (int j = 0; j < n; j++) t->weights[(size_t)i * t->maxtaps + j] = (float)(total != 0 ? wp[j] / total : 0);
        if (wp != w) free(wp);
        t->first[i] = lo;
        t->count[i] = n;
    }
    return GRAFT_OK;
}

static void free_taps(taps *t) {
    free(t->first);
    free(t->count);
    free(t->weights);
}

graft_status graft_resize(const graft_fimage *src, graft_fimage *dst, int oh, int ow, graft_filter filter,
                          graft_error *err) {
    dst->data = NULL;
    if (oh < 1 || ow < 1 || src->h < 1 || src->w < 1)
        return graft_error_set(err, GRAFT_EINVAL, "cannot resize %dx%d to %dx%d", src->h, src->w, oh, ow);
    taps tx = {0}, ty = {0};
    graft_fimage mid = {0};
    graft_status st = make_taps(&tx, src->w, ow, filter, err);
    if (st == GRAFT_OK) st = make_taps(&ty, src->h, oh, filter, err);
    /* Horizontal pass first (as PyTorch), then vertical. */
    if (st == GRAFT_OK) st = graft_fimage_alloc(&mid, src->c, src->h, ow, err);
    if (st == GRAFT_OK) st = graft_fimage_alloc(dst, src->c, oh, ow, err);
    if (st == GRAFT_OK) {
        for (int64_t r = 0; r < (int64_t)src->c * src->h; r++) {
            const float *in = src->data + r * src->w;
            float *o = mid.data + r * ow;
            for (int x = 0; x < ow; x++) {
                const float *w = tx.weights + (size_t)x * tx.maxtaps;
                const float *p = in + tx.first[x];
                float s = 0;
                for (int j = 0; j < tx.count[x]; j++) s += w[j] * p[j];
                o[x] = s;
            }
        }
        for (int c = 0; c < src->c; c++) {
            const float *plane = mid.data + (size_t)c * src->h * ow;
            for (int y = 0; y < oh; y++) {
                float *o = dst->data + ((size_t)c * oh + y) * ow;
                const float *w = ty.weights + (size_t)y * ty.maxtaps;
                for (int x = 0; x < ow; x++) o[x] = 0;
                for (int j = 0; j < ty.count[y]; j++) {
                    const float *row = plane + (size_t)(ty.first[y] + j) * ow;
                    for (int x = 0; x < ow; x++) o[x] += w[j] * row[x];
                }
            }
        }
    } else {
        graft_fimage_free(dst);
    }
    graft_fimage_free(&mid);
    free_taps(&tx);
    free_taps(&ty);
    return st;
}

/* ---- geometry ---------------------------------------------------------------------------- */

graft_status graft_crop(const graft_fimage *src, graft_fimage *dst, int top, int left, int h, int w,
                        float fill, graft_error *err) {
    if (h < 1 || w < 1) return graft_error_set(err, GRAFT_EINVAL, "cannot crop a %dx%d window", h, w);
    graft_status st = graft_fimage_alloc(dst, src->c, h, w, err);
    if (st != GRAFT_OK) return st;
    for (int c = 0; c < src->c; c++)
        for (int y = 0; y < h; y++) {
            float *o = dst->data + ((size_t)c * h + y) * w;
            int sy = top + y;
            for (int x = 0; x < w; x++) {
                int sx = left + x;
                o[x] = sy >= 0 && sy < src->h && sx >= 0 && sx < src->w
                           ? src->data[((size_t)c * src->h + sy) * src->w + sx] : fill;
            }
        }
    return GRAFT_OK;
}

void graft_hflip(graft_fimage *img) {
    for (int64_t r = 0; r < (int64_t)img->c * img->h; r++) {
        float *row = img->data + r * img->w;
        for (int a = 0, b = img->w - 1; a < b; a++, b--) {
            float t = row[a];
            row[a] = row[b];
            row[b] = t;
        }
    }
}

void graft_normalize(graft_fimage *img, const double *mean, const double *std) {
    const size_t plane = (size_t)img->h * img->w;
    for (int c = 0; c < img->c; c++) {
        float *p = img->data + c * plane;
        const float m = (float)mean[c], s = (float)std[c];
        for (size_t i = 0; i < plane; i++) p[i] = (p[i] - m) / s;
    }
}

/* ---- colour ------------------------------------------------------------------------------ */

static float clamp01(float v) { return v < 0 ? 0 : v > 1 ? 1 : v; }
static float luma(float r, float g, float b) { return 0.2989f * r + 0.587f * g + 0.114f * b; }

/* torchvision's _blend: ratio * img + (1 - ratio) * other, clamped to [0, 1]. */
static float blend(float v, float other, float ratio) { return clamp01(ratio * v + (1 - ratio) * other); }

void graft_adjust_brightness(graft_fimage *img, double factor) {
    const size_t n = (size_t)img->c * img->h * img->w;
    for (size_t i = 0; i < n; i++) img->data[i] = blend(img->data[i], 0, (float)factor);
}

void graft_adjust_contrast(graft_fimage *img, double factor) {
    const size_t plane = (size_t)img->h * img->w, n = plane * img->c;
    double sum = 0;
    if (img->c == 3)
        for (size_t i = 0; i < plane; i++)
            sum += luma(img->data[i], img->data[plane + i], img->data[2 * plane + i]);
    else
        for (size_t i = 0; i < n; i++) sum += img->data[i];
    const float mean = (float)(sum / (double)(img->c == 3 ? plane : n));
    for (size_t i = 0; i < n; i++) img->data[i] = blend(img->data[i], mean, (float)factor);
}

void graft_adjust_saturation(graft_fimage *img, double factor) {
    if (img->c != 3) return;
    const size_t plane = (size_t)img->h * img->w;
    float *r = img->data, *g = r + plane, *b = g + plane;
    for (size_t i = 0; i < plane; i++) {
        float l = luma(r[i], g[i], b[i]);
        r[i] = blend(r[i], l, (float)factor);
        g[i] = blend(g[i], l, (float)factor);
        b[i] = blend(b[i], l, (float)factor);
    }
}

/* torchvision's _rgb2hsv, a hue shift, and _hsv2rgb, per pixel. */
void graft_adjust_hue(graft_fimage *img, double shift) {
    if (img->c != 3) return;
    const size_t plane = (size_t)img->h * img->w;
    float *R = img->data, *G = R + plane, *B = G + plane;
    for (size_t i = 0; i < plane; i++) {
        float r = R[i], g = G[i], b = B[i];
        float maxc = fmaxf(r, fmaxf(g, b)), minc = fminf(r, fminf(g, b));
        int eq = maxc == minc;
        float cr = maxc - minc;
        float s = cr / (eq ? 1.0f : maxc);
        float div = eq ? 1.0f : cr;
        float rc = (maxc - r) / div, gc = (maxc - g) / div, bc = (maxc - b) / div;
        float h = maxc == r ? bc - gc : maxc == g ? 2.0f + rc - bc : 4.0f + gc - rc;
        h = fmodf(h / 6.0f + 1.0f, 1.0f);
        h = h + (float)shift;
        h = h - floorf(h);   /* Python's % 1.0: into [0, 1) */
        float v = maxc;
        float fi = floorf(h * 6.0f), f = h * 6.0f - fi;
        int k = ((int)fi % 6 + 6) % 6;
        float p = clamp01(v * (1.0f - s)), q = clamp01(v * (1.0f - s * f)), t = clamp01(v * (1.0f - s * (1.0f - f)));
        const float sel[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
        R[i] = sel[k][0], G[i] = sel[k][1], B[i] = sel[k][2];
    }
}

graft_status graft_grayscale(const graft_fimage *src, graft_fimage *dst, int channels, graft_error *err) {
    if (src->c != 1 && src->c != 3)
        return graft_error_set(err, GRAFT_EINVAL, "grayscale needs 1 or 3 channels, not %d", src->c);
    graft_status st = graft_fimage_alloc(dst, channels, src->h, src->w, err);
    if (st != GRAFT_OK) return st;
    const size_t plane = (size_t)src->h * src->w;
    const float *r = src->data, *g = r + (src->c == 3 ? plane : 0), *b = g + (src->c == 3 ? plane : 0);
    for (size_t i = 0; i < plane; i++) dst->data[i] = src->c == 3 ? luma(r[i], g[i], b[i]) : r[i];
    for (int c = 1; c < channels; c++) memcpy(dst->data + c * plane, dst->data, plane * sizeof(float));
    return GRAFT_OK;
}
