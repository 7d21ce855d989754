/* tests/c/010-core.c — the Lua-free core: shapes, views, storage accounting, the memory cap,
 * the cache of freed pages, the strided iterator's merging, RNG, elementwise ops and safetensors through the C API. */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cblas.h>

#include "../../csrc/core/iter.h"
#include "../../csrc/core/threads.h"
#include "../../csrc/core/rng.h"
#include "../../csrc/io/safetensors.h"
#include "../../csrc/ops/copy.h"
#include "../../csrc/ops/elementwise.h"
#include "../../csrc/ops/matmul.h"
#include "tap.h"

static void test_shapes(void) {
    int64_t big[2] = {INT64_MAX / 2, 3};
    tap_ok(graft_shape_numel(2, big) == -1, "numel overflow is detected");
    int64_t neg[1] = {-1};
    tap_ok(graft_shape_numel(1, neg) == -1, "negative sizes are detected");
    int64_t z[3] = {4, 0, 5};
    tap_ok(graft_shape_numel(3, z) == 0, "a zero dim makes numel 0");
    int64_t zbig[3] = {4, 0, INT64_MAX};
    tap_ok(graft_shape_numel(3, zbig) == -1, "a zero dim does not hide an overflow of the other sizes");

    int64_t a[2] = {4, 1}, b[3] = {2, 1, 3}, out[GRAFT_MAX_DIMS];
    int nd;
    graft_error err;
    tap_ok(graft_shape_broadcast(2, a, 3, b, &nd, out, &err) == GRAFT_OK && nd == 3 && out[0] == 2 &&
               out[1] == 4 && out[2] == 3, "broadcast {4,1} with {2,1,3} is {2,4,3}");
    int64_t c[1] = {5};
    tap_ok(graft_shape_broadcast(2, a, 1, c, &nd, out, &err) == GRAFT_OK && out[1] == 5, "a size-1 dim stretches");
    int64_t d[1] = {3};
    tap_ok(graft_shape_broadcast(1, c, 1, d, &nd, out, &err) == GRAFT_EINVAL, "5 and 3 do not broadcast");
    tap_str_contains(err.msg, "shapes {5} and {3} cannot be broadcast", "the error names both shapes");
}

static void test_views(graft_ctx *ctx) {
    graft_tensor t, v;
    graft_error err;
    int64_t size[3] = {2, 3, 4};
    graft_tensor_init_empty(&t);
    tap_ok(graft_tensor_alloc(&t, ctx, GRAFT_F32, 3, size, &err) == GRAFT_OK, "alloc 2x3x4");
    tap_ok(t.stride[0] == 12 && t.stride[1] == 4 && t.stride[2] == 1, "row-major strides");
    tap_ok(((uintptr_t)graft_tensor_data(&t) & 63) == 0, "storage is 64-byte aligned");
    size_t live = atomic_load(&ctx->live_bytes);
    graft_tensor_init_empty(&v);
    graft_tensor_share(&v, &t);
    graft_view_transpose(&v, 0, 2);
    tap_ok(!graft_tensor_is_contiguous(&v) && v.stride[0] == 1 && v.stride[2] == 12, "transpose swaps strides");
    int64_t flat[1] = {24};
    tap_ok(graft_view_reshape(&v, 1, flat, &err) == GRAFT_EINVAL, "a transposed tensor cannot be viewed flat");
    int64_t split[4] = {4, 3, 1, 2};
    tap_ok(graft_view_reshape(&v, 4, split, &err) == GRAFT_OK && v.stride[0] == 1 && v.stride[1] == 4 &&
               v.stride[3] == 12, "inserting a size-1 dim keeps the other strides");
    graft_tensor_release(&t);
    tap_ok(atomic_load(&ctx->live_bytes) == live, "storage lives while a view holds it");
    graft_tensor_release(&v);
    tap_ok(atomic_load(&ctx->live_bytes) == live - 128, "the last release frees it (96 bytes, rounded to 128)");
    graft_tensor_release(&v);
    tap_ok(v.storage == NULL, "release is idempotent");
}

