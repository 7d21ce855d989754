/* matmul: shape rules, batch broadcasting, and the choice between graft's GEMM, BLAS and a
 * plain loop. */
#include "matmul.h"

#include <cblas.h>
#include <string.h>

#include "../core/threads.h"
#include "copy.h"
#include "gemm.h"

void graft_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                 float *c, int64_t ldc) {
    if (!graft_gemm_on_blas()) {
        graft_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    graft_threads_before_blas();
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n, (blasint)k, alpha,
                a, (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
}

/* How BLAS can read a (rows, cols) slice with strides (rs, cs): row-major (trans 0),
 * column-major (trans 1, i.e. the transpose of a row-major matrix), or not at all (-1). */
static int blas_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs, int64_t *ld) {
    if ((cs == 1 || cols == 1) && (rs >= (cols > 1 ? cols : 1) || rows == 1)) {
        *ld = rows == 1 ? (cols > 1 ? cols : 1) : rs;
        return 0;
    }
    if ((rs == 1 || rows == 1) && (cs >= (rows > 1 ? rows : 1) || cols == 1)) {
        *ld = cols == 1 ? (rows > 1 ? rows : 1) : cs;
        return 1;
    }
    return -1;
}

typedef struct {
    int nb;                            /* batch dims */
    int64_t bsize[GRAFT_MAX_DIMS];
    int64_t count;                     /* product of bsize */
} batch_shape;

/* Element offset of batch number i in t (whose leading dims are the batch dims, expanded). */
static int64_t batch_offset(const graft_tensor *t, const batch_shape *bs, int64_t i) {
    int64_t off = 0;
    for (int d = bs->nb - 1; d >= 0; d--) {
        off += (i % bs->bsize[d]) * t->stride[d];
        i /= bs->bsize[d];
    }
    return off;
}

static void matmul_f32(const graft_tensor *y, const graft_tensor *a, const graft_tensor *b,
                       const batch_shape *bs, int64_t n, int64_t k, int64_t m) {
    int nb = bs->nb;
    int64_t lda, ldb;
    int ta = blas_layout(n, k, a->stride[nb], a->stride[nb + 1], &lda);
    int tb = blas_layout(k, m, b->stride[nb], b->stride[nb + 1], &ldb);
    const float *pa = graft_tensor_data(a), *pb = graft_tensor_data(b);
    float *py = graft_tensor_data(y);
    int64_t ldy = m > 1 ? m : 1;
    /* Many small products: one product per thread, each a single-threaded BLAS call.
     * Otherwise no parallel region at all: OpenBLAS runs on one thread inside any region,
     * even a region of one thread. */
    int nt = bs->count > 1 && n * m * k < (1 << 18) ? graft_threads_for(bs->count * n * m * k) : 1;
    if (nt > 1) {
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t i = 0; i < bs->count; i++)
            graft_sgemm(ta, tb, n, m, k, 1.0f, pa + batch_offset(a, bs, i), lda,
                        pb + batch_offset(b, bs, i), ldb, 0.0f, py + i * n * m, ldy);
        return;
    }
    for (int64_t i = 0; i < bs->count; i++)
        graft_sgemm(ta, tb, n, m, k, 1.0f, pa + batch_offset(a, bs, i), lda,
                    pb + batch_offset(b, bs, i), ldb, 0.0f, py + i * n * m, ldy);
}

static void matmul_i64(const graft_tensor *y, const graft_tensor *a, const graft_tensor *b,
                       const batch_shape *bs, int64_t n, int64_t k, int64_t m) {
    int nb = bs->nb;
    const int64_t *pa = graft_tensor_data(a), *pb = graft_tensor_data(b);
    uint64_t *py = graft_tensor_data(y);                 /* unsigned: wraps, defined */
    for (int64_t i = 0; i < bs->count; i++) {
        const int64_t *ai = pa + batch_offset(a, bs, i), *bi = pb + batch_offset(b, bs, i);
        uint64_t *yi = py + i * n * m;
        for (int64_t r = 0; r < n; r++)
            for (int64_t c = 0; c < m; c++) {
                uint64_t acc = 0;
                for (int64_t j = 0; j < k; j++)
                    acc += (uint64_t)ai[r * a->stride[nb] + j * a->stride[nb + 1]] *
                           (uint64_t)bi[j * b->stride[nb] + c * b->stride[nb + 1]];
                yi[r * m + c] = acc;
            }
    }
}

