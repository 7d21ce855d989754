/* JPEG through libjpeg-turbo. libjpeg's default error handler prints and calls exit();
 * graft's handler formats the message into the caller's graft_error and longjmps back.
 * Warnings about corrupt data (a truncated scan, a bad Huffman code) are errors too: a
 * partial image must never pass for a whole one. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "image.h"
#include "../core/alloc.h"

typedef struct {
    struct jpeg_error_mgr mgr;   /* first: libjpeg hands back a pointer to it */
    jmp_buf jump;
    const char *name;
    graft_error *err;
    int status;
    unsigned char *pixels;       /* what to free when a jump lands */
} jpeg_job;

static void fail(j_common_ptr cinfo) {
    jpeg_job *job = (jpeg_job *)cinfo->err;
    char msg[JMSG_LENGTH_MAX];
    job->mgr.format_message(cinfo, msg);
    graft_error_set(job->err, GRAFT_EFORMAT, "%s: bad JPEG: %s", job->name, msg);
    longjmp(job->jump, 1);
}

/* level -1 is a warning (corrupt data); higher levels are trace messages, ignored. */
static void on_message(j_common_ptr cinfo, int level) {
    if (level < 0) fail(cinfo);
}

static void print_nothing(j_common_ptr cinfo) { (void)cinfo; }

graft_status graft_jpeg_decode(graft_ctx *ctx, const unsigned char *data, size_t len, const char *name,
                               int64_t max_pixels, graft_image *img, graft_error *err) {
    struct jpeg_decompress_struct cinfo;
    jpeg_job job;
    memset(&job, 0, sizeof job);
    job.name = name;
    job.err = err;
    job.status = GRAFT_EFORMAT;
    cinfo.err = jpeg_std_error(&job.mgr);
    job.mgr.error_exit = fail;
    job.mgr.emit_message = on_message;
    job.mgr.output_message = print_nothing;
    jpeg_job *volatile jp = &job;
    if (setjmp(job.jump)) {
        free(jp->pixels);
        jpeg_destroy_decompress(&cinfo);
        memset(img, 0, sizeof *img);
        return (graft_status)jp->status;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        graft_error_set(err, GRAFT_EFORMAT, "%s: CMYK JPEG is not supported (convert it to RGB)", name);
        longjmp(job.jump, 1);
    }
    if ((int64_t)cinfo.image_width * cinfo.image_height > max_pixels) {
        graft_error_set(err, GRAFT_EFORMAT, "%s: %ux%u pixels is over the limit of %lld", name,
                        cinfo.image_width, cinfo.image_height, (long long)max_pixels);
        longjmp(job.jump, 1);
    }
    cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    const size_t w = cinfo.output_width, h = cinfo.output_height, c = (size_t)cinfo.output_components;
    job.pixels = graft_malloc(ctx, w * h * c + 1);
    if (!job.pixels) {
        job.status = GRAFT_ENOMEM;
        graft_error_set(err, GRAFT_ENOMEM, "%s: out of memory for %zux%zu pixels", name, w, h);
        longjmp(job.jump, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = job.pixels + (size_t)cinfo.output_scanline * w * c;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    *img = (graft_image){(int)w, (int)h, (int)c, 8, job.pixels};
    return GRAFT_OK;
}