static void test_cap(graft_ctx *ctx) {
    graft_tensor t;
    graft_error err;
    int64_t n = 1 << 20;
    atomic_store(&ctx->cap, atomic_load(&ctx->live_bytes) + 1000);
    graft_tensor_init_empty(&t);
    tap_ok(graft_tensor_alloc(&t, ctx, GRAFT_F32, 1, &n, &err) == GRAFT_ENOMEM && t.storage == NULL,
           "an allocation over the cap fails and leaves the tensor empty");
    tap_str_contains(err.msg, "memory limit: 4194304 more bytes would exceed the cap", "the cap error says why");
    atomic_store(&ctx->cap, 0);
}

static char *alloc_bytes(graft_tensor *t, graft_ctx *ctx, int64_t bytes, bool zero) {
    graft_error err;
    int64_t n = bytes / 4;
    graft_status st = zero ? graft_tensor_alloc_zeros(t, ctx, GRAFT_F32, 1, &n, &err)
                           : graft_tensor_alloc(t, ctx, GRAFT_F32, 1, &n, &err);
    return st == GRAFT_OK ? graft_tensor_data(t) : NULL;
}

/* The cache of freed pages: a block serves smaller requests, freed neighbours join, and the
 * cache never holds more than the peak of live bytes (and its slack) leaves room for. */
static void test_block_cache(void) {
    graft_ctx ctx;
    graft_ctx_init(&ctx, 1);
    const int64_t MB = 1 << 20;
    graft_tensor a, b, c;
    char *pa = alloc_bytes(&a, &ctx, 4 * MB, false);
    memset(pa, 7, 4 * MB);
    graft_tensor_release(&a);
    tap_ok(graft_ctx_cached_bytes(&ctx) == (size_t)(4 * MB) && ctx.ncached == 1, "a freed 4 MB block is cached");
    char *pb = alloc_bytes(&b, &ctx, MB, false);
    tap_ok(pb == pa && graft_ctx_cached_bytes(&ctx) == (size_t)(3 * MB), "a 1 MB request is cut from it; 3 MB stay cached");
    char *pc = alloc_bytes(&c, &ctx, MB, true);
    bool zero = pc == pa + MB;
    for (int64_t i = 0; zero && i < MB; i++) zero = pc[i] == 0;
    tap_ok(zero, "zeros from a reused block are zero");
    graft_tensor_release(&b);
    graft_tensor_release(&c);
    tap_ok(graft_ctx_cached_bytes(&ctx) == (size_t)(4 * MB) && ctx.ncached == 1,
           "freed neighbours join into one block again");
    pa = alloc_bytes(&a, &ctx, 4 * MB, false);
    tap_ok(pa == pb && graft_ctx_cached_bytes(&ctx) == 0, "and serve the whole size");
    graft_tensor_release(&a);
    pb = alloc_bytes(&b, &ctx, 4 * MB - 8192, false);
    tap_ok(pb == pa && graft_ctx_cached_bytes(&ctx) == 8192 && ctx.ncached == 1,
           "the two pages a request leaves of a block stay cached");
    graft_tensor_release(&b);
    tap_ok(graft_ctx_cached_bytes(&ctx) == (size_t)(4 * MB) && ctx.ncached == 1, "and join it again");

    /* Live plus cached stays under the peak of live bytes (or the 64 MB floor) and its slack. */
    graft_tensor t[12];
    for (int i = 0; i < 12; i++) alloc_bytes(&t[i], &ctx, (i + 1) * MB, false);
    size_t peak = atomic_load(&ctx.peak_bytes);   /* 78 MB */
    peak += peak / GRAFT_CACHE_SLACK;
    bool bounded = true;
    for (int i = 0; i < 12; i += 2) {   /* every other one: nothing joins */
        graft_tensor_release(&t[i]);
        bounded = bounded && atomic_load(&ctx.live_bytes) + graft_ctx_cached_bytes(&ctx) <= peak;
    }
    for (int i = 0; i < 12; i += 2) alloc_bytes(&t[i], &ctx, (i + 1) * MB / 2 + 4096, false);
    for (int i = 0; i < 12; i++) {
        graft_tensor_release(&t[i]);
        bounded = bounded && atomic_load(&ctx.live_bytes) + graft_ctx_cached_bytes(&ctx) <= peak;
    }
    tap_ok(bounded && ctx.ncached <= GRAFT_CACHE_SLOTS, "live + cached bytes never pass the peak and its slack");
    graft_ctx_flush(&ctx);
    tap_ok(graft_ctx_cached_bytes(&ctx) == 0 && ctx.ncached == 0, "flush returns every cached block");
    graft_ctx_close(&ctx);
    alloc_bytes(&a, &ctx, MB, false);
    graft_tensor_release(&a);
    tap_ok(graft_ctx_cached_bytes(&ctx) == 0 && atomic_load(&ctx.live_bytes) == 0,
           "a closed ctx caches nothing");
}

