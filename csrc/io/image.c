/* Image files: format detection, limits, and conversion of decoded samples to f32. */
#include "image.h"

#include <stdlib.h>
#include <string.h>

#include "file.h"

const char *graft_image_format(const unsigned char *head, size_t n) {
    static const unsigned char png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 8 && memcmp(head, png_magic, 8) == 0) return "png";
    if (n >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF) return "jpeg";
    return NULL;
}

graft_status graft_image_decode(graft_ctx *ctx, const unsigned char *data, size_t len, const char *name,
                                int64_t max_pixels, graft_image *img, graft_error *err) {
    memset(img, 0, sizeof *img);
    const char *format = graft_image_format(data, len);
    if (!format)
        return graft_error_set(err, GRAFT_EFORMAT, "%s: not a PNG or JPEG file (%s)", name,
                               len < 3 ? "too short" : "unknown signature");
    return format[0] == 'p' ? graft_png_decode(ctx, data, len, name, max_pixels, img, err)
                            : graft_jpeg_decode(ctx, data, len, name, max_pixels, img, err);
}

graft_status graft_image_read(graft_ctx *ctx, const char *path, int64_t max_pixels, graft_image *img, graft_error *err) {
    unsigned char *data;
    size_t len;
    memset(img, 0, sizeof *img);
    graft_status st = graft_file_read(ctx, path, GRAFT_IMAGE_MAX_FILE_BYTES, &data, &len, err);
    if (st != GRAFT_OK) return st;
    st = graft_image_decode(ctx, data, len, path, max_pixels, img, err);
    free(data);
    return st;
}

void graft_image_free(graft_image *img) {
    free(img->pixels);
    img->pixels = NULL;
}

/* ITU-R 601-2 luma, as PIL's convert("L") and torchvision's rgb_to_grayscale. */
static float luma(float r, float g, float b) { return 0.2989f * r + 0.587f * g + 0.114f * b; }

graft_status graft_image_to_f32(const graft_image *img, int channels, float *out, graft_error *err) {
    const int cin = img->channels, cout = channels ? channels : cin;
    if (cout < 1 || cout > 4 || (channels == 2 && cin != 2))
        return graft_error_set(err, GRAFT_EINVAL, "channels must be 1, 3 or 4, not %d", channels);
    const int64_t plane = (int64_t)img->width * img->height;
    const float maxval = img->depth == 16 ? 65535.0f : 255.0f;   /* divided, as ToTensor does */
    const uint8_t *p8 = img->pixels;
    const uint16_t *p16 = img->pixels;
    const int has_alpha = cin == 2 || cin == 4, color = cin >= 3;
    for (int64_t i = 0; i < plane; i++) {
        float s[4] = {0, 0, 0, 1};
        for (int c = 0; c < cin; c++) s[c] = (img->depth == 16 ? p16[i * cin + c] : p8[i * cin + c]) / maxval;
        float r = s[0], g = color ? s[1] : s[0], b = color ? s[2] : s[0];
        float a = has_alpha ? s[cin - 1] : 1.0f;
        if (cout == cin) {
            for (int c = 0; c < cout; c++) out[c * plane + i] = s[c];
            continue;
        }
        switch (cout) {
        case 1: out[i] = color ? luma(r, g, b) : r; break;
        case 3: out[i] = r, out[plane + i] = g, out[2 * plane + i] = b; break;
        default: out[i] = r, out[plane + i] = g, out[2 * plane + i] = b, out[3 * plane + i] = a; break;
        }
    }
    return GRAFT_OK;
}

graft_status graft_image_load(graft_ctx *ctx, graft_tensor *out, const char *path, int channels,
                              int64_t max_pixels, graft_error *err) {
    graft_image img;
    graft_tensor_init_empty(out);
    graft_status st = graft_image_read(ctx, path, max_pixels, &img, err);
    if (st != GRAFT_OK) return st;
    int64_t size[3] = {channels ? channels : img.channels, img.height, img.width};
    st = graft_tensor_alloc(out, ctx, GRAFT_F32, 3, size, err);
    if (st == GRAFT_OK) st = graft_image_to_f32(&img, channels, graft_tensor_data(out), err);
    if (st != GRAFT_OK) graft_tensor_release(out);
    graft_image_free(&img);
    return st;
}
