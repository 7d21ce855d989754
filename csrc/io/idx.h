/* IDX files (the MNIST family's format), plain or gzip-compressed: two zero bytes, a type
 * code, the rank, big-endian u32 dims, then the elements, big-endian. */
#ifndef GRAFT_IO_IDX_H
#define GRAFT_IO_IDX_H

#include "../core/tensor.h"

/* Reads path into out (empty): u8 stays u8, i8/i16/i32 become i64, f32/f64 become f32.
 * The data is read before anything of its claimed size is allocated, so a header that
 * lies about its dims costs no more memory than the file holds; the data must be exactly
 * what the dims say. */
graft_status graft_idx_read(graft_ctx *ctx, graft_tensor *out, const char *path, graft_error *err);

#endif
