/* Attention: per (batch, head), two GEMMs around a masked row softmax; the backward pass
 * recomputes nothing but the score gradient. (batch, head) pairs run in parallel, each with
 * single-threaded BLAS calls: BERT's per-head products (T x 64 by 64 x T) are too small to
 * split further. */
#include "attention.h"

#include <math.h>

#include "../core/threads.h"
#include "copy.h"
#include "matmul.h"

/* One operand's rows: (b, h) matrix i starts at data + b * sb + h * sh, rows ld apart. */
typedef struct {
    float *data;
    int64_t sb, sh, ld;
} heads;

static float *head_at(const heads *x, int64_t b, int64_t h) { return x->data + b * x->sb + h * x->sh; }

static heads heads_of(const graft_tensor *t) {
    heads x = {graft_tensor_data(t), t->stride[0], t->stride[1], t->stride[2]};
    if (t->size[2] == 1 || x.ld < t->size[3]) x.ld = t->size[3];
    return x;
}

/* src itself when BLAS can read its rows (last dim contiguous), else a contiguous copy. */
static graft_status readable(graft_ctx *ctx, graft_tensor *dst, const graft_tensor *src, graft_error *err) {
    bool rows_ok = (src->stride[3] == 1 || src->size[3] == 1) &&
                   (src->size[2] == 1 || src->stride[2] >= src->size[3]);
    if (rows_ok) {
        graft_tensor_share(dst, src);
        return GRAFT_OK;
    }
    return graft_contiguous_as(ctx, dst, src, GRAFT_F32, err);
}

/* A {B, H, T, D} result stored as {B, T, H, D}: the transpose that merges heads is free. */
static graft_status alloc_heads(graft_ctx *ctx, graft_tensor *t, const int64_t *bhtd, graft_error *err) {
    int64_t size[4] = {bhtd[0], bhtd[2], bhtd[1], bhtd[3]};
    graft_status st = graft_tensor_alloc(t, ctx, GRAFT_F32, 4, size, err);
    if (st == GRAFT_OK) graft_view_transpose(t, 1, 2);
    return st;
}

static graft_status check_shapes(const graft_tensor *q, const graft_tensor *k, const graft_tensor *v,
                                 const graft_tensor *mask, graft_error *err) {
    char a[96], b[96], c[96];
    const graft_tensor *ops[3] = {q, k, v};
    for (int i = 0; i < 3; i++) {
        if (ops[i]->dtype != GRAFT_F32)
            return graft_error_set(err, GRAFT_EINVAL, "query, key and value must be f32, not %s",
                                   graft_dtype_name(ops[i]->dtype));
        if (ops[i]->ndim != 4)
            return graft_error_set(err, GRAFT_EINVAL, "query, key and value must be {B, heads, T, D}, got %s",
                                   graft_shape_str(a, sizeof a, ops[i]->ndim, ops[i]->size));
    }
    if (k->size[0] != q->size[0] || v->size[0] != q->size[0] || k->size[1] != q->size[1] ||
        v->size[1] != q->size[1] || k->size[3] != q->size[3] || v->size[2] != k->size[2])
        return graft_error_set(err, GRAFT_EINVAL,
                               "query %s, key %s and value %s do not fit: {B, H, Tq, D}, {B, H, Tk, D}, {B, H, Tk, Dv}",
                               graft_shape_str(a, sizeof a, 4, q->size), graft_shape_str(b, sizeof b, 4, k->size),
                               graft_shape_str(c, sizeof c, 4, v->size));
    if (mask && (mask->ndim != 2 || mask->size[0] != q->size[0] || mask->size[1] != k->size[2]))
        return graft_error_set(err, GRAFT_EINVAL, "the mask must be {B, Tk} = {%lld, %lld}, got %s",
                               (long long)q->size[0], (long long)k->size[2],
                               graft_shape_str(a, sizeof a, mask->ndim, mask->size));
    return GRAFT_OK;
}

static bool has_shape(const graft_tensor *t, const int64_t *size) {
    if (t->ndim != 4) return false;
    for (int d = 0; d < 4; d++)
        if (t->size[d] != size[d]) return false;
    return true;
}

/* Row softmax in place over n scores; keep (may be NULL) marks the keys that take part. */
static void masked_softmax(float *s, const float *keep, int64_t n) {
    float mx = -INFINITY;
    int64_t kept = 0;
    for (int64_t j = 0; j < n; j++)
        if (!keep || keep[j] != 0) {
            if (s[j] > mx || s[j] != s[j]) mx = s[j];
            kept++;
        }
    if (kept == 0) {
        for (int64_t j = 0; j < n; j++) s[j] = 1.0f / (float)n;
        return;
    }
    double sum = 0;
    for (int64_t j = 0; j < n; j++) {
        s[j] = (!keep || keep[j] != 0) ? expf(s[j] - mx) : 0.0f;
        sum += s[j];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t j = 0; j < n; j++) s[j] *= inv;
}

