/* Strided copy with dtype conversion, and fill. */
#include "copy.h"

#include <string.h>

#include "../core/iter.h"

/* Only values inside int64's range convert without undefined behaviour; NaN fails both tests.
 * (An f32 converts to double exactly, so one function serves both types.) */
static inline int64_t d2i(double v) {
    return (v >= -9.2233720368547758e18 && v < 9.2233720368547758e18) ? (int64_t)v : INT64_MIN;
}

int64_t graft_f32_to_i64(float v) { return d2i(v); }

static inline float to_f32_f32(float v) { return v; }
static inline float to_f32_i64(int64_t v) { return (float)v; }
static inline float to_f32_u8(uint8_t v) { return (float)v; }
static inline int64_t to_i64_f32(float v) { return graft_f32_to_i64(v); }
static inline int64_t to_i64_i64(int64_t v) { return v; }
static inline int64_t to_i64_u8(uint8_t v) { return v; }
static inline uint8_t to_u8_f32(float v) { return (uint8_t)(uint64_t)graft_f32_to_i64(v); }
static inline uint8_t to_u8_i64(int64_t v) { return (uint8_t)(uint64_t)v; }
static inline uint8_t to_u8_u8(uint8_t v) { return v; }

#define COPY_KERNEL(OUTN, OUTT, INN, INT)                                                   \
    static void copy_##OUTN##_##INN(char **p, const int64_t *s, int64_t n, const void *arg) { \
        (void)arg;                                                                           \
        if (s[0] == sizeof(OUTT) && s[1] == sizeof(INT)) {                                   \
            OUTT *o = (OUTT *)p[0];                                                          \
            const INT *x = (const INT *)p[1];                                                \
            for (int64_t i = 0; i < n; i++) o[i] = to_##OUTN##_##INN(x[i]);                  \
        } else {                                                                             \
            char *po = p[0], *px = p[1];                                                     \
            for (int64_t i = 0; i < n; i++, po += s[0], px += s[1])                          \
                *(OUTT *)po = to_##OUTN##_##INN(*(const INT *)px);                           \
        }                                                                                    \
    }
COPY_KERNEL(f32, float, f32, float)
COPY_KERNEL(f32, float, i64, int64_t)
COPY_KERNEL(f32, float, u8, uint8_t)
COPY_KERNEL(i64, int64_t, f32, float)
COPY_KERNEL(i64, int64_t, i64, int64_t)
COPY_KERNEL(i64, int64_t, u8, uint8_t)
COPY_KERNEL(u8, uint8_t, f32, float)
COPY_KERNEL(u8, uint8_t, i64, int64_t)
COPY_KERNEL(u8, uint8_t, u8, uint8_t)

static const graft_iter_fn copy_kernels[GRAFT_NUM_DTYPES][GRAFT_NUM_DTYPES] = {
    {copy_f32_f32, copy_f32_i64, copy_f32_u8},
    {copy_i64_f32, copy_i64_i64, copy_i64_u8},
    {copy_u8_f32, copy_u8_i64, copy_u8_u8},
};

graft_status graft_copy(graft_tensor *dst, const graft_tensor *src, graft_error *err) {
    graft_tensor s = *src; /* a header copy: expanding it takes no reference */
    graft_status st = graft_view_expand(&s, dst->ndim, dst->size, err);
    if (st != GRAFT_OK) {
        char bd[128], bs[128];
        return graft_error_set(err, GRAFT_EINVAL, "source %s does not broadcast to %s",
                               graft_shape_str(bs, sizeof bs, src->ndim, src->size),
                               graft_shape_str(bd, sizeof bd, dst->ndim, dst->size));
    }
    if (dst->dtype == s.dtype && graft_tensor_is_contiguous(dst) &&
        graft_tensor_is_contiguous(&s) && graft_tensor_same_shape(dst, &s)) {
        if (graft_tensor_data(dst) != graft_tensor_data(&s))
            memcpy(graft_tensor_data(dst), graft_tensor_data(&s), graft_tensor_nbytes(dst));
        return GRAFT_OK;
    }
    const graft_tensor *ops[2] = {dst, &s};
    graft_iter it;
    graft_iter_init(&it, 2, ops);
    graft_iter_run(&it, copy_kernels[dst->dtype][s.dtype], NULL, 1);
    return GRAFT_OK;
}

#define FILL_KERNEL(N, T, CONV)                                                     \
    static void fill_##N(char **p, const int64_t *s, int64_t n, const void *arg) {  \
        T v = CONV(*(const double *)arg);                                            \
        char *po = p[0];                                                             \
        for (int64_t i = 0; i < n; i++, po += s[0]) *(T *)po = v;                    \
    }
static inline float d2f(double v) { return (float)v; }
static inline uint8_t d2u8(double v) { return (uint8_t)(uint64_t)d2i(v); }
FILL_KERNEL(f32, float, d2f)
FILL_KERNEL(i64, int64_t, d2i)
FILL_KERNEL(u8, uint8_t, d2u8)
static const graft_iter_fn fill_kernels[GRAFT_NUM_DTYPES] = {fill_f32, fill_i64, fill_u8};

void graft_fill(graft_tensor *t, double v) {
    const graft_tensor *ops[1] = {t};
    graft_iter it;
    graft_iter_init(&it, 1, ops);
    graft_iter_run(&it, fill_kernels[t->dtype], &v, 1);
}

graft_status graft_clone_as(graft_ctx *ctx, graft_tensor *out, const graft_tensor *src,
                            graft_dtype dt, graft_error *err) {
    graft_status st = graft_tensor_alloc(out, ctx, dt, src->ndim, src->size, err);
    if (st != GRAFT_OK) return st;
    st = graft_copy(out, src, err);
    if (st != GRAFT_OK) graft_tensor_release(out);
    return st;
}

graft_status graft_contiguous_as(graft_ctx *ctx, graft_tensor *out, const graft_tensor *src,
                                 graft_dtype dt, graft_error *err) {
    if (src->dtype == dt && graft_tensor_is_contiguous(src)) {
        graft_tensor_share(out, src);
        return GRAFT_OK;
    }
    return graft_clone_as(ctx, out, src, dt, err);
}
