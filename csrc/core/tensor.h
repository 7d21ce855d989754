/* Tensors: a header (dtype, shape, strides, offset) over refcounted, 64-byte-aligned
 * storage. A view is a new header retaining the same storage; the last release frees it.
 * Sizes and strides count elements; dims are 0-based here (the binding converts). */
#ifndef GRAFT_TENSOR_H
#define GRAFT_TENSOR_H

#include <stdbool.h>
#include <stdint.h>

#include "ctx.h"
#include "dtype.h"
#include "error.h"

#define GRAFT_MAX_DIMS 8

typedef struct graft_storage graft_storage;

typedef struct {
    graft_storage *storage;           /* NULL: an empty header that owns nothing */
    graft_dtype dtype;
    int ndim;                         /* 0 = a scalar with one element */
    int64_t offset;                   /* into storage, in elements */
    int64_t size[GRAFT_MAX_DIMS];
    int64_t stride[GRAFT_MAX_DIMS];
} graft_tensor;

/* Makes t an empty header: releasing it is a no-op. */
void graft_tensor_init_empty(graft_tensor *t);

/* Allocates fresh contiguous storage for t, which must hold no storage (contents
 * uninitialised). Fails on a bad rank or size, an element count or byte size that
 * overflows, the ctx's memory cap, or malloc failure; t is an empty header then (also when
 * it was uninitialised memory). ctx may be NULL (no accounting). */
graft_status graft_tensor_alloc(graft_tensor *t, graft_ctx *ctx, graft_dtype dt, int ndim,
                                const int64_t *size, graft_error *err);
/* As graft_tensor_alloc, with every byte zero. */
graft_status graft_tensor_alloc_zeros(graft_tensor *t, graft_ctx *ctx, graft_dtype dt,
                                      int ndim, const int64_t *size, graft_error *err);
/* Drops t's reference to its storage (freeing it if last) and leaves t empty. Idempotent. */
void graft_tensor_release(graft_tensor *t);
/* Makes the empty dst a view of src: same header, one more reference to the storage. */
void graft_tensor_share(graft_tensor *dst, const graft_tensor *src);

/* A storage's version counts the in-place writes to it through any view (PyTorch's
 * _version), so what is derived from a tensor (a folded or transformed weight) can be
 * kept until it changes. Whoever writes into an existing tensor marks it: in graft, the
 * binding's in-place functions; kernels writing fresh outputs need not. */
uint64_t graft_tensor_version(const graft_tensor *t);
void graft_tensor_mark_written(const graft_tensor *t);

int64_t graft_tensor_numel(const graft_tensor *t);
size_t graft_tensor_nbytes(const graft_tensor *t);   /* numel * element size */
bool graft_tensor_is_contiguous(const graft_tensor *t);
void *graft_tensor_data(const graft_tensor *t);      /* address of the first element */
bool graft_tensor_same_shape(const graft_tensor *a, const graft_tensor *b);
/* Writes "{2,3,4}" into buf (truncated to fit); returns buf, for error messages. */
const char *graft_shape_str(char *buf, size_t n, int ndim, const int64_t *size);

/* n elements of product of size[0..ndim), or -1 if a size is negative or it overflows. */
int64_t graft_shape_numel(int ndim, const int64_t *size);
/* Fills row-major strides for size. */
void graft_shape_contiguous_strides(int ndim, const int64_t *size, int64_t *stride);
/* The broadcast of two shapes (NumPy rules) into out/out_ndim; fails naming both shapes. */
graft_status graft_shape_broadcast(int na, const int64_t *a, int nb,
                                   const int64_t *b, int *out_ndim, int64_t *out,
                                   graft_error *err);

/* Header-only views. t is modified in place; dims are 0-based and already in range. */
graft_status graft_view_expand(graft_tensor *t, int ndim, const int64_t *size, graft_error *err);
void graft_view_transpose(graft_tensor *t, int d1, int d2);
graft_status graft_view_permute(graft_tensor *t, const int *perm, graft_error *err);
graft_status graft_view_narrow(graft_tensor *t, int dim, int64_t start, int64_t len,
                               graft_error *err);
void graft_view_select(graft_tensor *t, int dim, int64_t index);
graft_status graft_view_unsqueeze(graft_tensor *t, int dim, graft_error *err);
void graft_view_squeeze(graft_tensor *t, int dim);   /* dim < 0: every size-1 dim */
/* Reinterprets t with a new shape without copying, if its strides allow it (PyTorch's
 * view rule); returns GRAFT_EINVAL with a message otherwise. size has no -1 left. */
graft_status graft_view_reshape(graft_tensor *t, int ndim, const int64_t *size, graft_error *err);

#endif
