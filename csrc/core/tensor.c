/* Storage lifetime, shape arithmetic and header-only views. */
#include "tensor.h"

#include "alloc.h"
#include "pages.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct graft_storage {
    atomic_long refs;
    atomic_ulong version; /* in-place writes so far (see graft_tensor_mark_written) */
    size_t nbytes;       /* the buffer's bytes: the request rounded up to 64, or to whole pages */
    graft_ctx *ctx;      /* whose accounting this storage is in; may be NULL */
    void *data;
};

void graft_tensor_init_empty(graft_tensor *t) {
    memset(t, 0, sizeof *t);
}

int64_t graft_shape_numel(int ndim, const int64_t *size) {
    /* The product of the nonzero sizes must fit even when a zero size empties the tensor:
     * strides are computed from it (a fuzzed IDX header {0, 2^32, 2^32} overflowed them). */
    int64_t n = 1;
    bool empty = false;
    for (int i = 0; i < ndim; i++) {
        if (size[i] < 0) return -1;
        if (size[i] == 0) empty = true;
        else if (n > INT64_MAX / size[i]) return -1;
        else n *= size[i];
    }
    return empty ? 0 : n;
}

void graft_shape_contiguous_strides(int ndim, const int64_t *size, int64_t *stride) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        stride[i] = s;
        s *= size[i] > 1 ? size[i] : 1;
    }
}

const char *graft_shape_str(char *buf, size_t n, int ndim, const int64_t *size) {
    size_t used = 0;
    used += (size_t)snprintf(buf, n, "{");
    for (int i = 0; i < ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, i ? ",%lld" : "%lld", (long long)size[i]);
    if (used < n) snprintf(buf + used, n - used, "}");
    return buf;
}

/* The cap covers live and cached bytes: cached blocks are memory the process holds. */
static bool over_cap(graft_ctx *ctx, size_t rounded) {
    size_t cap = atomic_load(&ctx->cap);
    if (!cap) return false;
    size_t used = atomic_load(&ctx->live_bytes) + graft_ctx_cached_bytes(ctx);
    return rounded > cap || used > cap - rounded;
}

/* Buffers of GRAFT_PAGES_MIN_BYTES and more are whole pages (see pages.h). */
static bool is_paged(size_t rounded) {
    return rounded >= GRAFT_PAGES_MIN_BYTES;
}

static void buffer_free(void *data, size_t rounded) {
    if (is_paged(rounded)) graft_pages_unmap(data, rounded);
    else free(data);
}

static graft_status storage_new(graft_storage **out, graft_ctx *ctx, size_t nbytes, bool zero,
                                graft_error *err) {
    size_t used = (nbytes + 63) & ~(size_t)63;
    if (used == 0) used = 64;
    size_t rounded = is_paged(used) ? graft_pages_round(used) : used;
    void *data = NULL;
    bool zeroed = false;   /* fresh pages come zeroed */
    if (ctx) {
        if (over_cap(ctx, rounded)) graft_ctx_flush(ctx);
        if (over_cap(ctx, rounded)) {
            size_t cap = atomic_load(&ctx->cap);
            return graft_error_set(err, GRAFT_ENOMEM,
                                   "memory limit: %zu more bytes would exceed the cap of %zu "
                                   "(%zu in use)", rounded, cap, atomic_load(&ctx->live_bytes));
        }
        if (is_paged(rounded)) data = graft_ctx_take_block(ctx, rounded);
    }
    graft_storage *s = graft_malloc(ctx, sizeof *s);
    for (int attempt = 0; attempt < 2 && (!s || !data); attempt++) {
        if (attempt) {   /* cached blocks may be what is missing */
            if (!ctx) break;
            graft_ctx_flush(ctx);
        }
        if (!s) s = graft_malloc(ctx, sizeof *s);
        if (!data && !GRAFT_ALLOC_FAILS(ctx)) {
            data = is_paged(rounded) ? graft_pages_map(rounded) : aligned_alloc(64, rounded);
            zeroed = is_paged(rounded);
        }
    }
    if (!s || !data) {
        free(s);
        if (data) buffer_free(data, rounded);
        return graft_error_set(err, GRAFT_ENOMEM, "out of memory allocating %zu bytes", rounded);
    }
    if (zero && !zeroed) memset(data, 0, used);
    if (is_paged(rounded)) graft_pages_hide((char *)data + used, rounded - used);
    atomic_init(&s->refs, 1);
    atomic_init(&s->version, 0);
    s->nbytes = rounded;
    s->ctx = ctx;
    s->data = data;
    if (ctx) {
        size_t live = atomic_fetch_add(&ctx->live_bytes, rounded) + rounded;
        atomic_fetch_add(&ctx->debt, rounded);
        size_t peak = atomic_load(&ctx->peak_bytes);
        while (live > peak && !atomic_compare_exchange_weak(&ctx->peak_bytes, &peak, live)) {
        }
    }
    *out = s;
    return GRAFT_OK;
}

