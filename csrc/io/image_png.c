/* PNG through libpng. libpng reports errors by longjmp from its error callback; graft's
 * callbacks copy the message into the caller's graft_error first, and drop warnings
 * (libpng would print them). Everything the jump could leave half-done lives in a struct
 * reached through a pointer, so it survives the longjmp. */
#include <png.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "file.h"
#include "../core/alloc.h"
#include "image.h"

typedef struct {
    const char *name;
    graft_error *err;
    graft_ctx *ctx;              /* decoding: libpng's memory and the pixels go through its hook */
    graft_status status;         /* what a jump returns */
    bool oom;                    /* an allocation failed: libpng's "Out of memory" is ours */
    const unsigned char *data;   /* decoding: the encoded bytes */
    size_t len, at;
    graft_atomic_file *out;      /* encoding */
    unsigned char *pixels;       /* what to free when a jump lands */
    png_bytep *rows;
} png_job;

static void on_error(png_structp png, png_const_charp msg) {
    png_job *job = png_get_error_ptr(png);
    if (job->oom) job->status = graft_error_set(job->err, GRAFT_ENOMEM, "%s: out of memory decoding the PNG", job->name);
    else graft_error_set(job->err, GRAFT_EFORMAT, "%s: bad PNG: %s", job->name, msg);
    png_longjmp(png, 1);
}

/* libpng's own allocations, through the ctx's hook (core/alloc.h). */
static png_voidp png_alloc(png_structp png, png_alloc_size_t n) {
    png_job *job = png_get_mem_ptr(png);
    void *p = graft_malloc(job->ctx, n);
    if (!p) job->oom = true;
    return p;
}

static void png_release(png_structp png, png_voidp p) {
    (void)png;
    free(p);
}

static void on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

static void read_bytes(png_structp png, png_bytep to, size_t n) {
    png_job *job = png_get_io_ptr(png);
    if (n > job->len - job->at) png_error(png, "the file is truncated");
    memcpy(to, job->data + job->at, n);
    job->at += n;
}

