/* softmax / log_softmax: each line along dim is reduced in double, lines in parallel. */
#include "softmax.h"

#include <math.h>

#include "../core/threads.h"
#include "copy.h"

typedef struct {
    int64_t outer, r, inner;
} lines;

static lines lines_of(const graft_tensor *t, int dim) {
    lines l = {1, t->ndim ? t->size[dim] : 1, 1};
    for (int d = 0; d < dim; d++) l.outer *= t->size[d];
    for (int d = dim + 1; d < t->ndim; d++) l.inner *= t->size[d];
    return l;
}

static graft_status check(const graft_tensor *x, int dim, graft_error *err) {
    if (x->dtype != GRAFT_F32) return graft_error_set(err, GRAFT_EINVAL, "expects f32, not %s", graft_dtype_name(x->dtype));
    if (x->ndim && (dim < 0 || dim >= x->ndim)) return graft_error_set(err, GRAFT_EINVAL, "bad dim");
    return GRAFT_OK;
}

graft_status graft_softmax(graft_ctx *ctx, graft_tensor *out, const graft_tensor *x, int dim,
                           bool take_log, graft_error *err) {
    graft_status st = check(x, dim, err);
    if (st != GRAFT_OK) return st;
    graft_tensor cx;
    st = graft_contiguous_as(ctx, &cx, x, GRAFT_F32, err);
    if (st == GRAFT_OK) st = graft_tensor_alloc(out, ctx, GRAFT_F32, x->ndim, x->size, err);
    if (st == GRAFT_OK) {
        lines l = lines_of(x, dim);
        const float *px = graft_tensor_data(&cx);
        float *py = graft_tensor_data(out);
        int nt = graft_threads_for(l.outer * l.r * l.inner * 8);
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t line = 0; line < l.outer * l.inner; line++) {
            int64_t o = line / l.inner, i = line % l.inner;
            const float *xs = px + o * l.r * l.inner + i;
            float *ys = py + o * l.r * l.inner + i;
            float m = -INFINITY;
            for (int64_t j = 0; j < l.r; j++) {
                float v = xs[j * l.inner];
                if (v > m || v != v) m = v;
            }
            if (m == -INFINITY) m = 0;   /* all -inf: keep exp finite (gives NaN/-inf as PyTorch) */
            double sum = 0;
            for (int64_t j = 0; j < l.r; j++) sum += exp((double)xs[j * l.inner] - m);
            double lse = log(sum);
            for (int64_t j = 0; j < l.r; j++) {
                double z = (double)xs[j * l.inner] - m;
                ys[j * l.inner] = (float)(take_log ? z - lse : exp(z) / sum);
            }
        }
    }
    graft_tensor_release(&cx);
    return st;
}

graft_status graft_softmax_grad(graft_ctx *ctx, graft_tensor *gx, const graft_tensor *g,
                                const graft_tensor *y, int dim, bool take_log, graft_error *err) {
    graft_status st = check(y, dim, err);
    if (st != GRAFT_OK) return st;
    if (!graft_tensor_same_shape(g, y)) return graft_error_set(err, GRAFT_EINVAL, "gradient shape differs from the output's");
    graft_tensor cg, cy;
    graft_tensor_init_empty(&cy);
    st = graft_contiguous_as(ctx, &cg, g, GRAFT_F32, err);
    if (st == GRAFT_OK) st = graft_contiguous_as(ctx, &cy, y, GRAFT_F32, err);
    if (st == GRAFT_OK) st = graft_tensor_alloc(gx, ctx, GRAFT_F32, y->ndim, y->size, err);
    if (st == GRAFT_OK) {
        lines l = lines_of(y, dim);
        const float *pg = graft_tensor_data(&cg), *py = graft_tensor_data(&cy);
        float *px = graft_tensor_data(gx);
        int nt = graft_threads_for(l.outer * l.r * l.inner * 4);
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t line = 0; line < l.outer * l.inner; line++) {
            int64_t base = (line / l.inner) * l.r * l.inner + line % l.inner;
            const float *gs = pg + base, *ys = py + base;
            float *xs = px + base;
            double acc = 0;   /* softmax: sum g*y; log_softmax: sum g */
            for (int64_t j = 0; j < l.r; j++) acc += take_log ? gs[j * l.inner] : (double)gs[j * l.inner] * ys[j * l.inner];
            for (int64_t j = 0; j < l.r; j++) {
                int64_t k = j * l.inner;
                xs[k] = take_log ? (float)(gs[k] - exp((double)ys[k]) * acc) : (float)(ys[k] * (gs[k] - acc));
            }
        }
    }
    graft_tensor_release(&cg);
    graft_tensor_release(&cy);
    return st;
}