static graft_status alloc_impl(graft_tensor *t, graft_ctx *ctx, graft_dtype dt, int ndim,
                               const int64_t *size, bool zero, graft_error *err) {
    char buf[128];
    graft_tensor_init_empty(t);   /* empty on every failure below, so releasing it is safe */
    if (ndim < 0 || ndim > GRAFT_MAX_DIMS)
        return graft_error_set(err, GRAFT_EINVAL, "a tensor has at most %d dims, not %d",
                               GRAFT_MAX_DIMS, ndim);
    int64_t numel = graft_shape_numel(ndim, size);
    size_t es = graft_dtype_size(dt);
    if (numel < 0 || (uint64_t)numel > (SIZE_MAX - 64) / es || (uint64_t)numel > INT64_MAX / es)
        return graft_error_set(err, GRAFT_EINVAL, "invalid size %s (negative or too large)",
                               graft_shape_str(buf, sizeof buf, ndim, size));
    graft_storage *s = NULL;
    graft_status st = storage_new(&s, ctx, (size_t)numel * es, zero, err);
    if (st != GRAFT_OK) return st;
    t->storage = s;
    t->dtype = dt;
    t->ndim = ndim;
    if (ndim > 0) memcpy(t->size, size, sizeof(int64_t) * (size_t)ndim);   /* size may be NULL */
    graft_shape_contiguous_strides(ndim, t->size, t->stride);
    return GRAFT_OK;
}

graft_status graft_tensor_alloc(graft_tensor *t, graft_ctx *ctx, graft_dtype dt, int ndim,
                                const int64_t *size, graft_error *err) {
    return alloc_impl(t, ctx, dt, ndim, size, false, err);
}

graft_status graft_tensor_alloc_zeros(graft_tensor *t, graft_ctx *ctx, graft_dtype dt,
                                      int ndim, const int64_t *size, graft_error *err) {
    return alloc_impl(t, ctx, dt, ndim, size, true, err);
}

void graft_tensor_release(graft_tensor *t) {
    graft_storage *s = t->storage;
    t->storage = NULL;
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
    if (s->ctx) atomic_fetch_sub(&s->ctx->live_bytes, s->nbytes);
    if (s->ctx && is_paged(s->nbytes)) graft_ctx_give_block(s->ctx, s->data, s->nbytes);
    else buffer_free(s->data, s->nbytes);
    free(s);
}

void graft_tensor_share(graft_tensor *dst, const graft_tensor *src) {
    *dst = *src;
    if (src->storage) atomic_fetch_add(&src->storage->refs, 1);
}

uint64_t graft_tensor_version(const graft_tensor *t) {
    return t->storage ? atomic_load(&t->storage->version) : 0;
}

void graft_tensor_mark_written(const graft_tensor *t) {
    if (t->storage) atomic_fetch_add(&t->storage->version, 1);
}

int64_t graft_tensor_numel(const graft_tensor *t) {
    return graft_shape_numel(t->ndim, t->size);
}

size_t graft_tensor_nbytes(const graft_tensor *t) {
    return (size_t)graft_tensor_numel(t) * graft_dtype_size(t->dtype);
}

