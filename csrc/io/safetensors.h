/* safetensors: a validating reader and an atomic writer.
 * Reading is two steps: graft_st_open parses and checks the whole header (sizes, offsets,
 * dtypes, duplicates) before any tensor memory is allocated; graft_st_read then reads one
 * tensor, converting it to graft's dtype (floats -> f32, integers -> i64, U8/BOOL -> u8). */
#ifndef GRAFT_IO_SAFETENSORS_H
#define GRAFT_IO_SAFETENSORS_H

#include <stdint.h>

#include "../core/tensor.h"

#define GRAFT_ST_MAX_HEADER 100000000ULL   /* as the reference reader: 100 MB */

typedef struct {
    char *name;
    int dtype;                 /* index into the file dtype table (safetensors.c) */
    int ndim;
    int64_t shape[GRAFT_MAX_DIMS];
    uint64_t begin, end;       /* relative to the start of the data section */
} graft_st_entry;

typedef struct {
    int fd;                    /* -1 when closed */
    const char *path;          /* borrowed; for messages */
    uint64_t data_start;       /* 8 + header length */
    int n;                     /* tensors, in header order */
    graft_st_entry *entries;
    int nmeta;                 /* __metadata__ string pairs */
    char **meta_keys, **meta_values;
    graft_ctx *ctx;            /* allocations go through its fault hook (core/alloc.h); may be NULL */
} graft_st_file;

/* Zeroes f so graft_st_close on it is safe; then opens and validates path. On failure f
 * holds nothing (closed) and err names the file and the problem. */
graft_status graft_st_open(graft_st_file *f, graft_ctx *ctx, const char *path, graft_error *err);
/* Reads entry i into the empty header out (allocated through ctx). */
graft_status graft_st_read(graft_st_file *f, int i, graft_ctx *ctx, graft_tensor *out,
                           graft_error *err);
const char *graft_st_dtype_name(int dtype);
/* Releases everything f holds. Idempotent. */
void graft_st_close(graft_st_file *f);

/* Reads n elements of the file dtype named dtype (safetensors' names: "F32", "I64", ...) at
 * byte offset of path into out (empty; 1-D, converted as graft_st_read does). The region must
 * lie inside the file. For other containers of raw tensor data (torch's .pth zip). */
graft_status graft_st_read_raw(graft_ctx *ctx, graft_tensor *out, const char *path, uint64_t offset,
                               const char *dtype, int64_t n, graft_error *err);

/* Writes n contiguous tensors and nmeta metadata pairs to path atomically: a temporary file
 * in the same directory, synced, then renamed over path. Tensors are laid out as the
 * reference writer does (by alignment descending, then name); the header is padded with
 * spaces to a multiple of 8. Names must be distinct. */
graft_status graft_st_write(graft_ctx *ctx, const char *path, int n, const char *const *names,
                            const graft_tensor *const *tensors, int nmeta,
                            const char *const *meta_keys, const char *const *meta_values,
                            graft_error *err);

#endif
