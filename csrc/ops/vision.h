/* Image kernels behind graft.data.transforms, on planar f32 images {C, H, W} in plain
 * malloc'd buffers (so loader threads use them without a Lua state or a ctx). Each one
 * follows torchvision's tensor transform of the same name, which the tests compare with. */
#ifndef GRAFT_OPS_VISION_H
#define GRAFT_OPS_VISION_H

#include <stdint.h>

#include "../core/error.h"

typedef struct {
    int c, h, w;
    float *data;   /* c*h*w floats, malloc'd; owned by whoever holds the image */
} graft_fimage;

typedef enum { GRAFT_FILTER_BILINEAR, GRAFT_FILTER_BICUBIC } graft_filter;

/* Allocates an image (contents uninitialised). */
graft_status graft_fimage_alloc(graft_fimage *img, int c, int h, int w, graft_error *err);
void graft_fimage_free(graft_fimage *img);
/* Replaces *img by *next (freeing the old pixels). */
void graft_fimage_replace(graft_fimage *img, graft_fimage *next);

/* Separable resampling to oh x ow with PyTorch's antialiased kernels (interpolate(...,
 * antialias=True)): when shrinking, the filter widens by the scale, so every input pixel
 * contributes; when enlarging it is plain bilinear/bicubic (a = -0.5). */
graft_status graft_resize(const graft_fimage *src, graft_fimage *dst, int oh, int ow, graft_filter filter,
                          graft_error *err);
/* dst = the h x w window of src at (top, left); parts outside src are `fill`. */
graft_status graft_crop(const graft_fimage *src, graft_fimage *dst, int top, int left, int h, int w,
                        float fill, graft_error *err);
void graft_hflip(graft_fimage *img);
/* (x - mean[c]) / std[c] per channel. */
void graft_normalize(graft_fimage *img, const double *mean, const double *std);
/* torchvision's adjust_brightness / contrast / saturation / hue (RGB; 1 channel: the first
 * two apply, the last two leave the image as it is). */
void graft_adjust_brightness(graft_fimage *img, double factor);
void graft_adjust_contrast(graft_fimage *img, double factor);
void graft_adjust_saturation(graft_fimage *img, double factor);
void graft_adjust_hue(graft_fimage *img, double shift);
/* RGB to luma (0.2989 R + 0.587 G + 0.114 B), into `channels` (1 or 3) identical planes;
 * a 1-channel input is replicated. */
graft_status graft_grayscale(const graft_fimage *src, graft_fimage *dst, int channels, graft_error *err);

#endif