bool graft_tensor_is_contiguous(const graft_tensor *t) {
    int64_t expect = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->size[i] == 0) return true;
        if (t->size[i] != 1 && t->stride[i] != expect) return false;
        expect *= t->size[i];
    }
    return true;
}

void *graft_tensor_data(const graft_tensor *t) {
    if (!t->storage) return NULL;
    return (char *)t->storage->data + t->offset * (int64_t)graft_dtype_size(t->dtype);
}

bool graft_tensor_same_shape(const graft_tensor *a, const graft_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->size[i] != b->size[i]) return false;
    return true;
}

graft_status graft_shape_broadcast(int na, const int64_t *a, int nb,
                                   const int64_t *b, int *out_ndim, int64_t *out,
                                   graft_error *err) {
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int ia = na - n + i, ib = nb - n + i;
        int64_t sa = ia >= 0 ? a[ia] : 1, sb = ib >= 0 ? b[ib] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            char ba[128], bb[128];
            return graft_error_set(err, GRAFT_EINVAL,
                                   "shapes %s and %s cannot be broadcast (dim %d: %lld vs %lld)",
                                   graft_shape_str(ba, sizeof ba, na, a),
                                   graft_shape_str(bb, sizeof bb, nb, b), i + 1,
                                   (long long)sa, (long long)sb);
        }
        out[i] = sa == 1 ? sb : sa;
    }
    *out_ndim = n;
    return GRAFT_OK;
}

graft_status graft_view_expand(graft_tensor *t, int ndim, const int64_t *size, graft_error *err) {
    char bt[128], bs[128];
    if (ndim < t->ndim || ndim > GRAFT_MAX_DIMS)
        return graft_error_set(err, GRAFT_EINVAL, "cannot expand %s to %s",
                               graft_shape_str(bt, sizeof bt, t->ndim, t->size),
                               graft_shape_str(bs, sizeof bs, ndim, size));
    int64_t nsize[GRAFT_MAX_DIMS], nstride[GRAFT_MAX_DIMS];
    int lead = ndim - t->ndim;
    for (int i = 0; i < ndim; i++) {
        int64_t have = i < lead ? 1 : t->size[i - lead];
        int64_t hs = i < lead ? 0 : t->stride[i - lead];
        int64_t want = size[i] == -1 ? have : size[i];
        if (have == want) {
            nsize[i] = have;
            nstride[i] = hs;
        } else if (have == 1 && want >= 0) {
            nsize[i] = want;
            nstride[i] = 0;
        } else {
            return graft_error_set(err, GRAFT_EINVAL,
                                   "cannot expand %s to %s (dim %d: %lld to %lld)",
                                   graft_shape_str(bt, sizeof bt, t->ndim, t->size),
                                   graft_shape_str(bs, sizeof bs, ndim, size), i + 1,
                                   (long long)have, (long long)want);
        }
    }
    t->ndim = ndim;
    memcpy(t->size, nsize, sizeof nsize);
    memcpy(t->stride, nstride, sizeof nstride);
    return GRAFT_OK;
}

void graft_view_transpose(graft_tensor *t, int d1, int d2) {
    int64_t s = t->size[d1], st = t->stride[d1];
    t->size[d1] = t->size[d2];
    t->stride[d1] = t->stride[d2];
    t->size[d2] = s;
    t->stride[d2] = st;
}

graft_status graft_view_permute(graft_tensor *t, const int *perm, graft_error *err) {
    int seen[GRAFT_MAX_DIMS] = {0};
    int64_t size[GRAFT_MAX_DIMS], stride[GRAFT_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++) {
        int p = perm[i];
        if (p < 0 || p >= t->ndim || seen[p]++)
            return graft_error_set(err, GRAFT_EINVAL,
                                   "dims must be a permutation of 1..%d", t->ndim);
        size[i] = t->size[p];
        stride[i] = t->stride[p];
    }
    memcpy(t->size, size, sizeof size);
    memcpy(t->stride, stride, sizeof stride);
    return GRAFT_OK;
}

