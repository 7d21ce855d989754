/* Reductions: x made contiguous and seen as (outer, R, inner), reduced over R. */
#include "reduce.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/threads.h"
#include "copy.h"
#include "index.h"
#include "vecmath.h"

typedef struct {
    int64_t outer, r, inner;
} layout;

/* Sum or product of f32 in double; dst holds outer*inner doubles. */
static void sum_f32(double *dst, const float *x, layout l, bool prod) {
    int nt = graft_threads_for(l.outer * l.r * l.inner);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t o = 0; o < l.outer; o++) {
        double *acc = dst + o * l.inner;
        if (l.inner == 1 && !prod) {   /* one run (a whole-tensor sum such as a loss): lanes */
            *acc = graft_vsum(x + o * l.r, l.r);
            continue;
        }
        for (int64_t i = 0; i < l.inner; i++) acc[i] = prod ? 1.0 : 0.0;
        const float *xo = x + o * l.r * l.inner;
        for (int64_t r = 0; r < l.r; r++) {
            const float *row = xo + r * l.inner;
            if (prod)
                for (int64_t i = 0; i < l.inner; i++) acc[i] *= row[i];
            else
                for (int64_t i = 0; i < l.inner; i++) acc[i] += row[i];
        }
    }
}

static void sum_i64(int64_t *dst, const int64_t *x, layout l, bool prod) {
    int nt = graft_threads_for(l.outer * l.r * l.inner);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t o = 0; o < l.outer; o++) {
        uint64_t *acc = (uint64_t *)dst + o * l.inner;   /* unsigned: wraps, defined */
        for (int64_t i = 0; i < l.inner; i++) acc[i] = prod ? 1 : 0;
        const int64_t *xo = x + o * l.r * l.inner;
        for (int64_t r = 0; r < l.r; r++) {
            const int64_t *row = xo + r * l.inner;
            if (prod)
                for (int64_t i = 0; i < l.inner; i++) acc[i] *= (uint64_t)row[i];
            else
                for (int64_t i = 0; i < l.inner; i++) acc[i] += (uint64_t)row[i];
        }
    }
}

/* best/pos hold outer*inner entries; pos may be NULL. NaN wins and stays. */
#define EXTREME(N, T)                                                                      \
    static void extreme_##N(T *best, int64_t *pos, const T *x, layout l, bool is_max) {   \
        int nt = graft_threads_for(l.outer * l.r * l.inner);                              \
        _Pragma("omp parallel for num_threads(nt) schedule(static)")                      \
        for (int64_t o = 0; o < l.outer; o++) {                                           \
            T *b = best + o * l.inner;                                                    \
            int64_t *p = pos ? pos + o * l.inner : NULL;                                  \
            const T *xo = x + o * l.r * l.inner;                                          \
            memcpy(b, xo, sizeof(T) * (size_t)l.inner);                                   \
            if (p) memset(p, 0, sizeof(int64_t) * (size_t)l.inner);                       \
            for (int64_t r = 1; r < l.r; r++) {                                           \
                const T *row = xo + r * l.inner;                                          \
                for (int64_t i = 0; i < l.inner; i++) {                                   \
                    T v = row[i], cur = b[i];                                             \
                    if (cur != cur) continue;                                             \
                    if (v != v || (is_max ? v > cur : v < cur)) {                         \
                        b[i] = v;                                                         \
                        if (p) p[i] = r;                                                  \
                    }                                                                     \
                }                                                                         \
            }                                                                             \
        }                                                                                 \
    }
EXTREME(f32, float)
EXTREME(i64, int64_t)
EXTREME(u8, uint8_t)

static void run_extreme(const graft_tensor *vals, const graft_tensor *idx,
                                const graft_tensor *x, layout l, bool is_max) {
    void *v = graft_tensor_data(vals);
    int64_t *p = idx ? graft_tensor_data(idx) : NULL;
    switch (x->dtype) {
    case GRAFT_F32: extreme_f32(v, p, graft_tensor_data(x), l, is_max); break;
    case GRAFT_I64: extreme_i64(v, p, graft_tensor_data(x), l, is_max); break;
    case GRAFT_U8: extreme_u8(v, p, graft_tensor_data(x), l, is_max); break;
    }
}