static void test_iter(graft_ctx *ctx) {
    graft_tensor a, b;
    graft_error err;
    int64_t size[3] = {4, 5, 6};
    graft_tensor_init_empty(&a);
    graft_tensor_init_empty(&b);
    graft_tensor_alloc(&a, ctx, GRAFT_F32, 3, size, &err);
    graft_tensor_alloc(&b, ctx, GRAFT_I64, 3, size, &err);
    const graft_tensor *ops[2] = {&a, &b};
    graft_iter it;
    graft_iter_init(&it, 2, ops);
    tap_ok(it.ndim == 1 && it.size[0] == 120 && it.step[0][0] == 4 && it.step[1][0] == 8,
           "contiguous operands merge into one run with per-dtype byte steps");
    graft_tensor n = a;
    graft_view_narrow(&n, 2, 0, 3, &err);
    const graft_tensor *one[1] = {&n};
    graft_iter_init(&it, 1, one);
    tap_ok(it.ndim == 2 && it.size[0] == 20 && it.size[1] == 3, "a narrowed last dim merges the outer dims only");
    graft_tensor_release(&a);
    graft_tensor_release(&b);
}

static void test_rng(void) {
    graft_rng r1, r2;
    graft_rng_seed(&r1, 5);
    graft_rng_seed(&r2, 5);
    int same = 1;
    for (int i = 0; i < 100; i++) same &= graft_rng_u64(&r1) == graft_rng_u64(&r2);
    tap_ok(same, "equal seeds give equal streams");
    uint64_t w1[3] = {1, 2, 3}, w2[3] = {1, 2, 4};
    graft_rng_seed_words(&r1, w1, 3);
    graft_rng_seed_words(&r2, w2, 3);
    tap_ok(graft_rng_u64(&r1) != graft_rng_u64(&r2), "seed words (seed, epoch, index) give distinct streams");
    int in_range = 1, hit_lo = 0, hit_hi = 0;
    for (int i = 0; i < 10000; i++) {
        int64_t v = graft_rng_integer(&r1, -2, 2);
        in_range &= v >= -2 && v <= 2;
        hit_lo |= v == -2;
        hit_hi |= v == 2;
    }
    tap_ok(in_range && hit_lo && hit_hi, "integer(lo, hi) covers [lo, hi] inclusively");
    int neg = 0, pos = 0;
    for (int i = 0; i < 64; i++) {
        int64_t v = graft_rng_integer(&r1, INT64_MIN, INT64_MAX);
        neg |= v < 0;
        pos |= v > 0;
    }
    tap_ok(neg && pos, "integer over the full int64 range draws both signs");
}

