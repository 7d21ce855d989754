/* xoshiro256** (Blackman & Vigna), seeded by splitmix64; Box-Muller for normals. */
#include "rng.h"

#include <math.h>
#include <stdbool.h>

#include "threads.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void graft_rng_seed(graft_rng *r, uint64_t seed) { graft_rng_seed_words(r, &seed, 1); }

void graft_rng_seed_words(graft_rng *r, const uint64_t *words, int n) {
    uint64_t x = 0x6a09e667f3bcc908ULL;
    for (int i = 0; i < n; i++) {
        x ^= words[i];
        x = splitmix64(&x);
    }
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

uint64_t graft_rng_u64(graft_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double graft_rng_uniform(graft_rng *r) { return (double)(graft_rng_u64(r) >> 11) * 0x1.0p-53; }

int64_t graft_rng_integer(graft_rng *r, int64_t lo, int64_t hi) {
    uint64_t range = (uint64_t)hi - (uint64_t)lo; /* hi - lo, wraps safely */
    if (range == UINT64_MAX) return (int64_t)graft_rng_u64(r);
    uint64_t n = range + 1, limit = UINT64_MAX - UINT64_MAX % n, v;
    do v = graft_rng_u64(r);
    while (v >= limit);                            /* rejection keeps it unbiased */
    return (int64_t)((uint64_t)lo + v % n);
}

/* Fills run in chunks of CHUNK elements, chunk k drawing from its own stream seeded from
 * (the generator's state, k): the numbers do not depend on the thread count, and big fills
 * use every thread. The generator then moves on by one draw. */
enum { CHUNK = 1 << 16 };

static void chunk_rng(graft_rng *out, const graft_rng *base, int64_t k) {
    uint64_t words[5] = {base->s[0], base->s[1], base->s[2], base->s[3], (uint64_t)k};
    graft_rng_seed_words(out, words, 5);
}

static void uniform_run(graft_rng *r, float *out, int64_t n, float lo, float hi) {
    for (int64_t i = 0; i < n; i++) {
        float u = (float)(graft_rng_u64(r) >> 40) * 0x1.0p-24f; /* 24 bits: exact in f32, < 1 */
        out[i] = lo + (hi - lo) * u;
    }
}

static void normal_run(graft_rng *r, float *out, int64_t n, float mean, float std) {
    for (int64_t i = 0; i < n; i += 2) {
        float u1 = 1.0f - (float)(graft_rng_u64(r) >> 40) * 0x1.0p-24f;   /* (0, 1]: log is finite */
        float u2 = (float)(graft_rng_u64(r) >> 40) * 0x1.0p-24f;
        float rad = sqrtf(-2.0f * logf(u1)), ang = 6.2831853071795865f * u2;
        out[i] = mean + std * rad * cosf(ang);
        if (i + 1 < n) out[i + 1] = mean + std * rad * sinf(ang);
    }
}

static void fill_chunks(graft_rng *r, float *out, int64_t n, float a, float b, bool normal) {
    int64_t chunks = (n + CHUNK - 1) / CHUNK;
    graft_rng base = *r;
    int nt = graft_threads_for(n * 8);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t k = 0; k < chunks; k++) {
        graft_rng rk;
        chunk_rng(&rk, &base, k);
        int64_t len = n - k * CHUNK < CHUNK ? n - k * CHUNK : CHUNK;
        if (normal) normal_run(&rk, out + k * CHUNK, len, a, b);
        else uniform_run(&rk, out + k * CHUNK, len, a, b);
    }
    graft_rng_u64(r);
}

void graft_rng_fill_uniform(graft_rng *r, float *out, int64_t n, float lo, float hi) {
    fill_chunks(r, out, n, lo, hi, false);
}

void graft_rng_fill_normal(graft_rng *r, float *out, int64_t n, float mean, float std) {
    fill_chunks(r, out, n, mean, std, true);
}