graft_status graft_reduce(graft_ctx *ctx, graft_tensor *values, graft_tensor *indices,
                          const graft_tensor *x, int dim, bool keepdim, graft_redop op,
                          int64_t base, graft_error *err) {
    bool extreme = op >= GRAFT_RMAX;
    bool want_index = op == GRAFT_RARGMAX || op == GRAFT_RARGMIN || (extreme && indices);
    graft_dtype ct = x->dtype;                       /* the dtype reduced in */
    if (op == GRAFT_RMEAN) ct = GRAFT_F32;
    else if (!extreme && ct == GRAFT_U8) ct = GRAFT_I64;

    layout l = {1, graft_tensor_numel(x), 1};
    int ond = 0;
    int64_t osize[GRAFT_MAX_DIMS];
    if (dim >= 0) {
        l.r = x->size[dim];
        for (int d = 0; d < dim; d++) l.outer *= x->size[d];
        for (int d = dim + 1; d < x->ndim; d++) l.inner *= x->size[d];
        for (int d = 0; d < x->ndim; d++)
            if (d != dim) osize[ond++] = x->size[d];
            else if (keepdim) osize[ond++] = 1;
    } else if (keepdim) {
        for (int d = 0; d < x->ndim; d++) osize[ond++] = 1;
    }
    if (extreme && l.r == 0 && l.outer * l.inner > 0)
        return graft_error_set(err, GRAFT_EINVAL, "cannot reduce over an empty dim");

    graft_tensor xc, tmp_vals, dummy_idx;
    graft_tensor_init_empty(&tmp_vals);
    graft_tensor_init_empty(&dummy_idx);
    graft_status st = graft_contiguous_as(ctx, &xc, x, ct, err);
    graft_tensor *vals = values ? values : &tmp_vals;
    graft_dtype vt = extreme ? ct : op == GRAFT_RMEAN ? GRAFT_F32 : ct;
    if (st == GRAFT_OK) st = graft_tensor_alloc(vals, ctx, vt, ond, osize, err);
    graft_tensor *idx = indices ? indices : want_index ? &dummy_idx : NULL;
    if (st == GRAFT_OK && want_index) st = graft_tensor_alloc(idx, ctx, GRAFT_I64, ond, osize, err);
    if (st == GRAFT_OK) {
        if (extreme) {
            run_extreme(vals, want_index ? idx : NULL, &xc, l, op == GRAFT_RMAX || op == GRAFT_RARGMAX);
            if (want_index && base) graft_index_rebase(idx, base);
        } else if (ct == GRAFT_F32) {
            int64_t n = l.outer * l.inner;
            double *acc = graft_malloc(ctx, sizeof(double) * (size_t)(n > 0 ? n : 1));
            if (!acc) {
                st = graft_error_set(err, GRAFT_ENOMEM, "out of memory");
            } else {
                sum_f32(acc, graft_tensor_data(&xc), l, op == GRAFT_RPROD);
                float *o = graft_tensor_data(vals);
                double scale = op == GRAFT_RMEAN ? 1.0 / (double)l.r : 1.0;  /* r = 0: NaN */
                for (int64_t i = 0; i < n; i++)
                    o[i] = (float)(op == GRAFT_RMEAN && l.r == 0 ? NAN : acc[i] * scale);
                free(acc);
            }
        } else {
            sum_i64(graft_tensor_data(vals), graft_tensor_data(&xc), l, op == GRAFT_RPROD);
        }
    }
    graft_tensor_release(&xc);
    graft_tensor_release(&tmp_vals);
    graft_tensor_release(&dummy_idx);
    if (st != GRAFT_OK) {
        if (values) graft_tensor_release(values);
        if (indices) graft_tensor_release(indices);
    }
    return st;
}
