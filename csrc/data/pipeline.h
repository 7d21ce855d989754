/* A transform pipeline: the built-in graft.data.transforms as plain data, applied to one
 * image with a per-sample RNG. Random parameters are drawn in a documented order
 * (docs/data.md), so the Lua transforms, which call the same code, and the loader's worker
 * threads give the same images for the same generator state. */
#ifndef GRAFT_DATA_PIPELINE_H
#define GRAFT_DATA_PIPELINE_H

#include "../core/rng.h"
#include "../ops/vision.h"

typedef enum {
    GRAFT_TF_RESIZE,               /* size: h, w (w = 0: shorter side to h); max_size; filter */
    GRAFT_TF_CENTER_CROP,          /* h, w */
    GRAFT_TF_RANDOM_CROP,          /* h, w; padding; pad_if_needed */
    GRAFT_TF_RANDOM_RESIZED_CROP,  /* h, w; range[0..1] scale, range[2..3] ratio; filter */
    GRAFT_TF_HFLIP,                /* p */
    GRAFT_TF_COLOR_JITTER,         /* range[0..7]: brightness, contrast, saturation, hue (lo, hi) */
    GRAFT_TF_NORMALIZE,            /* mean[c], std[c] */
    GRAFT_TF_GRAYSCALE,            /* channels (1 or 3) */
    GRAFT_TF_KINDS
} graft_tf_kind;

#define GRAFT_TF_MAX_CHANNELS 16

typedef struct {
    graft_tf_kind kind;
    int h, w;
    int max_size;          /* resize: 0 = none */
    graft_filter filter;
    int padding, pad_if_needed;
    int channels;
    double p;
    double range[8];
    int jitter[4];         /* which colour adjustments ColorJitter draws (brightness..hue) */
    int nmean;
    double mean[GRAFT_TF_MAX_CHANNELS], std[GRAFT_TF_MAX_CHANNELS];
} graft_tf;

/* Applies steps[0..n) to *img in turn (img is replaced by each step's result). */
graft_status graft_tf_apply(const graft_tf *steps, int n, graft_rng *rng, graft_fimage *img, graft_error *err);

/* The output size of Resize(size) for an h x w input, as torchvision computes it. */
void graft_tf_resize_size(const graft_tf *t, int h, int w, int *oh, int *ow);

#endif
