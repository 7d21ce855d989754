/* Batch and layer normalization. Statistics accumulate in double; channels (batch norm) or
 * rows (layer norm) run in parallel. */
#include "norm.h"

#include <math.h>
#include <string.h>

#include "../core/threads.h"
#include "copy.h"
#include "vecmath.h"

/* Contiguous f32 copies of up to four optional operands, released together. */
typedef struct {
    graft_tensor t[4];
} held;

static void held_init(held *h) {
    for (int i = 0; i < 4; i++) graft_tensor_init_empty(&h->t[i]);
}
static void held_release(held *h) {
    for (int i = 0; i < 4; i++) graft_tensor_release(&h->t[i]);
}
/* Data of a contiguous f32 copy of x (NULL stays NULL). */
static graft_status hold(graft_ctx *ctx, held *h, int slot, const graft_tensor *x, const float **p,
                         graft_error *err) {
    *p = NULL;
    if (!x) return GRAFT_OK;
    graft_status st = graft_contiguous_as(ctx, &h->t[slot], x, GRAFT_F32, err);
    if (st == GRAFT_OK) *p = graft_tensor_data(&h->t[slot]);
    return st;
}

static graft_status check_channels(const graft_tensor *t, int64_t c, const char *what, graft_error *err) {
    if (t && (t->ndim != 1 || t->size[0] != c || t->dtype != GRAFT_F32))
        return graft_error_set(err, GRAFT_EINVAL, "%s must be f32 with %lld elements", what, (long long)c);
    return GRAFT_OK;
}

/* A channel of a batch norm is n runs of s floats, `stride` apart. */

/* Its mean and (biased) variance, in two passes, summed in double lanes. */
GRAFT_CLONES
static void channel_moments(const float *x, int64_t n, int64_t s, int64_t stride, double *mu, double *var) {
    double lane[GRAFT_LANES] = {0};
    for (int64_t i = 0; i < n; i++) graft_lanes_add(lane, x + i * stride, s);
    *mu = graft_lanes_total(lane) / (double)(n * s);
    memset(lane, 0, sizeof lane);
    for (int64_t i = 0; i < n; i++) graft_lanes_add_sqdev(lane, x + i * stride, s, *mu);
    *var = graft_lanes_total(lane) / (double)(n * s);
}

/* Its sums of g and of g (x - mu). */
GRAFT_CLONES
static void channel_grad_sums(const float *g, const float *x, int64_t n, int64_t s, int64_t stride, double mu,
                              double *sg, double *sgd) {
    double a[GRAFT_LANES] = {0}, b[GRAFT_LANES] = {0};
    for (int64_t i = 0; i < n; i++) {
        graft_lanes_add(a, g + i * stride, s);
        graft_lanes_add_dotdev(b, g + i * stride, x + i * stride, s, mu);
    }
    *sg = graft_lanes_total(a);
    *sgd = graft_lanes_total(b);
}

/* y = a u + b (v - mu) + c over the channel (v may be NULL: y = a u + c). */
GRAFT_CLONES
static void channel_affine(float *y, const float *u, const float *v, int64_t n, int64_t s, int64_t stride, float a,
                           float b, float c, float mu) {
    for (int64_t i = 0; i < n; i++) {
        float *restrict yr = y + i * stride;
        const float *restrict ur = u + i * stride;
        if (v) {
            const float *restrict vr = v + i * stride;
            for (int64_t k = 0; k < s; k++) yr[k] = a * ur[k] + b * (vr[k] - mu) + c;
        } else {
            for (int64_t k = 0; k < s; k++) yr[k] = a * ur[k] + c;
        }
    }
}