/* What each (batch, head) pair reads and writes. */
typedef struct {
    int64_t H, Tq, Tk, D, Dv;
    float scale;
    heads q, k, v, g, out, gq, gk, gv;   /* g and the gradients: backward only */
    const float *keep;                   /* {B, Tk} or NULL */
    float *probs, *ds;                   /* {B, H, Tq, Tk}; ds NULL when dQ, dK are not wanted */
    bool want_q, want_k, want_v;
} attention_args;

static void forward_head(const attention_args *a, int64_t i) {
    int64_t b = i / a->H, h = i % a->H, Tq = a->Tq, Tk = a->Tk;
    float *p = a->probs + i * Tq * Tk;
    graft_sgemm(false, true, Tq, Tk, a->D, a->scale, head_at(&a->q, b, h), a->q.ld, head_at(&a->k, b, h), a->k.ld,
                0.0f, p, Tk);
    for (int64_t r = 0; r < Tq; r++) masked_softmax(p + r * Tk, a->keep ? a->keep + b * Tk : NULL, Tk);
    graft_sgemm(false, false, Tq, a->Dv, Tk, 1.0f, p, Tk, head_at(&a->v, b, h), a->v.ld, 0.0f,
                head_at(&a->out, b, h), a->out.ld);
}

static void backward_head(const attention_args *a, int64_t i) {
    int64_t b = i / a->H, h = i % a->H, Tq = a->Tq, Tk = a->Tk;
    const float *p = a->probs + i * Tq * Tk;
    const float *go = head_at(&a->g, b, h);
    if (a->want_v)   /* dV = P^T dO */
        graft_sgemm(true, false, Tk, a->Dv, Tq, 1.0f, p, Tk, go, a->g.ld, 0.0f, head_at(&a->gv, b, h), a->gv.ld);
    if (!a->ds) return;
    /* dP = dO V^T, then the softmax's backward: dS = P * (dP - rowsum(dP * P)) */
    float *s = a->ds + i * Tq * Tk;
    graft_sgemm(false, true, Tq, Tk, a->Dv, 1.0f, go, a->g.ld, head_at(&a->v, b, h), a->v.ld, 0.0f, s, Tk);
    for (int64_t r = 0; r < Tq; r++) {
        float *sr = s + r * Tk;
        const float *pr = p + r * Tk;
        double dot = 0;
        for (int64_t j = 0; j < Tk; j++) dot += (double)sr[j] * pr[j];
        for (int64_t j = 0; j < Tk; j++) sr[j] = pr[j] * (sr[j] - (float)dot);
    }
    if (a->want_q)   /* dQ = scale dS K */
        graft_sgemm(false, false, Tq, a->D, Tk, a->scale, s, Tk, head_at(&a->k, b, h), a->k.ld, 0.0f,
                    head_at(&a->gq, b, h), a->gq.ld);
    if (a->want_k)   /* dK = scale dS^T Q */
        graft_sgemm(true, false, Tk, a->D, Tq, a->scale, s, Tk, head_at(&a->q, b, h), a->q.ld, 0.0f,
                    head_at(&a->gk, b, h), a->gk.ld);
}

/* Runs each (batch, head) pair: in parallel when there are several and work enough, each
 * with single-threaded BLAS; else one after another, BLAS threading each product. */
static void for_each_head(void (*run)(const attention_args *, int64_t), const attention_args *a,
                          int64_t count, int64_t work) {
    int nt = count > 1 ? graft_threads_for(work) : 1;
    if (nt > 1) {
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t i = 0; i < count; i++) run(a, i);
        return;
    }
    for (int64_t i = 0; i < count; i++) run(a, i);
}

