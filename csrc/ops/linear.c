/* linear and its gradients on graft_sgemm (graft's GEMM, gemm.h). */
#include "linear.h"

#include <string.h>

#include "copy.h"
#include "matmul.h"

static graft_status check(const graft_tensor *x, const graft_tensor *w, const graft_tensor *b,
                          graft_error *err) {
    char bx[128], bw[128];
    graft_shape_str(bx, sizeof bx, x->ndim, x->size);
    graft_shape_str(bw, sizeof bw, w->ndim, w->size);
    if (x->dtype != GRAFT_F32 || w->dtype != GRAFT_F32 || (b && b->dtype != GRAFT_F32))
        return graft_error_set(err, GRAFT_EINVAL, "expects f32 tensors");
    if (w->ndim != 2 || x->ndim < 1 || x->size[x->ndim - 1] != w->size[1])
        return graft_error_set(err, GRAFT_EINVAL, "input %s does not end in the weight's %lld input features "
                               "(weight %s)", bx, (long long)(w->ndim == 2 ? w->size[1] : -1), bw);
    if (b && (b->ndim != 1 || b->size[0] != w->size[0]))
        return graft_error_set(err, GRAFT_EINVAL, "bias must have %lld elements (weight %s)", (long long)w->size[0], bw);
    return GRAFT_OK;
}

graft_status graft_linear(graft_ctx *ctx, graft_tensor *y, const graft_tensor *x,
                          const graft_tensor *w, const graft_tensor *b, graft_error *err) {
    graft_status st = check(x, w, b, err);
    if (st != GRAFT_OK) return st;
    int64_t in = w->size[1], out = w->size[0], m = graft_tensor_numel(x) / (in ? in : 1);
    if (in == 0) m = graft_tensor_numel(x) == 0 ? 0 : 1;
    graft_tensor cx, cw, cb;
    graft_tensor_init_empty(&cw);
    graft_tensor_init_empty(&cb);
    st = graft_contiguous_as(ctx, &cx, x, GRAFT_F32, err);
    if (st == GRAFT_OK) st = graft_contiguous_as(ctx, &cw, w, GRAFT_F32, err);
    if (st == GRAFT_OK && b) st = graft_contiguous_as(ctx, &cb, b, GRAFT_F32, err);
    int64_t size[GRAFT_MAX_DIMS];
    memcpy(size, x->size, sizeof size);
    size[x->ndim - 1] = out;
    if (st == GRAFT_OK) st = graft_tensor_alloc(y, ctx, GRAFT_F32, x->ndim, size, err);
    if (st == GRAFT_OK) {
        float *py = graft_tensor_data(y);
        const float *pb = b ? graft_tensor_data(&cb) : NULL;
        for (int64_t r = 0; r < m; r++)   /* rows start as the bias, the GEMM adds x W^T */
            for (int64_t c = 0; c < out; c++) py[r * out + c] = pb ? pb[c] : 0.0f;
        if (m > 0 && out > 0 && in > 0)
            graft_sgemm(false, true, m, out, in, 1.0f, graft_tensor_data(&cx), in, graft_tensor_data(&cw), in,
                        1.0f, py, out);
        graft_ctx_count(ctx, GRAFT_COUNT_LINEAR_FORWARD);
    }
    graft_tensor_release(&cx);
    graft_tensor_release(&cw);
    graft_tensor_release(&cb);
    return st;
}

graft_status graft_linear_grad(graft_ctx *ctx, graft_tensor *gx, graft_tensor *gw, graft_tensor *gb,
                               const graft_tensor *g, const graft_tensor *x, const graft_tensor *w,
                               graft_error *err) {
    graft_status st = check(x, w, NULL, err);
    if (st != GRAFT_OK) return st;
    int64_t in = w->size[1], out = w->size[0], m = in ? graft_tensor_numel(x) / in : 0;
    if (g->dtype != GRAFT_F32 || graft_tensor_numel(g) != m * out)
        return graft_error_set(err, GRAFT_EINVAL, "the output gradient does not have the output's shape");
    graft_tensor cg, cx, cw;
    graft_tensor_init_empty(&cx);
    graft_tensor_init_empty(&cw);
    st = graft_contiguous_as(ctx, &cg, g, GRAFT_F32, err);
    if (st == GRAFT_OK && gw) st = graft_contiguous_as(ctx, &cx, x, GRAFT_F32, err);
    if (st == GRAFT_OK && gx) st = graft_contiguous_as(ctx, &cw, w, GRAFT_F32, err);
    if (st == GRAFT_OK && gx) st = graft_tensor_alloc(gx, ctx, GRAFT_F32, x->ndim, x->size, err);
    if (st == GRAFT_OK && gw) st = graft_tensor_alloc(gw, ctx, GRAFT_F32, 2, w->size, err);
    if (st == GRAFT_OK && gb) st = graft_tensor_alloc_zeros(gb, ctx, GRAFT_F32, 1, &out, err);
    if (st == GRAFT_OK) {
        const float *pg = graft_tensor_data(&cg);
        if (gx) {   /* gx (m, in) = g (m, out) W (out, in) */
            if (m * in > 0 && out > 0)
                graft_sgemm(false, false, m, in, out, 1.0f, pg, out, graft_tensor_data(&cw), in, 0.0f,
                            graft_tensor_data(gx), in);
            else
                memset(graft_tensor_data(gx), 0, graft_tensor_nbytes(gx));
            graft_ctx_count(ctx, GRAFT_COUNT_LINEAR_GRAD_INPUT);
        }
        if (gw) {   /* gw (out, in) = g^T (out, m) x (m, in) */
            if (out * in > 0 && m > 0)
                graft_sgemm(true, false, out, in, m, 1.0f, pg, out, graft_tensor_data(&cx), in, 0.0f,
                            graft_tensor_data(gw), in);
            else
                memset(graft_tensor_data(gw), 0, graft_tensor_nbytes(gw));
            graft_ctx_count(ctx, GRAFT_COUNT_LINEAR_GRAD_WEIGHT);
        }
        if (gb) {
            float *pb = graft_tensor_data(gb);
            for (int64_t r = 0; r < m; r++)
                for (int64_t c = 0; c < out; c++) pb[c] += pg[r * out + c];
        }
    } else {
        if (gx) graft_tensor_release(gx);
        if (gw) graft_tensor_release(gw);
        if (gb) graft_tensor_release(gb);
    }
    graft_tensor_release(&cg);
    graft_tensor_release(&cx);
    graft_tensor_release(&cw);
    return st;
}
