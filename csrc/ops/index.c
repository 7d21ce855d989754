/* index_select, gather and topk. */
#include "index.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/alloc.h"
#include "copy.h"
#include "elementwise.h"

void graft_index_rebase(graft_tensor *t, int64_t base) {
    int64_t *p = graft_tensor_data(t), n = graft_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) p[i] += base;
}

static graft_status need_i64(const graft_tensor *idx, graft_error *err) {
    if (idx->dtype == GRAFT_I64) return GRAFT_OK;
    return graft_error_set(err, GRAFT_EINVAL, "indices must be i64, not %s",
                           graft_dtype_name(idx->dtype));
}

/* Element of i64 tensor t at flat row-major position i (any strides). */
static int64_t i64_at(const graft_tensor *t, int64_t i) {
    int64_t off = 0;
    for (int d = t->ndim - 1; d >= 0; d--) {
        off += (i % t->size[d]) * t->stride[d];
        i /= t->size[d];
    }
    return ((const int64_t *)graft_tensor_data(t))[off];
}

graft_status graft_index_select(graft_ctx *ctx, graft_tensor *out, const graft_tensor *x,
                                int dim, const graft_tensor *idx, int64_t base, graft_error *err) {
    graft_status st = need_i64(idx, err);
    if (st != GRAFT_OK) return st;
    if (idx->ndim > 1)
        return graft_error_set(err, GRAFT_EINVAL, "the index must be 1-D, not %d-D",
                               idx->ndim);
    int64_t n = graft_tensor_numel(idx), dsize = x->size[dim];
    for (int64_t i = 0; i < n; i++) {
        int64_t v = i64_at(idx, i);
        if (v < base || v - base >= dsize)
            return graft_error_set(err, GRAFT_EINVAL,
                                   "index %lld is out of range for dim %d of size %lld",
                                   (long long)v, dim + 1, (long long)dsize);
    }
    int64_t size[GRAFT_MAX_DIMS];
    memcpy(size, x->size, sizeof size);
    size[dim] = n;
    st = graft_tensor_alloc(out, ctx, x->dtype, x->ndim, size, err);
    for (int64_t i = 0; st == GRAFT_OK && i < n; i++) {
        graft_tensor src = *x, dst = *out;       /* header copies: one slice each */
        graft_view_select(&src, dim, i64_at(idx, i) - base);
        graft_view_select(&dst, dim, i);
        st = graft_copy(&dst, &src, err);
    }
    if (st != GRAFT_OK) graft_tensor_release(out);
    return st;
}

graft_status graft_gather(graft_ctx *ctx, graft_tensor *out, const graft_tensor *x, int dim,
                          const graft_tensor *idx, int64_t base, graft_error *err) {
    char bx[128], bi[128];
    graft_status st = need_i64(idx, err);
    if (st != GRAFT_OK) return st;
    bool ok = idx->ndim == x->ndim;
    for (int d = 0; ok && d < x->ndim; d++)
        if (d != dim && idx->size[d] > x->size[d]) ok = false;
    if (!ok)
        return graft_error_set(err, GRAFT_EINVAL,
                               "index %s does not fit input %s outside dim %d",
                               graft_shape_str(bi, sizeof bi, idx->ndim, idx->size),
                               graft_shape_str(bx, sizeof bx, x->ndim, x->size), dim + 1);
    int64_t n = graft_tensor_numel(idx);
    st = graft_tensor_alloc(out, ctx, x->dtype, idx->ndim, idx->size, err);
    if (st != GRAFT_OK) return st;
    size_t es = graft_dtype_size(x->dtype);
    const char *px = graft_tensor_data(x);
    char *po = graft_tensor_data(out);
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, off = 0, v = i64_at(idx, i);
        if (v < base || v - base >= x->size[dim]) {
            graft_tensor_release(out);
            return graft_error_set(err, GRAFT_EINVAL,
                                   "index %lld is out of range for dim %d of size %lld",
                                   (long long)v, dim + 1, (long long)x->size[dim]);
        }
        for (int d = idx->ndim - 1; d >= 0; d--) {
            int64_t c = rem % idx->size[d];
            rem /= idx->size[d];
            off += (d == dim ? v - base : c) * x->stride[d];
        }
        memcpy(po + (size_t)i * es, px + off * (int64_t)es, es);
    }
    return GRAFT_OK;
}