graft_status graft_matmul(graft_ctx *ctx, graft_tensor *out, const graft_tensor *a,
                          const graft_tensor *b, graft_error *err) {
    char ba[128], bb[128];
    if (a->ndim == 0 || b->ndim == 0)
        return graft_error_set(err, GRAFT_EINVAL, "both operands need at least 1 dim "
                               "(got %s and %s)", graft_shape_str(ba, sizeof ba, a->ndim, a->size),
                               graft_shape_str(bb, sizeof bb, b->ndim, b->size));
    /* Work on header copies made at least 2-D: a vector a is (1, k), a vector b is (k, 1). */
    graft_tensor a2 = *a, b2 = *b;
    if (a->ndim == 1) graft_view_unsqueeze(&a2, 0, NULL);
    if (b->ndim == 1) graft_view_unsqueeze(&b2, 1, NULL);
    int64_t n = a2.size[a2.ndim - 2], k = a2.size[a2.ndim - 1];
    int64_t k2 = b2.size[b2.ndim - 2], m = b2.size[b2.ndim - 1];
    if (k != k2)
        return graft_error_set(err, GRAFT_EINVAL,
                               "inner dims differ: %s @ %s (%lld vs %lld)",
                               graft_shape_str(ba, sizeof ba, a->ndim, a->size),
                               graft_shape_str(bb, sizeof bb, b->ndim, b->size), (long long)k,
                               (long long)k2);
    batch_shape bs;
    graft_status st = graft_shape_broadcast(a2.ndim - 2, a2.size, b2.ndim - 2, b2.size,
                                            &bs.nb, bs.bsize, err);
    if (st != GRAFT_OK) return st;
    if (bs.nb + 2 > GRAFT_MAX_DIMS)
        return graft_error_set(err, GRAFT_EINVAL, "too many batch dims");
    bs.count = graft_shape_numel(bs.nb, bs.bsize);

    int64_t ysize[GRAFT_MAX_DIMS], full[GRAFT_MAX_DIMS];
    memcpy(full, bs.bsize, sizeof(int64_t) * (size_t)bs.nb);
    int ynd = bs.nb;
    memcpy(ysize, bs.bsize, sizeof(int64_t) * (size_t)bs.nb);
    if (a->ndim > 1) ysize[ynd++] = n;
    if (b->ndim > 1) ysize[ynd++] = m;

    graft_dtype dt = graft_dtype_promote(a->dtype, b->dtype);
    graft_dtype ct = dt == GRAFT_F32 ? GRAFT_F32 : GRAFT_I64;
    graft_tensor ca, cb;
    graft_tensor_init_empty(&ca);
    graft_tensor_init_empty(&cb);
    /* Expand batch dims (stride 0 where broadcast), then fix up layouts BLAS cannot read. */
    full[bs.nb] = n, full[bs.nb + 1] = k;
    graft_view_expand(&a2, bs.nb + 2, full, NULL);
    full[bs.nb] = k, full[bs.nb + 1] = m;
    graft_view_expand(&b2, bs.nb + 2, full, NULL);
    int64_t ld;
    if (a2.dtype != ct || (ct == GRAFT_F32 && blas_layout(n, k, a2.stride[bs.nb], a2.stride[bs.nb + 1], &ld) < 0)) {
        st = graft_clone_as(ctx, &ca, &a2, ct, err);
        a2 = ca;
    }
    if (st == GRAFT_OK && (b2.dtype != ct || (ct == GRAFT_F32 && blas_layout(k, m, b2.stride[bs.nb], b2.stride[bs.nb + 1], &ld) < 0))) {
        st = graft_clone_as(ctx, &cb, &b2, ct, err);
        b2 = cb;
    }
    graft_tensor y;
    graft_tensor_init_empty(&y);
    if (st == GRAFT_OK) st = graft_tensor_alloc(&y, ctx, ct, ynd, ysize, err);
    if (st == GRAFT_OK) {
        if (k == 0 || bs.count * n * m == 0)
            memset(graft_tensor_data(&y), 0, graft_tensor_nbytes(&y));
        else if (ct == GRAFT_F32)
            matmul_f32(&y, &a2, &b2, &bs, n, k, m);
        else
            matmul_i64(&y, &a2, &b2, &bs, n, k, m);
        if (dt == GRAFT_U8) {   /* u8 @ u8 stays u8, wrapping, as in PyTorch */
            st = graft_clone_as(ctx, out, &y, GRAFT_U8, err);
            graft_tensor_release(&y);
        } else {
            *out = y;
        }
    }
    graft_tensor_release(&ca);
    graft_tensor_release(&cb);
    return st;
}