static void test_ops(graft_ctx *ctx) {
    graft_tensor a, b, y;
    graft_error err;
    int64_t sa[2] = {2, 1}, sb[1] = {3};
    graft_tensor_init_empty(&a);
    graft_tensor_init_empty(&b);
    graft_tensor_init_empty(&y);
    graft_tensor_alloc(&a, ctx, GRAFT_F32, 2, sa, &err);
    graft_tensor_alloc(&b, ctx, GRAFT_I64, 1, sb, &err);
    float *pa = graft_tensor_data(&a);
    int64_t *pb = graft_tensor_data(&b);
    pa[0] = 10, pa[1] = 20;
    pb[0] = 1, pb[1] = 2, pb[2] = 3;
    tap_ok(graft_binary(ctx, &y, &a, &b, GRAFT_ADD, &err) == GRAFT_OK && y.dtype == GRAFT_F32 && y.ndim == 2,
           "f32 {2,1} + i64 {3} is f32 {2,3}");
    const float *py = graft_tensor_data(&y);
    tap_ok(py[0] == 11 && py[2] == 13 && py[3] == 21 && py[5] == 23, "broadcast values by hand");
    graft_tensor_release(&y);
    tap_ok(graft_binary(ctx, &y, &a, &a, GRAFT_LT, &err) == GRAFT_OK && y.dtype == GRAFT_U8, "comparisons give u8");
    graft_tensor_release(&y);
    float m[4] = {1, 2, 3, 4}, out[4];
    graft_sgemm(false, true, 2, 2, 2, 1.0f, m, 2, m, 2, 0.0f, out, 2);   /* M M^T */
    tap_ok(out[0] == 5 && out[1] == 11 && out[2] == 11 && out[3] == 25, "graft_sgemm computes M M^T");
    graft_tensor_release(&a);
    graft_tensor_release(&b);
}

static void test_safetensors(graft_ctx *ctx) {
    char path[] = "/tmp/graft-c-test-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    graft_tensor w;
    graft_error err;
    int64_t size[2] = {2, 3};
    graft_tensor_init_empty(&w);
    graft_tensor_alloc(&w, ctx, GRAFT_F32, 2, size, &err);
    for (int i = 0; i < 6; i++) ((float *)graft_tensor_data(&w))[i] = (float)i / 2;
    const char *names[1] = {"w"}, *keys[1] = {"format"}, *vals[1] = {"pt"};
    const graft_tensor *ts[1] = {&w};
    tap_ok(graft_st_write(NULL, path, 1, names, ts, 1, keys, vals, &err) == GRAFT_OK, "write a safetensors file");
    graft_st_file f;
    tap_ok(graft_st_open(&f, NULL, path, &err) == GRAFT_OK && f.n == 1 && f.nmeta == 1, "open and validate it");
    graft_tensor r;
    graft_tensor_init_empty(&r);
    tap_ok(graft_st_read(&f, 0, ctx, &r, &err) == GRAFT_OK && graft_tensor_same_shape(&r, &w) &&
               memcmp(graft_tensor_data(&r), graft_tensor_data(&w), 24) == 0, "read it back unchanged");
    graft_st_close(&f);
    graft_st_close(&f);
    tap_ok(f.fd == -1, "close is idempotent");
    FILE *fp = fopen(path, "r+b");
    fputc(0xff, fp);   /* the header length becomes absurd */
    fclose(fp);
    tap_ok(graft_st_open(&f, NULL, path, &err) == GRAFT_EFORMAT && f.fd == -1, "a corrupt length is refused, nothing held");
    tap_str_contains(err.msg, "runs past the end of the file", "and the error says why");
    unlink(path);
    graft_tensor_release(&w);
    graft_tensor_release(&r);
}

/* One thread count governs graft's loops and OpenBLAS. */
static void test_threads(void) {
    tap_ok(graft_threads_get() == openblas_get_num_threads(), "by default graft uses OpenBLAS's count");
    graft_threads_set(1);
    tap_ok(graft_threads_get() == 1 && openblas_get_num_threads() == 1, "set(1) reaches OpenBLAS");
    graft_threads_set(2);
    tap_ok(graft_threads_get() == 2 && openblas_get_num_threads() == 2, "set(2) reaches OpenBLAS");
    int inner = 0;
#pragma omp parallel num_threads(2)
    {
#pragma omp single
        inner = graft_threads_for(1 << 24);
    }
    tap_ok(graft_threads_for(100) == 1 && graft_threads_for(1 << 24) == 2 && inner == 1,
           "small loops, and loops inside a parallel region, stay on one thread");
}

int main(void) {
    graft_ctx ctx;
    graft_ctx_init(&ctx, 1);
    tap_plan(50);
    test_shapes();
    test_views(&ctx);
    test_cap(&ctx);
    test_block_cache();
    test_iter(&ctx);
    test_rng();
    test_ops(&ctx);
    test_safetensors(&ctx);
    test_threads();
    tap_ok(atomic_load(&ctx.live_bytes) == 0, "every storage was freed");
    return tap_done();
}