graft_status graft_index_add(graft_tensor *dst, int dim, const graft_tensor *idx,
                             const graft_tensor *src, int64_t base, graft_error *err) {
    char bd[128], bs[128];
    graft_status st = need_i64(idx, err);
    if (st != GRAFT_OK) return st;
    int64_t n = graft_tensor_numel(idx);
    bool fits = idx->ndim <= 1 && src->ndim == dst->ndim && src->size[dim] == n && src->dtype == dst->dtype;
    for (int d = 0; fits && d < dst->ndim; d++)
        if (d != dim && src->size[d] != dst->size[d]) fits = false;
    if (!fits)
        return graft_error_set(err, GRAFT_EINVAL, "source %s does not fit %s with %lld indices along dim %d",
                               graft_shape_str(bs, sizeof bs, src->ndim, src->size),
                               graft_shape_str(bd, sizeof bd, dst->ndim, dst->size), (long long)n, dim + 1);
    for (int64_t i = 0; i < n; i++) {
        int64_t v = i64_at(idx, i);
        if (v < base || v - base >= dst->size[dim])
            return graft_error_set(err, GRAFT_EINVAL, "index %lld is out of range for dim %d of size %lld",
                                   (long long)v, dim + 1, (long long)dst->size[dim]);
    }
    for (int64_t i = 0; i < n && st == GRAFT_OK; i++) {
        graft_tensor d = *dst, s = *src;        /* header copies: one slice each */
        graft_view_select(&d, dim, i64_at(idx, i) - base);
        graft_view_select(&s, dim, i);
        st = graft_binary_into(NULL, &d, &d, &s, GRAFT_ADD, err);
    }
    return st;
}

graft_status graft_scatter_add(graft_tensor *dst, int dim, const graft_tensor *idx,
                               const graft_tensor *src, int64_t base, graft_error *err) {
    char bd[128], bi[128];
    graft_status st = need_i64(idx, err);
    if (st != GRAFT_OK) return st;
    bool ok = idx->ndim == dst->ndim && graft_tensor_same_shape(idx, src) && dst->dtype == GRAFT_F32 &&
              src->dtype == GRAFT_F32;
    for (int d = 0; ok && d < dst->ndim; d++)
        if (d != dim && idx->size[d] > dst->size[d]) ok = false;
    if (!ok)
        return graft_error_set(err, GRAFT_EINVAL, "index %s and source must be f32 of one shape fitting %s",
                               graft_shape_str(bi, sizeof bi, idx->ndim, idx->size),
                               graft_shape_str(bd, sizeof bd, dst->ndim, dst->size));
    int64_t n = graft_tensor_numel(idx);
    for (int64_t i = 0; i < n; i++) {   /* all indices checked before anything is written */
        int64_t v = i64_at(idx, i);
        if (v < base || v - base >= dst->size[dim])
            return graft_error_set(err, GRAFT_EINVAL, "index %lld is out of range for dim %d of size %lld",
                                   (long long)v, dim + 1, (long long)dst->size[dim]);
    }
    float *pd = graft_tensor_data(dst);
    const float *ps = graft_tensor_data(src);
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, doff = 0, soff = 0, v = i64_at(idx, i);
        for (int d = idx->ndim - 1; d >= 0; d--) {
            int64_t c = rem % idx->size[d];
            rem /= idx->size[d];
            doff += (d == dim ? v - base : c) * dst->stride[d];
            soff += c * src->stride[d];
        }
        pd[doff] += ps[soff];
    }
    return GRAFT_OK;
}