graft_status graft_attention(graft_ctx *ctx, graft_tensor *out, graft_tensor *probs,
                             const graft_tensor *q, const graft_tensor *k, const graft_tensor *v,
                             const graft_tensor *mask, float scale, graft_error *err) {
    graft_status st = check_shapes(q, k, v, mask, err);
    if (st != GRAFT_OK) return st;
    int64_t B = q->size[0], H = q->size[1], Tq = q->size[2], D = q->size[3], Tk = k->size[2], Dv = v->size[3];
    graft_tensor cq, ck, cv, cm;
    graft_tensor_init_empty(&ck), graft_tensor_init_empty(&cv), graft_tensor_init_empty(&cm);
    st = readable(ctx, &cq, q, err);
    if (st == GRAFT_OK) st = readable(ctx, &ck, k, err);
    if (st == GRAFT_OK) st = readable(ctx, &cv, v, err);
    if (st == GRAFT_OK && mask) st = graft_contiguous_as(ctx, &cm, mask, GRAFT_F32, err);
    int64_t osize[4] = {B, H, Tq, Dv}, psize[4] = {B, H, Tq, Tk};
    if (st == GRAFT_OK) st = alloc_heads(ctx, out, osize, err);
    if (st == GRAFT_OK) st = graft_tensor_alloc(probs, ctx, GRAFT_F32, 4, psize, err);
    if (st == GRAFT_OK) {
        attention_args a = {.H = H, .Tq = Tq, .Tk = Tk, .D = D, .Dv = Dv, .scale = scale,
                            .q = heads_of(&cq), .k = heads_of(&ck), .v = heads_of(&cv), .out = heads_of(out),
                            .keep = mask ? graft_tensor_data(&cm) : NULL, .probs = graft_tensor_data(probs)};
        for_each_head(forward_head, &a, B * H, B * H * Tq * Tk * (D + Dv));
    } else {
        graft_tensor_release(out);
        graft_tensor_release(probs);
    }
    graft_tensor_release(&cq), graft_tensor_release(&ck), graft_tensor_release(&cv), graft_tensor_release(&cm);
    return st;
}

graft_status graft_attention_grad(graft_ctx *ctx, graft_tensor *gq, graft_tensor *gk,
                                  graft_tensor *gv, const graft_tensor *g,
                                  const graft_tensor *probs, const graft_tensor *q,
                                  const graft_tensor *k, const graft_tensor *v, float scale,
                                  graft_error *err) {
    graft_status st = check_shapes(q, k, v, NULL, err);
    if (st != GRAFT_OK) return st;
    int64_t B = q->size[0], H = q->size[1], Tq = q->size[2], D = q->size[3], Tk = k->size[2], Dv = v->size[3];
    char buf[96];
    int64_t osize[4] = {B, H, Tq, Dv}, psize[4] = {B, H, Tq, Tk};
    if (g->dtype != GRAFT_F32 || !has_shape(g, osize))
        return graft_error_set(err, GRAFT_EINVAL, "the gradient must be f32 %s like the output",
                               graft_shape_str(buf, sizeof buf, 4, osize));
    if (probs->dtype != GRAFT_F32 || !graft_tensor_is_contiguous(probs) || !has_shape(probs, psize))
        return graft_error_set(err, GRAFT_EINVAL, "probs must be the forward's %s",
                               graft_shape_str(buf, sizeof buf, 4, psize));
    graft_tensor cq, ck, cv, cg, ds;
    graft_tensor_init_empty(&ck), graft_tensor_init_empty(&cv), graft_tensor_init_empty(&cg);
    graft_tensor_init_empty(&ds);
    st = readable(ctx, &cq, q, err);
    if (st == GRAFT_OK) st = readable(ctx, &ck, k, err);
    if (st == GRAFT_OK) st = readable(ctx, &cv, v, err);
    if (st == GRAFT_OK) st = readable(ctx, &cg, g, err);
    if (st == GRAFT_OK && (gq || gk)) st = graft_tensor_alloc(&ds, ctx, GRAFT_F32, 4, psize, err);
    int64_t qsize[4] = {B, H, Tq, D}, ksize[4] = {B, H, Tk, D}, vsize[4] = {B, H, Tk, Dv};
    if (st == GRAFT_OK && gq) st = alloc_heads(ctx, gq, qsize, err);
    if (st == GRAFT_OK && gk) st = alloc_heads(ctx, gk, ksize, err);
    if (st == GRAFT_OK && gv) st = alloc_heads(ctx, gv, vsize, err);
    if (st == GRAFT_OK) {
        attention_args a = {.H = H, .Tq = Tq, .Tk = Tk, .D = D, .Dv = Dv, .scale = scale,
                            .q = heads_of(&cq), .k = heads_of(&ck), .v = heads_of(&cv), .g = heads_of(&cg),
                            .probs = graft_tensor_data(probs), .want_q = gq != NULL, .want_k = gk != NULL,
                            .want_v = gv != NULL, .ds = (gq || gk) ? graft_tensor_data(&ds) : NULL};
        if (gq) a.gq = heads_of(gq);
        if (gk) a.gk = heads_of(gk);
        if (gv) a.gv = heads_of(gv);
        for_each_head(backward_head, &a, B * H, B * H * Tq * Tk * (2 * D + 2 * Dv));
    } else {
        if (gq) graft_tensor_release(gq);
        if (gk) graft_tensor_release(gk);
        if (gv) graft_tensor_release(gv);
    }
    graft_tensor_release(&cq), graft_tensor_release(&ck), graft_tensor_release(&cv);
    graft_tensor_release(&cg), graft_tensor_release(&ds);
    return st;
}
