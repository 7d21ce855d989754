/* Image files: PNG (libpng) and JPEG (libjpeg-turbo) decoded by content, and PNG written.
 * Decoding never prints and never exits: both libraries' error paths are routed into
 * graft_error. Safe to call from several threads at once (no shared state). */
#ifndef GRAFT_IO_IMAGE_H
#define GRAFT_IO_IMAGE_H

#include <stdint.h>

#include "../core/tensor.h"

/* PIL's decompression-bomb threshold (2 x 89,478,485 pixels). */
#define GRAFT_IMAGE_MAX_PIXELS 178956970LL
/* Encoded files larger than this are refused before being read. */
#define GRAFT_IMAGE_MAX_FILE_BYTES ((size_t)1 << 30)

/* Decoded samples, interleaved (row-major H x W x channels). */
typedef struct {
    int width, height;
    int channels;        /* 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA */
    int depth;           /* 8 (uint8_t samples) or 16 (uint16_t, native order) */
    void *pixels;        /* malloc'd; NULL when empty */
} graft_image;

/* "png" or "jpeg" from a file's first bytes (8 are enough), or NULL. */
const char *graft_image_format(const unsigned char *head, size_t n);

/* Decodes the PNG or JPEG in data (buffers allocated through ctx's fault hook, core/alloc.h;
 * ctx may be NULL) (the format found from its first bytes). Images of
 * more than max_pixels pixels are refused before their pixels are allocated. `name`
 * (the file) starts every message. On failure img is empty. */
graft_status graft_image_decode(graft_ctx *ctx, const unsigned char *data, size_t len, const char *name,
                                int64_t max_pixels, graft_image *img, graft_error *err);
/* graft_image_decode on the contents of path. */
graft_status graft_image_read(graft_ctx *ctx, const char *path, int64_t max_pixels, graft_image *img, graft_error *err);
void graft_image_free(graft_image *img);

/* Writes img's samples as f32 {C, H, W} in [0, 1] into out (C*H*W floats), converting to
 * `channels` (0 keeps the file's): gray is replicated to RGB, alpha dropped (or made opaque
 * when added), RGB becomes gray by ITU-R 601-2 luma. */
graft_status graft_image_to_f32(const graft_image *img, int channels, float *out, graft_error *err);
/* graft_image_read + graft_image_to_f32 into a new tensor (out empty). */
graft_status graft_image_load(graft_ctx *ctx, graft_tensor *out, const char *path, int channels,
                              int64_t max_pixels, graft_error *err);

/* Writes t (f32 {C, H, W}, C = 1, 3 or 4, values clamped to [0, 1]) as an 8-bit PNG,
 * atomically. */
graft_status graft_image_save_png(const char *path, const graft_tensor *t, graft_error *err);

/* The two codecs behind graft_image_decode (image_png.c, image_jpeg.c). */
graft_status graft_png_decode(graft_ctx *ctx, const unsigned char *data, size_t len, const char *name,
                              int64_t max_pixels, graft_image *img, graft_error *err);
graft_status graft_jpeg_decode(graft_ctx *ctx, const unsigned char *data, size_t len, const char *name,
                               int64_t max_pixels, graft_image *img, graft_error *err);

#endif