typedef struct {
    double v;
    int64_t i;
    bool nan;
} keyed;

static int cmp_desc(const void *pa, const void *pb) {
    const keyed *a = pa, *b = pb;
    if (a->nan != b->nan) return a->nan ? -1 : 1;              /* NaN first */
    if (!a->nan && a->v != b->v) return a->v > b->v ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;                     /* ties: lower position first */
}

static int cmp_asc(const void *pa, const void *pb) {
    const keyed *a = pa, *b = pb;
    if (a->nan != b->nan) return a->nan ? 1 : -1;              /* NaN last */
    if (!a->nan && a->v != b->v) return a->v < b->v ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

static double value_at(const char *p, graft_dtype dt) {
    switch (dt) {
    case GRAFT_F32: return *(const float *)p;
    case GRAFT_I64: return (double)*(const int64_t *)p;
    default: return *(const uint8_t *)p;
    }
}

graft_status graft_topk(graft_ctx *ctx, graft_tensor *values, graft_tensor *indices,
                        const graft_tensor *x, int64_t k, int dim, bool largest, int64_t base,
                        graft_error *err) {
    int64_t r = x->ndim ? x->size[dim] : 1;
    if (k < 0 || k > r)
        return graft_error_set(err, GRAFT_EINVAL, "k = %lld is out of range for a dim of size %lld",
                               (long long)k, (long long)r);
    int64_t size[GRAFT_MAX_DIMS];
    memcpy(size, x->size, sizeof size);
    if (x->ndim) size[dim] = k;
    graft_status st = graft_tensor_alloc(values, ctx, x->dtype, x->ndim, size, err);
    if (st == GRAFT_OK) st = graft_tensor_alloc(indices, ctx, GRAFT_I64, x->ndim, size, err);
    keyed *row = st == GRAFT_OK ? graft_malloc(ctx, sizeof(keyed) * (size_t)(r > 0 ? r : 1)) : NULL;
    if (st == GRAFT_OK && !row) st = graft_error_set(err, GRAFT_ENOMEM, "out of memory");
    if (st != GRAFT_OK) {
        graft_tensor_release(values);
        graft_tensor_release(indices);
        return st;
    }
    /* Every line along dim: the other dims enumerate the lines. */
    int64_t lines = graft_tensor_numel(x) / (r ? r : 1);
    if (r == 0) lines = 0;
    size_t es = graft_dtype_size(x->dtype);
    int64_t xs = x->ndim ? x->stride[dim] : 0;
    int64_t vs = x->ndim ? values->stride[dim] : 0, is = x->ndim ? indices->stride[dim] : 0;
    for (int64_t line = 0; line < lines; line++) {
        int64_t rem = line, xo = 0, vo = 0, io = 0;
        for (int d = x->ndim - 1; d >= 0; d--) {
            if (d == dim) continue;
            int64_t c = rem % x->size[d];
            rem /= x->size[d];
            xo += c * x->stride[d];
            vo += c * values->stride[d];
            io += c * indices->stride[d];
        }
        const char *px = (const char *)graft_tensor_data(x) + xo * (int64_t)es;
        for (int64_t j = 0; j < r; j++) {
            double v = value_at(px + j * xs * (int64_t)es, x->dtype);
            row[j] = (keyed){v, j, isnan(v)};
        }
        qsort(row, (size_t)r, sizeof *row, largest ? cmp_desc : cmp_asc);
        char *pv = (char *)graft_tensor_data(values) + vo * (int64_t)es;
        int64_t *pi = (int64_t *)graft_tensor_data(indices) + io;
        for (int64_t j = 0; j < k; j++) {
            memcpy(pv + j * vs * (int64_t)es, px + row[j].i * xs * (int64_t)es, es);
            pi[j * is] = row[j].i + base;
        }
    }
    free(row);
    return GRAFT_OK;
}