graft_status graft_view_narrow(graft_tensor *t, int dim, int64_t start, int64_t len,
                               graft_error *err) {
    if (start < 0 || len < 0 || start > t->size[dim] || len > t->size[dim] - start)
        return graft_error_set(err, GRAFT_EINVAL,
                               "start %lld and length %lld do not fit in dim %d of size %lld",
                               (long long)start + 1, (long long)len, dim + 1,
                               (long long)t->size[dim]);
    t->offset += start * t->stride[dim];
    t->size[dim] = len;
    return GRAFT_OK;
}

void graft_view_select(graft_tensor *t, int dim, int64_t index) {
    t->offset += index * t->stride[dim];
    for (int i = dim; i < t->ndim - 1; i++) {
        t->size[i] = t->size[i + 1];
        t->stride[i] = t->stride[i + 1];
    }
    t->ndim--;
}

graft_status graft_view_unsqueeze(graft_tensor *t, int dim, graft_error *err) {
    if (t->ndim >= GRAFT_MAX_DIMS)
        return graft_error_set(err, GRAFT_EINVAL, "a tensor has at most %d dims",
                               GRAFT_MAX_DIMS);
    for (int i = t->ndim; i > dim; i--) {
        t->size[i] = t->size[i - 1];
        t->stride[i] = t->stride[i - 1];
    }
    t->size[dim] = 1;
    t->stride[dim] = dim < t->ndim ? t->size[dim + 1] * t->stride[dim + 1] : 1;
    t->ndim++;
    return GRAFT_OK;
}

void graft_view_squeeze(graft_tensor *t, int dim) {
    int j = 0;
    for (int i = 0; i < t->ndim; i++) {
        bool drop = t->size[i] == 1 && (dim < 0 || dim == i);
        if (drop) continue;
        t->size[j] = t->size[i];
        t->stride[j] = t->stride[i];
        j++;
    }
    t->ndim = j;
}

graft_status graft_view_reshape(graft_tensor *t, int ndim, const int64_t *size, graft_error *err) {
    char bt[128], bs[128];
    int64_t numel = graft_tensor_numel(t);
    if (ndim > GRAFT_MAX_DIMS || graft_shape_numel(ndim, size) != numel)
        return graft_error_set(err, GRAFT_EINVAL, "shape %s is invalid for %s (%lld elements)",
                               graft_shape_str(bs, sizeof bs, ndim, size),
                               graft_shape_str(bt, sizeof bt, t->ndim, t->size), (long long)numel);
    int64_t stride[GRAFT_MAX_DIMS];
    if (numel == 0 || t->ndim == 0) {
        graft_shape_contiguous_strides(ndim, size, stride);
    } else {
        /* Walk the old dims from the innermost, grouping runs that are contiguous with
         * each other into chunks; each chunk must map onto whole new dims. */
        int vd = ndim - 1;
        int64_t base = t->stride[t->ndim - 1], tn = 1, vn = 1;
        for (int td = t->ndim - 1; td >= 0; td--) {
            tn *= t->size[td];
            if (td == 0 || (t->size[td - 1] != 1 && t->stride[td - 1] != tn * base)) {
                while (vd >= 0 && (vn < tn || size[vd] == 1)) {
                    stride[vd] = vn * base;
                    vn *= size[vd];
                    vd--;
                }
                if (vn != tn) goto incompatible;
                if (td > 0) {
                    base = t->stride[td - 1];
                    tn = vn = 1;
                }
            }
        }
        if (vd != -1) goto incompatible;
    }
    t->ndim = ndim;
    memcpy(t->size, size, sizeof(int64_t) * (size_t)ndim);
    memcpy(t->stride, stride, sizeof(int64_t) * (size_t)ndim);
    return GRAFT_OK;
incompatible:
    return graft_error_set(err, GRAFT_EINVAL,
                           "size %s is not compatible with the strides of %s "
                           "(use reshape, or contiguous() first)",
                           graft_shape_str(bs, sizeof bs, ndim, size),
                           graft_shape_str(bt, sizeof bt, t->ndim, t->size));
}