graft_status graft_batch_norm(graft_ctx *ctx, graft_tensor *y, graft_tensor *mean, graft_tensor *invstd,
                              const graft_tensor *x, graft_tensor *running_mean, graft_tensor *running_var,
                              const graft_tensor *weight, const graft_tensor *bias, bool training,
                              double momentum, double eps, graft_error *err) {
    char bx[128];
    if (x->dtype != GRAFT_F32 || x->ndim < 2)
        return graft_error_set(err, GRAFT_EINVAL, "expects an f32 input (N, C, ...), got %s",
                               graft_shape_str(bx, sizeof bx, x->ndim, x->size));
    int64_t n = x->size[0], c = x->size[1], s = n > 0 && c > 0 ? graft_tensor_numel(x) / (n * c) : 0;
    graft_status st = GRAFT_OK;
    if ((st = check_channels(running_mean, c, "running_mean", err)) || (st = check_channels(running_var, c, "running_var", err)) ||
        (st = check_channels(weight, c, "weight", err)) || (st = check_channels(bias, c, "bias", err)))
        return st;
    if ((running_mean && !graft_tensor_is_contiguous(running_mean)) || (running_var && !graft_tensor_is_contiguous(running_var)))
        return graft_error_set(err, GRAFT_EINVAL, "running statistics must be contiguous");
    bool batch_stats = training || !running_mean || !running_var;
    int64_t count = n * s;
    /* PyTorch's rule: training refuses exactly one value per channel (its variance says
     * nothing); an empty batch runs, and leaves the running statistics as they were. */
    if (training && count == 1)
        return graft_error_set(err, GRAFT_EINVAL, "expected more than 1 value per channel when training, got input %s",
                               graft_shape_str(bx, sizeof bx, x->ndim, x->size));
    held h;
    held_init(&h);
    const float *px, *pw, *pb;
    st = hold(ctx, &h, 0, x, &px, err);
    if (st == GRAFT_OK) st = hold(ctx, &h, 1, weight, &pw, err);
    if (st == GRAFT_OK) st = hold(ctx, &h, 2, bias, &pb, err);
    if (st == GRAFT_OK) st = graft_tensor_alloc(y, ctx, GRAFT_F32, x->ndim, x->size, err);
    if (st == GRAFT_OK) st = graft_tensor_alloc(mean, ctx, GRAFT_F32, 1, &c, err);
    if (st == GRAFT_OK) st = graft_tensor_alloc(invstd, ctx, GRAFT_F32, 1, &c, err);
    if (st == GRAFT_OK) {
        float *py = graft_tensor_data(y), *pm = graft_tensor_data(mean), *pi = graft_tensor_data(invstd);
        float *rm = running_mean ? graft_tensor_data(running_mean) : NULL;
        float *rv = running_var ? graft_tensor_data(running_var) : NULL;
        int nt = graft_threads_for(n * c * s * 4);
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t ch = 0; ch < c; ch++) {
            double mu, var;
            if (batch_stats) {
                mu = var = 0;   /* an empty batch: finite statistics, so its gradients are 0 */
                if (count > 0) channel_moments(px + ch * s, n, s, c * s, &mu, &var);
                if (training && rm && rv && count > 1) {
                    rm[ch] = (float)((1 - momentum) * rm[ch] + momentum * mu);
                    rv[ch] = (float)((1 - momentum) * rv[ch] + momentum * var * (double)count / (double)(count - 1));
                }
            } else {
                mu = rm[ch];
                var = rv[ch];
            }
            double inv = 1.0 / sqrt(var + eps), w = pw ? pw[ch] : 1.0;
            pm[ch] = (float)mu;
            pi[ch] = (float)inv;
            channel_affine(py + ch * s, px + ch * s, NULL, n, s, c * s, (float)(inv * w), 0.0f,
                           (float)((pb ? pb[ch] : 0.0f) - mu * inv * w), 0.0f);
        }
        graft_ctx_count(ctx, GRAFT_COUNT_BN_FORWARD);
    } else {
        graft_tensor_release(y);
        graft_tensor_release(mean);
    }
    held_release(&h);
    return st;
}

