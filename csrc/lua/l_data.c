/* graft.data's C side: per-sample generators, built-in transforms applied to a tensor,
 * and the loader's worker pool with its batches. */
#include <string.h>

#include "../core/rng.h"
#include "../data/loader.h"
#include "../data/pipeline.h"
#include "../ops/copy.h"
#include "binding.h"

#define RNG_MT "graft.Rng"
#define POOL_MT "graft.Pool"
#define BATCH_MT "graft.Batch"

/* ---- generators ------------------------------------------------------------------------ */

static graft_rng *push_rng(lua_State *L) {
    graft_rng *r = lua_newuserdatauv(L, sizeof *r, 0);
    luaL_setmetatable(L, RNG_MT);
    return r;
}

/* rng(seed, epoch, index) -> a generator for one sample; rng() -> one seeded from the
 * state's own generator (so graft.manual_seed governs it). */
static int l_rng(lua_State *L) {
    if (lua_isnoneornil(L, 1)) {
        uint64_t words[2] = {graft_rng_u64(&ctx_of(L)->rng), graft_rng_u64(&ctx_of(L)->rng)};
        graft_rng_seed_words(push_rng(L), words, 2);
        return 1;
    }
    uint64_t words[3];
    for (int i = 0; i < 3; i++) words[i] = (uint64_t)luaL_checkinteger(L, i + 1);
    graft_rng_seed_words(push_rng(L), words, 3);
    return 1;
}

/* rng:uniform() in [0, 1); rng:uniform(a, b) in [a, b). */
static int l_rng_uniform(lua_State *L) {
    graft_rng *r = luaL_checkudata(L, 1, RNG_MT);
    double u = graft_rng_uniform(r);
    if (lua_gettop(L) >= 3) {
        double a = luaL_checknumber(L, 2), b = luaL_checknumber(L, 3);
        u = a + (b - a) * u;
    }
    lua_pushnumber(L, u);
    return 1;
}

/* rng:integer(a, b): uniform in [a, b]. */
static int l_rng_integer(lua_State *L) {
    graft_rng *r = luaL_checkudata(L, 1, RNG_MT);
    lua_Integer a = luaL_checkinteger(L, 2), b = luaL_checkinteger(L, 3);
    if (a > b) return raise_error(L, "rng:integer: empty range [%I, %I]", a, b);
    lua_pushinteger(L, graft_rng_integer(r, a, b));
    return 1;
}

/* ---- transforms as data ------------------------------------------------------------------ */

static double number_field(lua_State *L, int t, const char *k, double def) {
    lua_getfield(L, t, k);
    double v = luaL_optnumber(L, -1, def);
    lua_pop(L, 1);
    return v;
}

static int int_field(lua_State *L, int t, const char *k, int def) {
    lua_getfield(L, t, k);
    lua_Integer v = luaL_optinteger(L, -1, def);
    lua_pop(L, 1);
    return (int)v;
}