graft_status graft_png_decode(graft_ctx *ctx, const unsigned char *data, size_t len, const char *name,
                              int64_t max_pixels, graft_image *img, graft_error *err) {
    png_job job = {.name = name, .err = err, .ctx = ctx, .status = GRAFT_EFORMAT, .data = data, .len = len};
    png_job *volatile jp = &job;
    png_structp png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &job, on_error, on_warning, &job,
                                               png_alloc, png_release);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return graft_error_set(err, GRAFT_ENOMEM, "%s: out of memory starting libpng", name);
    }
    if (setjmp(png_jmpbuf(png))) {
        free(jp->pixels);
        free(jp->rows);
        png_destroy_read_struct(&png, &info, NULL);
        memset(img, 0, sizeof *img);
        return jp->status;
    }
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);   /* the pixel limit below is graft's */
    png_set_read_fn(png, &job, read_bytes);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int depth = png_get_bit_depth(png, info), type = png_get_color_type(png, info);
    if ((int64_t)w * h > max_pixels) {
        graft_error_set(err, GRAFT_EFORMAT, "%s: %ux%u pixels is over the limit of %lld", name, w, h,
                        (long long)max_pixels);
        png_longjmp(png, 1);
    }
    /* Palette images are read as indices and expanded below, where each index is checked
     * against the palette: libpng's own check (png_set_check_for_invalid_index) runs after
     * its palette expansion, so it never sees an index, and an index past the palette
     * would quietly read as black. */
    png_colorp palette = NULL;
    png_bytep trans = NULL;
    int npalette = 0, ntrans = 0;
    bool indexed = type == PNG_COLOR_TYPE_PALETTE;
    if (indexed) {
        if (!png_get_PLTE(png, info, &palette, &npalette)) png_error(png, "a palette image without a palette");
        if (png_get_valid(png, info, PNG_INFO_tRNS)) png_get_tRNS(png, info, &trans, &ntrans, NULL);
        if (depth < 8) png_set_packing(png);   /* one byte per index */
    }
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (!indexed && png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (depth == 16) png_set_swap(png);   /* to native (little-endian) order */
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int channels = png_get_channels(png, info), out_depth = png_get_bit_depth(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (rowbytes != (size_t)w * channels * (out_depth / 8)) png_error(png, "unexpected row layout");
    if (indexed) channels = trans ? 4 : 3;   /* as libpng's palette_to_rgb and tRNS_to_alpha */
    size_t outbytes = (size_t)w * channels * (out_depth / 8);
    job.pixels = graft_malloc(ctx, outbytes * h + 1);
    job.rows = graft_malloc(ctx, sizeof *job.rows * (h ? h : 1));
    if (!job.pixels || !job.rows) {
        job.status = graft_error_set(err, GRAFT_ENOMEM, "%s: out of memory for %ux%u pixels", name, w, h);
        png_longjmp(png, 1);
    }
    for (png_uint_32 y = 0; y < h; y++) job.rows[y] = job.pixels + y * outbytes;
    png_read_image(png, job.rows);
    png_read_end(png, NULL);
    if (indexed) {   /* each row's indices sit at its start: expand from the right, in place */
        for (png_uint_32 y = 0; y < h; y++) {
            unsigned char *row = job.rows[y];
            for (png_uint_32 x = w; x-- > 0;) {
                int i = row[x];
                if (i >= npalette) {
                    graft_error_set(err, GRAFT_EFORMAT,
                                    "%s: bad PNG: pixel (%u, %u) has palette index %d, but the palette has %d colors",
                                    name, x + 1, y + 1, i, npalette);
                    png_longjmp(png, 1);
                }
                unsigned char *o = row + (size_t)x * channels;
                if (channels == 4) o[3] = i < ntrans ? trans[i] : 255;
                o[2] = palette[i].blue;
                o[1] = palette[i].green;
                o[0] = palette[i].red;
            }
        }
    }
    png_destroy_read_struct(&png, &info, NULL);
    free(job.rows);
    *img = (graft_image){(int)w, (int)h, channels, out_depth, job.pixels};
    return GRAFT_OK;
}

static void write_bytes(png_structp png, png_bytep p, size_t n) {
    png_job *job = png_get_io_ptr(png);
    graft_atomic_write(job->out, p, n);
}

static void flush_nothing(png_structp png) { (void)png; }

graft_status graft_image_save_png(const char *path, const graft_tensor *t, graft_error *err) {
    if (t->dtype != GRAFT_F32 || t->ndim != 3 || !graft_tensor_is_contiguous(t))
        return graft_error_set(err, GRAFT_EINVAL, "%s: need a contiguous f32 {C, H, W} tensor", path);
    const int64_t c = t->size[0], h = t->size[1], w = t->size[2];
    if (c != 1 && c != 3 && c != 4)
        return graft_error_set(err, GRAFT_EINVAL, "%s: an image has 1, 3 or 4 channels, not %lld", path,
                               (long long)c);
    if (h < 1 || w < 1 || h > 0x7fffffff || w > 0x7fffffff)
        return graft_error_set(err, GRAFT_EINVAL, "%s: %lldx%lld is not a PNG size", path, (long long)h,
                               (long long)w);
    graft_atomic_file f;
    graft_status st = graft_atomic_begin(&f, path, err);
    if (st != GRAFT_OK) return st;
    png_job job = {.name = path, .err = err, .out = &f};
    png_job *volatile jp = &job;
    graft_atomic_file *volatile fp = &f;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &job, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        graft_atomic_commit(&f, 0, err);
        return graft_error_set(err, GRAFT_ENOMEM, "%s: out of memory starting libpng", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        free(jp->pixels);
        png_destroy_write_struct(&png, &info);
        graft_atomic_commit(fp, 0, err);
        return GRAFT_EIO;
    }
    static const int types[5] = {0, PNG_COLOR_TYPE_GRAY, 0, PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGBA};
    png_set_write_fn(png, &job, write_bytes, flush_nothing);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, types[c], PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    job.pixels = malloc((size_t)(w * c));
    if (!job.pixels) {
        graft_error_set(err, GRAFT_ENOMEM, "%s: out of memory", path);
        png_longjmp(png, 1);
    }
    const float *src = graft_tensor_data(t);
    const int64_t plane = h * w;
    for (int64_t y = 0; y < h; y++) {
        for (int64_t x = 0; x < w; x++)
            for (int64_t k = 0; k < c; k++) {
                float v = src[k * plane + y * w + x];
                v = v > 0 ? (v < 1 ? v : 1) : 0;   /* NaN becomes 0 */
                job.pixels[x * c + k] = (unsigned char)(v * 255.0f + 0.5f);
            }
        png_write_row(png, job.pixels);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(job.pixels);
    return graft_atomic_commit(&f, 1, err);
}