graft_status graft_batch_norm_grad(graft_ctx *ctx, graft_tensor *gx, graft_tensor *gw, graft_tensor *gb,
                                   const graft_tensor *g, const graft_tensor *x, const graft_tensor *weight,
                                   const graft_tensor *mean, const graft_tensor *invstd, bool training,
                                   graft_error *err) {
    if (!graft_tensor_same_shape(g, x) || x->ndim < 2)
        return graft_error_set(err, GRAFT_EINVAL, "the gradient must have the input's shape");
    int64_t n = x->size[0], c = x->size[1], s = n > 0 && c > 0 ? graft_tensor_numel(x) / (n * c) : 0;
    int64_t count = n * s;
    held h;
    held_init(&h);
    const float *px, *pg, *pw, *pm, *pi;
    graft_status st = hold(ctx, &h, 0, x, &px, err);
    if (st == GRAFT_OK) st = hold(ctx, &h, 1, g, &pg, err);
    if (st == GRAFT_OK) st = hold(ctx, &h, 2, weight, &pw, err);
    if (st == GRAFT_OK) st = hold(ctx, &h, 3, mean, &pm, err);
    pi = graft_tensor_data(invstd);
    if (st == GRAFT_OK && gx) st = graft_tensor_alloc(gx, ctx, GRAFT_F32, x->ndim, x->size, err);
    if (st == GRAFT_OK && gw) st = graft_tensor_alloc(gw, ctx, GRAFT_F32, 1, &c, err);
    if (st == GRAFT_OK && gb) st = graft_tensor_alloc(gb, ctx, GRAFT_F32, 1, &c, err);
    if (st == GRAFT_OK) {
        float *pgx = gx ? graft_tensor_data(gx) : NULL, *pgw = gw ? graft_tensor_data(gw) : NULL;
        float *pgb = gb ? graft_tensor_data(gb) : NULL;
        int nt = graft_threads_for(n * c * s * 4);
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t ch = 0; ch < c; ch++) {
            double sg, sgd, mu = pm[ch], inv = pi[ch];   /* sgd: sum of g (x - mu) */
            channel_grad_sums(pg + ch * s, px + ch * s, n, s, c * s, mu, &sg, &sgd);
            if (pgb) pgb[ch] = (float)sg;
            if (pgw) pgw[ch] = (float)(sgd * inv);
            if (!pgx) continue;
            /* gx = w inv (g - (sg + xhat sgd inv) / count), xhat = (x - mu) inv; only g's
             * term in eval, where the statistics are constants */
            double a = (pw ? pw[ch] : 1.0) * inv;
            if (training)
                channel_affine(pgx + ch * s, pg + ch * s, px + ch * s, n, s, c * s, (float)a,
                               (float)(-a * inv * inv * sgd / (double)count), (float)(-a * sg / (double)count),
                               (float)mu);
            else
                channel_affine(pgx + ch * s, pg + ch * s, NULL, n, s, c * s, (float)a, 0.0f, 0.0f, 0.0f);
        }
        graft_ctx_count(ctx, GRAFT_COUNT_BN_BACKWARD);
    } else {
        if (gx) graft_tensor_release(gx);
        if (gw) graft_tensor_release(gw);
        if (gb) graft_tensor_release(gb);
    }
    held_release(&h);
    return st;
}

static graft_status layer_geometry(const graft_tensor *x, int ndims, const graft_tensor *weight,
                                   const graft_tensor *bias, int64_t *rows, int64_t *d, graft_error *err) {
    if (x->dtype != GRAFT_F32 || ndims < 1 || ndims > x->ndim)
        return graft_error_set(err, GRAFT_EINVAL, "normalized shape of %d dims does not fit a %d-D f32 input", ndims, x->ndim);
    *d = 1;
    for (int i = x->ndim - ndims; i < x->ndim; i++) *d *= x->size[i];
    *rows = *d ? graft_tensor_numel(x) / *d : 0;
    if ((weight && graft_tensor_numel(weight) != *d) || (bias && graft_tensor_numel(bias) != *d))
        return graft_error_set(err, GRAFT_EINVAL, "weight and bias must have %lld elements", (long long)*d);
    return GRAFT_OK;
}