/* Reads array field k (of up to max numbers) into out; returns its length (0 if absent). */
static int numbers_field(lua_State *L, int t, const char *k, double *out, int max) {
    lua_getfield(L, t, k);
    int n = 0;
    if (lua_istable(L, -1)) {
        n = (int)luaL_len(L, -1);
        if (n > max) raise_error(L, "transform field %s has %d values (at most %d)", k, n, max);
        for (int i = 0; i < n; i++) {
            lua_geti(L, -1, i + 1);
            out[i] = luaL_checknumber(L, -1);
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    return n;
}

static const char *const tf_kinds[] = {"resize", "center_crop", "random_crop", "random_resized_crop", "hflip",
                                       "color_jitter", "normalize", "grayscale", NULL};

/* One step from its Lua description (graft/data/transforms.lua builds them). */
static void check_tf(lua_State *L, int t, graft_tf *tf) {
    memset(tf, 0, sizeof *tf);
    lua_getfield(L, t, "kind");
    tf->kind = (graft_tf_kind)luaL_checkoption(L, -1, NULL, tf_kinds);
    lua_pop(L, 1);
    tf->h = int_field(L, t, "h", 0);
    tf->w = int_field(L, t, "w", 0);
    tf->max_size = int_field(L, t, "max_size", 0);
    lua_getfield(L, t, "filter");
    static const char *const filters[] = {"bilinear", "bicubic", NULL};
    tf->filter = (graft_filter)luaL_checkoption(L, -1, "bilinear", filters);
    lua_pop(L, 1);
    tf->padding = int_field(L, t, "padding", 0);
    lua_getfield(L, t, "pad_if_needed");
    tf->pad_if_needed = lua_toboolean(L, -1);
    lua_pop(L, 1);
    tf->channels = int_field(L, t, "channels", 1);
    tf->p = number_field(L, t, "p", 0.5);
    numbers_field(L, t, "scale", tf->range, 2);
    numbers_field(L, t, "ratio", tf->range + 2, 2);
    static const char *const jitter[4] = {"brightness", "contrast", "saturation", "hue"};
    if (tf->kind == GRAFT_TF_COLOR_JITTER)
        for (int k = 0; k < 4; k++) tf->jitter[k] = numbers_field(L, t, jitter[k], tf->range + 2 * k, 2) == 2;
    tf->nmean = numbers_field(L, t, "mean", tf->mean, GRAFT_TF_MAX_CHANNELS);
    if (numbers_field(L, t, "std", tf->std, GRAFT_TF_MAX_CHANNELS) != tf->nmean)
        raise_error(L, "Normalize: mean and std differ in length");
}

/* Reads the array of step descriptions at idx; returns a userdata-backed array (pushed). */
static graft_tf *check_steps(lua_State *L, int idx, int *n) {
    luaL_checktype(L, idx, LUA_TTABLE);
    *n = (int)luaL_len(L, idx);
    graft_tf *steps = lua_newuserdatauv(L, sizeof *steps * (size_t)(*n ? *n : 1), 0);
    for (int i = 0; i < *n; i++) {
        lua_geti(L, idx, i + 1);
        check_tf(L, lua_gettop(L), &steps[i]);
        lua_pop(L, 1);
    }
    return steps;
}

/* transform(steps, img, rng) -> a new f32 {C, H, W} tensor. */
static int l_transform(lua_State *L) {
    int n;
    graft_tf *steps = check_steps(L, 1, &n);
    graft_tensor *in = check_tensor(L, 2);
    graft_rng *rng = luaL_checkudata(L, 3, RNG_MT);
    if (in->ndim != 3) return raise_error(L, "transform: need an image {C, H, W}, got %d dims", in->ndim);
    graft_tensor *c = push_tensor(L);
    CALL_OR_RAISE(L, "transform", graft_contiguous_as(ctx_of(L), c, in, GRAFT_F32, &err));
    /* The result's userdata is made before the image buffer: between the two allocations
     * below nothing may raise, or the buffer would be lost. */
    graft_tensor *out = push_tensor(L);
    graft_error err;
    graft_fimage img;
    graft_status st = graft_fimage_alloc(&img, (int)c->size[0], (int)c->size[1], (int)c->size[2], &err);
    if (st != GRAFT_OK) return raise_error(L, "transform: %s", err.msg);
    memcpy(img.data, graft_tensor_data(c), sizeof(float) * (size_t)graft_tensor_numel(c));
    st = graft_tf_apply(steps, n, rng, &img, &err);
    int64_t size[3] = {img.c, img.h, img.w};
    if (st == GRAFT_OK) st = graft_tensor_alloc(out, ctx_of(L), GRAFT_F32, 3, size, &err);
    if (st == GRAFT_OK) memcpy(graft_tensor_data(out), img.data, sizeof(float) * (size_t)graft_tensor_numel(out));
    graft_fimage_free(&img);
    check_status(L, st, "transform", &err);
    return 1;
}

/* ---- worker pool -------------------------------------------------------------------------- */

typedef struct {
    graft_pool *pool;
} pool_box;

typedef struct {
    graft_batch *batch;
} batch_box;

/* pool(workers) -> a pool of worker threads. */
static int l_pool(lua_State *L) {
    lua_Integer workers = luaL_checkinteger(L, 1);
    if (workers < 0 || workers > 256) return raise_error(L, "Loader: workers must be in 0..256, not %I", workers);
    pool_box *box = lua_newuserdatauv(L, sizeof *box, 0);
    box->pool = NULL;
    luaL_setmetatable(L, POOL_MT);
    graft_error err;
    graft_status st = graft_pool_new(&box->pool, (int)workers, &err);
    check_status(L, st, "Loader", &err);
    return 1;
}

static int l_pool_gc(lua_State *L) {
    pool_box *box = luaL_checkudata(L, 1, POOL_MT);
    graft_pool_free(box->pool);
    box->pool = NULL;
    return 0;
}

/* pool:submit(paths, seed, epoch, indices, steps, channels, max_pixels) -> batch. Sample i
 * reads paths[i] with the generator of (seed, epoch, indices[i]). */
static int l_pool_submit(lua_State *L) {
    pool_box *box = luaL_checkudata(L, 1, POOL_MT);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer seed = luaL_checkinteger(L, 3), epoch = luaL_checkinteger(L, 4);
    luaL_checktype(L, 5, LUA_TTABLE);
    int nsteps;
    graft_tf *steps = check_steps(L, 6, &nsteps);
    int channels = (int)luaL_checkinteger(L, 7);
    lua_Integer max_pixels = luaL_checkinteger(L, 8);
    if (!box->pool) return raise_error(L, "Loader: the worker pool is closed");
    int n = (int)luaL_len(L, 2);
    graft_sample_spec *samples = lua_newuserdatauv(L, sizeof *samples * (size_t)(n ? n : 1), 0);
    for (int i = 0; i < n; i++) {
        lua_geti(L, 2, i + 1);
        samples[i].path = luaL_checkstring(L, -1);   /* stays alive: paths holds it */
        lua_pop(L, 1);
        lua_geti(L, 5, i + 1);
        samples[i].seed[0] = (uint64_t)seed, samples[i].seed[1] = (uint64_t)epoch;
        samples[i].seed[2] = (uint64_t)luaL_checkinteger(L, -1);
        lua_pop(L, 1);
    }
    batch_box *bb = lua_newuserdatauv(L, sizeof *bb, 1);
    bb->batch = NULL;
    luaL_setmetatable(L, BATCH_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);   /* the pool outlives its batches */
    graft_error err;
    graft_status st = graft_batch_submit(box->pool, n, samples, steps, nsteps, channels, max_pixels, &bb->batch, &err);
    check_status(L, st, "Loader", &err);
    return 1;
}

static graft_batch *check_batch(lua_State *L) {
    batch_box *bb = luaL_checkudata(L, 1, BATCH_MT);
    if (!bb->batch) raise_error(L, "Loader: the batch was freed");
    return bb->batch;
}

/* batch:wait() -> an array of {i, message} for the samples that failed (empty if none). */
static int l_batch_wait(lua_State *L) {
    graft_batch *b = check_batch(L);
    graft_batch_wait(b);
    lua_newtable(L);
    int n = graft_batch_count(b), k = 0;
    for (int i = 0; i < n; i++) {
        graft_error err;
        if (graft_batch_status(b, i, &err) == GRAFT_OK) continue;
        lua_createtable(L, 2, 0);
        lua_pushinteger(L, i + 1);
        lua_rawseti(L, -2, 1);
        lua_pushstring(L, err.msg);
        lua_rawseti(L, -2, 2);
        lua_rawseti(L, -2, ++k);
    }
    return 1;
}

/* batch:collate([keep]) -> f32 {k, C, H, W}; keep is an array of booleans. */
static int l_batch_collate(lua_State *L) {
    graft_batch *b = check_batch(L);
    char *keep = NULL;
    if (lua_istable(L, 2)) {
        int n = (int)luaL_len(L, 2);
        keep = lua_newuserdatauv(L, (size_t)(n ? n : 1), 0);
        for (int i = 0; i < n; i++) {
            lua_geti(L, 2, i + 1);
            keep[i] = (char)lua_toboolean(L, -1);
            lua_pop(L, 1);
        }
    }
    graft_tensor *out = push_tensor(L);
    CALL_OR_RAISE(L, "Loader", graft_batch_collate(b, keep, ctx_of(L), out, &err));
    return 1;
}

/* batch:sample(i) -> sample i as f32 {C, H, W}, and its generator after the C transforms. */
static int l_batch_sample(lua_State *L) {
    graft_batch *b = check_batch(L);
    int i = (int)luaL_checkinteger(L, 2) - 1;
    graft_tensor *out = push_tensor(L);
    CALL_OR_RAISE(L, "Loader", graft_batch_sample(b, i, ctx_of(L), out, &err));
    *push_rng(L) = *graft_batch_rng(b, i);
    return 2;
}

static int l_batch_free(lua_State *L) {
    batch_box *bb = luaL_checkudata(L, 1, BATCH_MT);
    graft_batch_free(bb->batch);
    bb->batch = NULL;
    return 0;
}

void binding_open_data(lua_State *L) {
    static const luaL_Reg rng_methods[] = {{"uniform", l_rng_uniform}, {"integer", l_rng_integer}, {NULL, NULL}};
    static const luaL_Reg pool_methods[] = {{"submit", l_pool_submit}, {"close", l_pool_gc}, {NULL, NULL}};
    static const luaL_Reg batch_methods[] = {{"wait", l_batch_wait}, {"collate", l_batch_collate},
                                             {"sample", l_batch_sample}, {"free", l_batch_free}, {NULL, NULL}};
    struct {
        const char *name;
        const luaL_Reg *methods;
        lua_CFunction gc;
    } types[] = {{RNG_MT, rng_methods, NULL}, {POOL_MT, pool_methods, l_pool_gc}, {BATCH_MT, batch_methods, l_batch_free}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        luaL_newmetatable(L, types[i].name);
        lua_newtable(L);
        binding_setfuncs(L, types[i].methods);
        lua_setfield(L, -2, "__index");
        if (types[i].gc) {
            lua_pushcfunction(L, types[i].gc);
            lua_setfield(L, -2, "__gc");
        }
        lua_pop(L, 1);
    }
    static const luaL_Reg funcs[] = {{"rng", l_rng}, {"transform", l_transform}, {"pool", l_pool}, {NULL, NULL}};
    binding_setfuncs(L, funcs);
}
