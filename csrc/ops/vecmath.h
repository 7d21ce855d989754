/* Math that loops vectorise. GRAFT_CLONES compiles a hot loop once per instruction-set level
 * (x86-64-v4 with AVX-512, v3 with AVX2+FMA, baseline), the CPU's best chosen when the
 * library loads, so one portable build still uses wide vectors. graft_vexpf is e^x without
 * calls or branches (libm's expf is a call per element, which no loop can vectorise). */
#ifndef GRAFT_VECMATH_H
#define GRAFT_VECMATH_H

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define GRAFT_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define GRAFT_CLONES
#endif

/* e^x for finite x, within 2 ulp of expf over [-87.3, 88.3] and clamped to that range
 * outside it (so never inf; callers bound their results): x = n ln2 + r with |r| <= ln2/2
 * (ln2 split in two for an exact product), e^r by Cephes' degree-7 polynomial, 2^n by
 * writing the exponent bits. */
static inline float graft_vexpf(float x) {
    x = x > -87.3f ? x : -87.3f;   /* written so that NaN also becomes -87.3: no NaN reaches */
    x = x < 88.3f ? x : 88.3f;     /* the integer conversion below (callers keep NaN themselves) */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;   /* round to nearest: 1.5 * 2^23 */
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* 1 / (1 + e^-x): exact in relative terms for either sign once e^-x is; NaN stays NaN. */
static inline float graft_vsigmoidf(float x) {
    float s = 1.0f / (1.0f + graft_vexpf(x != x ? 0.0f : -x));
    return x != x ? x : s;
}

/* The standard normal CDF, Phi(x) = (1 + erf(x / sqrt 2)) / 2, for GELU. erfc(z), z >= 0, by
 * Abramowitz and Stegun's 7.1.26: t P(t) e^(-z^2) with t = 1 / (1 + p z), absolute error
 * below 1.5e-7 (7.5e-8 in Phi; with float rounding 3.2e-7, tests/c/040-vecmath.c). Taking
 * the lower tail from erfc itself keeps Phi accurate in relative terms for negative x, where
 * 1 + erf(x) would cancel. NaN stays NaN. */
static inline float graft_vnormcdff(float x) {
    float z = (x < 0 ? -x : x) * 0.70710678118654752f;
    float t = 1.0f / (1.0f + 0.3275911f * z);
    float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    float half_erfc = 0.5f * poly * graft_vexpf(-z * z);
    float phi = x < 0 ? half_erfc : 1.0f - half_erfc;
    return x != x ? x : phi;
}

/* Sums of floats in double, in GRAFT_LANES lanes: element k of a run goes to lane k % 8
 * (the tail of a run to lanes 0, 1, ...), so loops vectorise where one running sum would
 * wait an add's latency per element, and the split is the same on every machine. */
enum { GRAFT_LANES = 8 };

/* lane += x[0..n) */
static inline void graft_lanes_add(double *restrict lane, const float *restrict x, int64_t n) {
    int64_t k = 0;
    for (; k + GRAFT_LANES <= n; k += GRAFT_LANES)
        for (int l = 0; l < GRAFT_LANES; l++) lane[l] += x[k + l];
    for (int l = 0; k < n; k++, l++) lane[l] += x[k];
}

/* lane += (x - mu)^2 over x[0..n) */
static inline void graft_lanes_add_sqdev(double *restrict lane, const float *restrict x, int64_t n, double mu) {
    int64_t k = 0;
    for (; k + GRAFT_LANES <= n; k += GRAFT_LANES)
        for (int l = 0; l < GRAFT_LANES; l++) {
            double d = x[k + l] - mu;
            lane[l] += d * d;
        }
    for (int l = 0; k < n; k++, l++) lane[l] += (x[k] - mu) * (x[k] - mu);
}

/* lane += g (x - mu) over g, x[0..n) */
static inline void graft_lanes_add_dotdev(double *restrict lane, const float *restrict g, const float *restrict x,
                                          int64_t n, double mu) {
    int64_t k = 0;
    for (; k + GRAFT_LANES <= n; k += GRAFT_LANES)
        for (int l = 0; l < GRAFT_LANES; l++) lane[l] += g[k + l] * (x[k + l] - mu);
    for (int l = 0; k < n; k++, l++) lane[l] += g[k] * (x[k] - mu);
}

static inline double graft_lanes_total(const double *lane) {
    double t = 0;
    for (int l = 0; l < GRAFT_LANES; l++) t += lane[l];
    return t;
}

/* The sum of x[0..n), in lanes. */
GRAFT_CLONES
static inline double graft_vsum(const float *x, int64_t n) {
    double lane[GRAFT_LANES] = {0};
    graft_lanes_add(lane, x, n);
    return graft_lanes_total(lane);
}

#endif