graft_status graft_layer_norm(graft_ctx *ctx, graft_tensor *y, graft_tensor *mean, graft_tensor *rstd,
                              const graft_tensor *x, int ndims, const graft_tensor *weight,
                              const graft_tensor *bias, double eps, graft_error *err) {
    int64_t rows, d;
    graft_status st = layer_geometry(x, ndims, weight, bias, &rows, &d, err);
    if (st != GRAFT_OK) return st;
    held h;
    held_init(&h);
    const float *px, *pw, *pb;
    st = hold(ctx, &h, 0, x, &px, err);
    if (st == GRAFT_OK) st = hold(ctx, &h, 1, weight, &pw, err);
    if (st == GRAFT_OK) st = hold(ctx, &h, 2, bias, &pb, err);
    if (st == GRAFT_OK) st = graft_tensor_alloc(y, ctx, GRAFT_F32, x->ndim, x->size, err);
    if (st == GRAFT_OK) st = graft_tensor_alloc(mean, ctx, GRAFT_F32, 1, &rows, err);
    if (st == GRAFT_OK) st = graft_tensor_alloc(rstd, ctx, GRAFT_F32, 1, &rows, err);
    if (st == GRAFT_OK) {
        float *py = graft_tensor_data(y), *pm = graft_tensor_data(mean), *pr = graft_tensor_data(rstd);
        int nt = graft_threads_for(rows * d * 4);
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = px + r * d;
            double sum = 0, sq = 0;
            for (int64_t i = 0; i < d; i++) sum += xr[i];
            double mu = sum / (double)d;
            for (int64_t i = 0; i < d; i++) sq += (xr[i] - mu) * (xr[i] - mu);
            double inv = 1.0 / sqrt(sq / (double)d + eps);
            pm[r] = (float)mu;
            pr[r] = (float)inv;
            for (int64_t i = 0; i < d; i++)
                py[r * d + i] = (float)((xr[i] - mu) * inv * (pw ? pw[i] : 1.0f) + (pb ? pb[i] : 0.0f));
        }
    } else {
        graft_tensor_release(y);
        graft_tensor_release(mean);
    }
    held_release(&h);
    return st;
}

graft_status graft_layer_norm_grad(graft_ctx *ctx, graft_tensor *gx, graft_tensor *gw, graft_tensor *gb,
                                   const graft_tensor *g, const graft_tensor *x, int ndims,
                                   const graft_tensor *weight, const graft_tensor *mean,
                                   const graft_tensor *rstd, graft_error *err) {
    int64_t rows, d;
    graft_status st = layer_geometry(x, ndims, weight, NULL, &rows, &d, err);
    if (st != GRAFT_OK) return st;
    if (!graft_tensor_same_shape(g, x)) return graft_error_set(err, GRAFT_EINVAL, "the gradient must have the input's shape");
    held h;
    held_init(&h);
    const float *px, *pg, *pw;
    st = hold(ctx, &h, 0, x, &px, err);
    if (st == GRAFT_OK) st = hold(ctx, &h, 1, g, &pg, err);
    if (st == GRAFT_OK) st = hold(ctx, &h, 2, weight, &pw, err);
    if (st == GRAFT_OK && gx) st = graft_tensor_alloc(gx, ctx, GRAFT_F32, x->ndim, x->size, err);
    if (st == GRAFT_OK && gw) st = graft_tensor_alloc_zeros(gw, ctx, GRAFT_F32, 1, &d, err);
    if (st == GRAFT_OK && gb) st = graft_tensor_alloc_zeros(gb, ctx, GRAFT_F32, 1, &d, err);
    if (st == GRAFT_OK) {
        const float *pm = graft_tensor_data(mean), *pr = graft_tensor_data(rstd);
        float *pgx = gx ? graft_tensor_data(gx) : NULL, *pgw = gw ? graft_tensor_data(gw) : NULL;
        float *pgb = gb ? graft_tensor_data(gb) : NULL;
        for (int64_t r = 0; r < rows && (pgw || pgb); r++)
            for (int64_t i = 0; i < d; i++) {
                float gi = pg[r * d + i];
                if (pgw) pgw[i] += gi * (px[r * d + i] - pm[r]) * pr[r];
                if (pgb) pgb[i] += gi;
            }
        if (pgx) {
            int nt = graft_threads_for(rows * d * 4);
#pragma omp parallel for num_threads(nt) schedule(static)
            for (int64_t r = 0; r < rows; r++) {
                double a = 0, b = 0, inv = pr[r];
                for (int64_t i = 0; i < d; i++) {
                    double gw_i = pg[r * d + i] * (pw ? pw[i] : 1.0f), xhat = (px[r * d + i] - pm[r]) * inv;
                    a += gw_i;
                    b += gw_i * xhat;
                }
                a /= (double)d;
                b /= (double)d;
                for (int64_t i = 0; i < d; i++) {
                    double gw_i = pg[r * d + i] * (pw ? pw[i] : 1.0f), xhat = (px[r * d + i] - pm[r]) * inv;
                    pgx[r * d + i] = (float)(inv * (gw_i - a - xhat * b));
                }
            }
        }
    } else {
        if (gx) graft_tensor_release(gx);
        if (gw) graft_tensor_release(gw);
        if (gb) graft_tensor_release(gb);
    }
    held_release(&h);
    return st;
}
