/* Built-in transforms: parameter draws (torchvision's get_params, in its order) and the
 * image kernels of csrc/ops/vision.c. */
#include "pipeline.h"

#include <math.h>

void graft_tf_resize_size(const graft_tf *t, int h, int w, int *oh, int *ow) {
    if (t->w > 0) {
        *oh = t->h, *ow = t->w;
        return;
    }
    int small = w <= h ? w : h, large = w <= h ? h : w;
    int new_short = t->h, new_long = (int)((long long)new_short * large / small);
    if (t->max_size > 0 && new_long > t->max_size) {
        new_short = (int)((long long)t->max_size * new_short / new_long);
        new_long = t->max_size;
    }
    *ow = w <= h ? new_short : new_long;
    *oh = w <= h ? new_long : new_short;
}

/* Python's round(): halves to even. */
static int round_even(double x) { return (int)nearbyint(x); }

static graft_status crop(graft_fimage *img, int top, int left, int h, int w, graft_error *err) {
    graft_fimage next;
    graft_status st = graft_crop(img, &next, top, left, h, w, 0, err);
    if (st == GRAFT_OK) graft_fimage_replace(img, &next);
    return st;
}

static graft_status resize(graft_fimage *img, int h, int w, graft_filter filter, graft_error *err) {
    if (h == img->h && w == img->w) return GRAFT_OK;
    graft_fimage next;
    graft_status st = graft_resize(img, &next, h, w, filter, err);
    if (st == GRAFT_OK) graft_fimage_replace(img, &next);
    return st;
}

/* torchvision's center_crop: zero padding when the crop is larger, then round((H - h) / 2). */
static graft_status center_crop(graft_fimage *img, int h, int w, graft_error *err) {
    int H = img->h, W = img->w;
    int pad_top = h > H ? (h - H) / 2 : 0, pad_left = w > W ? (w - W) / 2 : 0;
    if (pad_top || pad_left || h > H || w > W) {
        graft_status st = crop(img, -pad_top, -pad_left, H > h ? H : h, W > w ? W : w, err);
        if (st != GRAFT_OK) return st;
        H = img->h, W = img->w;
    }
    return crop(img, round_even((H - h) / 2.0), round_even((W - w) / 2.0), h, w, err);
}

static graft_status random_crop(const graft_tf *t, graft_rng *rng, graft_fimage *img, graft_error *err) {
    int pad = t->padding, H = img->h + 2 * pad, W = img->w + 2 * pad;
    int pad_y = t->pad_if_needed && H < t->h ? t->h - H : 0, pad_x = t->pad_if_needed && W < t->w ? t->w - W : 0;
    H += 2 * pad_y, W += 2 * pad_x;
    if (H < t->h || W < t->w)
        return graft_error_set(err, GRAFT_EINVAL, "RandomCrop: a %dx%d crop is larger than the %dx%d image", t->h,
                               t->w, H, W);
    int top = (int)graft_rng_integer(rng, 0, H - t->h), left = (int)graft_rng_integer(rng, 0, W - t->w);
    return crop(img, top - pad - pad_y, left - pad - pad_x, t->h, t->w, err);
}

/* torchvision's RandomResizedCrop.get_params: ten tries at a random area and aspect ratio,
 * then a central crop with the ratio clamped into range. */
static graft_status random_resized_crop(const graft_tf *t, graft_rng *rng, graft_fimage *img, graft_error *err) {
    const int H = img->h, W = img->w;
    const double area = (double)H * W, lr0 = log(t->range[2]), lr1 = log(t->range[3]);
    int top = -1, left = 0, h = H, w = W;
    for (int attempt = 0; attempt < 10 && top < 0; attempt++) {
        double target = area * (t->range[0] + (t->range[1] - t->range[0]) * graft_rng_uniform(rng));
        double ratio = exp(lr0 + (lr1 - lr0) * graft_rng_uniform(rng));
        int cw = round_even(sqrt(target * ratio)), ch = round_even(sqrt(target / ratio));
        if (cw > 0 && cw <= W && ch > 0 && ch <= H) {
            h = ch, w = cw;
            top = (int)graft_rng_integer(rng, 0, H - h);
            left = (int)graft_rng_integer(rng, 0, W - w);
        }
    }
    if (top < 0) {
        double in_ratio = (double)W / H;
        if (in_ratio < t->range[2]) w = W, h = round_even(w / t->range[2]);
        else if (in_ratio > t->range[3]) h = H, w = round_even(h * t->range[3]);
        else w = W, h = H;
        top = (H - h) / 2, left = (W - w) / 2;
    }
    graft_status st = crop(img, top, left, h, w, err);
    return st == GRAFT_OK ? resize(img, t->h, t->w, t->filter, err) : st;
}

/* torchvision's ColorJitter: a random order of the four adjustments, then their factors. */
static void color_jitter(const graft_tf *t, graft_rng *rng, graft_fimage *img) {
    int order[4] = {0, 1, 2, 3};
    for (int i = 3; i > 0; i--) {
        int j = (int)graft_rng_integer(rng, 0, i);
        int tmp = order[i];
        order[i] = order[j], order[j] = tmp;
    }
    double factor[4];
    for (int k = 0; k < 4; k++)
        if (t->jitter[k]) factor[k] = t->range[2 * k] + (t->range[2 * k + 1] - t->range[2 * k]) * graft_rng_uniform(rng);
    for (int i = 0; i < 4; i++) {
        int k = order[i];
        if (!t->jitter[k]) continue;
        switch (k) {
        case 0: graft_adjust_brightness(img, factor[k]); break;
        case 1: graft_adjust_contrast(img, factor[k]); break;
        case 2: graft_adjust_saturation(img, factor[k]); break;
        default: graft_adjust_hue(img, factor[k]); break;
        }
    }
}

graft_status graft_tf_apply(const graft_tf *steps, int n, graft_rng *rng, graft_fimage *img, graft_error *err) {
    for (int i = 0; i < n; i++) {
        const graft_tf *t = &steps[i];
        graft_status st = GRAFT_OK;
        switch (t->kind) {
        case GRAFT_TF_RESIZE: {
            int oh, ow;
            graft_tf_resize_size(t, img->h, img->w, &oh, &ow);
            st = resize(img, oh, ow, t->filter, err);
            break;
        }
        case GRAFT_TF_CENTER_CROP: st = center_crop(img, t->h, t->w, err); break;
        case GRAFT_TF_RANDOM_CROP: st = random_crop(t, rng, img, err); break;
        case GRAFT_TF_RANDOM_RESIZED_CROP: st = random_resized_crop(t, rng, img, err); break;
        case GRAFT_TF_HFLIP:
            if (graft_rng_uniform(rng) < t->p) graft_hflip(img);
            break;
        case GRAFT_TF_COLOR_JITTER: color_jitter(t, rng, img); break;
        case GRAFT_TF_NORMALIZE:
            if (t->nmean != img->c)
                return graft_error_set(err, GRAFT_EINVAL, "Normalize: %d means and stds for a %d-channel image",
                                       t->nmean, img->c);
            graft_normalize(img, t->mean, t->std);
            break;
        case GRAFT_TF_GRAYSCALE: {
            graft_fimage next;
            st = graft_grayscale(img, &next, t->channels, err);
            if (st == GRAFT_OK) graft_fimage_replace(img, &next);
            break;
        }
        default: st = graft_error_set(err, GRAFT_EINVAL, "unknown transform %d", (int)t->kind);
        }
        if (st != GRAFT_OK) return st;
    }
    return GRAFT_OK;
}
