/* The tensor userdata: metatable, field storage, constructors, shape queries, views,
 * element access and conversion to Lua tables. */

/***
Tensors: making them, their shape, views and conversion.
@module graft
*/

/***
Tensors: making them, their shape, views and conversion.
@section tensors
*/
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "../ops/copy.h"
#include "binding.h"

/* ---- userdata and arguments ------------------------------------------------------------ */

graft_tensor *push_tensor(lua_State *L) {
    graft_tensor *t = lua_newuserdatauv(L, sizeof *t, 1);
    graft_tensor_init_empty(t);
    luaL_setmetatable(L, TENSOR_MT);
    return t;
}

/* graft's own Lua files (lua/graft/..., installed or compiled into libgraft) and the graft
 * command: a position in them means nothing to the user who called in. */
static bool graft_source(const lua_Debug *ar) {
    const char *src = ar->source;
    if (src[0] != '@') return false;
    size_t n = strlen(src);
    return strstr(src, "/graft/") != NULL || strncmp(src, "@graft/", 7) == 0 ||
           (n >= 10 && strcmp(src + n - 10, "/bin/graft") == 0) || strcmp(src, "@bin/graft") == 0;
}

int raise_error(lua_State *L, const char *fmt, ...) {
    /* luaL_error's position is the caller's, which for a kernel reached through graft's own
     * Lua wrappers is a line inside graft; the first Lua frame outside graft is the user's
     * (none: a host's C call, and no position). */
    lua_Debug ar;
    int level = 1;
    bool placed = false;
    while (!placed && lua_getstack(L, level++, &ar)) {
        lua_getinfo(L, "Sl", &ar);
        if (ar.currentline > 0 && !graft_source(&ar)) {
            lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
            placed = true;
        }
    }
    if (!placed) lua_pushliteral(L, "");
    va_list ap;
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    lua_concat(L, 2);
    return lua_error(L);
}

graft_tensor *check_tensor(lua_State *L, int idx) {
    return luaL_checkudata(L, idx, TENSOR_MT);
}

graft_tensor *test_tensor(lua_State *L, int idx) {
    return luaL_testudata(L, idx, TENSOR_MT);
}

/* Tensor storage lives outside Lua's heap, so Lua's own pace would leave gigabytes of dead
 * activations uncollected. After tensors have allocated 8 times the Lua heap (at least
 * 32 MB, at most 1 GB) a full collection runs: dead blocks go straight back to the ctx's
 * cache, so a loop stops touching fresh pages, and the collection's cost (which grows with
 * the Lua heap) stays small beside the tensor work that paid for it. */
static void gc_nudge(lua_State *L) {
    graft_ctx *ctx = ctx_of(L);
    size_t debt = atomic_load(&ctx->debt);
    if (debt < ((size_t)32 << 20)) return;
    size_t heap = (size_t)lua_gc(L, LUA_GCCOUNT, 0) << 10;
    if (debt < 8 * heap && debt < ((size_t)1 << 30)) return;
    atomic_store(&ctx->debt, 0);
    lua_gc(L, LUA_GCCOLLECT, 0);
}

void check_status(lua_State *L, graft_status st, const char *fn, const graft_error *err) {
    if (st != GRAFT_OK) raise_error(L, "%s: %s", fn, err->msg);
    gc_nudge(L);
}

int check_dim(lua_State *L, int idx, int ndim, int extra, const char *fn) {
    lua_Integer d = luaL_checkinteger(L, idx);
    lua_Integer n = ndim + extra;
    if (d < 0) d += n + 1;
    if (d < 1 || d > n)
        raise_error(L, "%s: dim %d is out of range for a tensor with %d dims (use 1..%d or -%d..-1)",
                   fn, (int)luaL_checkinteger(L, idx), ndim, (int)n, (int)n);
    return (int)d - 1;
}

static int64_t shape_entry(lua_State *L, int idx, const char *fn) {
    int isnum;
    lua_Integer v = lua_tointegerx(L, idx, &isnum);
    if (!isnum) raise_error(L, "%s: shape entries must be integers, got %s", fn, luaL_typename(L, idx));
    return v;
}

int check_shape(lua_State *L, int idx, int64_t *size, const char *fn) {
    int n;
    if (lua_istable(L, idx)) {
        n = (int)luaL_len(L, idx);
        if (n > GRAFT_MAX_DIMS) raise_error(L, "%s: a shape has at most %d dims, not %d", fn, GRAFT_MAX_DIMS, n);
        for (int i = 0; i < n; i++) {
            lua_geti(L, idx, i + 1);
            size[i] = shape_entry(L, -1, fn);
            lua_pop(L, 1);
        }
    } else {
        n = lua_gettop(L) - idx + 1;
        if (n < 0) n = 0;
        if (n > GRAFT_MAX_DIMS) raise_error(L, "%s: a shape has at most %d dims, not %d", fn, GRAFT_MAX_DIMS, n);
        for (int i = 0; i < n; i++) size[i] = shape_entry(L, idx + i, fn);
    }
    return n;
}

graft_dtype check_dtype(lua_State *L, int idx, graft_dtype def) {
    if (lua_isnoneornil(L, idx)) return def;
    graft_dtype dt;
    const char *name = luaL_checkstring(L, idx);
    if (!graft_dtype_from_name(name, &dt))
        raise_error(L, "unknown dtype \"%s\" (expected \"f32\", \"i64\" or \"u8\")", name);
    return dt;
}

void push_shape(lua_State *L, int ndim, const int64_t *size) {
    lua_createtable(L, ndim, 0);
    for (int i = 0; i < ndim; i++) {
        lua_pushinteger(L, size[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

/* Allocates t (already pushed) or raises, retrying once after a full collection. */
static void alloc_or_raise(lua_State *L, graft_tensor *t, graft_dtype dt, int ndim,
                           const int64_t *size, bool zero, const char *fn) {
    CALL_OR_RAISE(L, fn, zero ? graft_tensor_alloc_zeros(t, ctx_of(L), dt, ndim, size, &err)
                             : graft_tensor_alloc(t, ctx_of(L), dt, ndim, size, &err));
}

lua_Integer check_whole(lua_State *L, int idx, graft_dtype dt, const char *fn) {
    int isint;
    lua_Integer v = lua_tointegerx(L, idx, &isint);
    if (isint) return v;
    double d = lua_tonumber(L, idx);
    if (d == floor(d))   /* whole, but outside int64 (NaN and infinities fail the test) */
        raise_error(L, "%s: %s is outside the range of an %s element", fn,
                   luaL_tolstring(L, idx, NULL), graft_dtype_name(dt));
    return raise_error(L, "%s: %s is not an integer (an %s tensor holds whole numbers)", fn,
                      luaL_tolstring(L, idx, NULL), graft_dtype_name(dt));
}

/* Integers are written as integers, never through a float: a Lua integer exactly, a whole
 * float as the exact value it holds (beyond 2^53 every float is whole). A fraction is an
 * error (API.md, "Options and errors"), as is a value outside int64. A u8 element takes
 * what PyTorch's tensor(), full() and fill_() take: -255 to 255, negatives wrapping
 * (torch.tensor([-1], dtype=torch.uint8) is 255; 300 is an overflow error there). */
static void set_number(const graft_tensor *t, char *p, lua_State *L, int idx, const char *fn) {
    switch (t->dtype) {
    case GRAFT_F32: *(float *)p = (float)lua_tonumber(L, idx); break;
    case GRAFT_I64: *(int64_t *)p = check_whole(L, idx, t->dtype, fn); break;
    case GRAFT_U8: {
        lua_Integer v = check_whole(L, idx, t->dtype, fn);
        if (v > 255 || v < -255)
            raise_error(L, "%s: %s is outside the range of a u8 element (0 to 255)", fn, luaL_tolstring(L, idx, NULL));
        *(uint8_t *)p = (uint8_t)(uint64_t)v;
        break;
    }
    }
}

static void push_element(lua_State *L, const graft_tensor *t, const char *p) {
    switch (t->dtype) {
    case GRAFT_F32: lua_pushnumber(L, *(const float *)p); break;
    case GRAFT_I64: lua_pushinteger(L, *(const int64_t *)p); break;
    case GRAFT_U8: lua_pushinteger(L, *(const uint8_t *)p); break;
    }
}

graft_tensor *check_operand(lua_State *L, int idx, const graft_tensor *like) {
    graft_tensor *t = test_tensor(L, idx);
    if (t) return t;
    if (!lua_isnumber(L, idx))
        raise_error(L, "expected a tensor or a number, got %s", luaL_typename(L, idx));
    /* As PyTorch types a Python scalar: it takes the tensor's dtype unless it is a float
     * meeting an integer tensor. */
    graft_dtype dt = like ? like->dtype : GRAFT_F32;
    if (!lua_isinteger(L, idx) && dt != GRAFT_F32) dt = GRAFT_F32;
    int abs_idx = lua_absindex(L, idx);
    t = push_tensor(L);
    alloc_or_raise(L, t, dt, 0, NULL, false, "tensor");
    if (dt == GRAFT_U8)   /* u8 arithmetic with a number wraps, as PyTorch's (u8 + 300 is 44) */
        *(uint8_t *)graft_tensor_data(t) = (uint8_t)(uint64_t)check_whole(L, abs_idx, dt, "tensor");
    else
        set_number(t, graft_tensor_data(t), L, abs_idx, "tensor");
    return t;
}

void fill_number(lua_State *L, graft_tensor *t, int idx, const char *fn) {
    if (t->dtype == GRAFT_F32) {
        graft_fill(t, lua_tonumber(L, idx));
        return;
    }
    /* graft_fill takes a double, which rounds integers beyond 2^53: a 0-dim tensor holding
     * the exact value is broadcast into t instead. */
    idx = lua_absindex(L, idx);
    graft_tensor *v = push_tensor(L);
    alloc_or_raise(L, v, t->dtype, 0, NULL, false, fn);
    set_number(v, graft_tensor_data(v), L, idx, fn);
    graft_error err;
    check_status(L, graft_copy(t, v, &err), fn, &err);
    lua_pop(L, 1);
}

/* ---- metatable: fields live in the uservalue table ------------------------------------ */

/* t.key: a method, else the tensor's own field, else the field's default (upvalue 3,
 * e.g. requires_grad = false). */
static int l_tensor_index(lua_State *L) {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL) return 1;
    if (lua_getiuservalue(L, 1, 1) == LUA_TTABLE) {
        lua_pushvalue(L, 2);
        if (lua_rawget(L, -2) != LUA_TNIL) return 1;
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(3));
    return 1;
}

static int l_tensor_newindex(lua_State *L) {
    if (lua_getiuservalue(L, 1, 1) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setiuservalue(L, 1, 1);
    }
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    lua_rawset(L, -3);
    return 0;
}

/***
Frees the storage now instead of at collection (also what `<close>` does); the tensor must not be used after.
@function Tensor:release
*/
static int l_tensor_release(lua_State *L) { /* __gc and __close; idempotent */
    graft_tensor_release(check_tensor(L, 1));
    return 0;
}

static int l_tensor_len(lua_State *L) {
    graft_tensor *t = check_tensor(L, 1);
    if (t->ndim == 0) return raise_error(L, "len: a 0-dim tensor has no length");
    lua_pushinteger(L, t->size[0]);
    return 1;
}

/* ---- constructors ----------------------------------------------------------------------- */

/* Reads "shape [, dtype]" from idx on: a shape table or sizes, then an optional dtype. */
static int shape_and_dtype(lua_State *L, int idx, int64_t *size, graft_dtype *dt, const char *fn) {
    int top = lua_gettop(L);
    *dt = GRAFT_F32;
    if (top >= idx && lua_type(L, top) == LUA_TSTRING) {
        *dt = check_dtype(L, top, GRAFT_F32);
        lua_settop(L, top - 1);
    }
    return check_shape(L, idx, size, fn);
}

static graft_tensor *new_tensor(lua_State *L, graft_dtype dt, int nd, const int64_t *size,
                                bool zero, const char *fn) {
    graft_tensor *t = push_tensor(L);
    alloc_or_raise(L, t, dt, nd, size, zero, fn);
    return t;
}

enum init { INIT_NONE, INIT_ZEROS, INIT_ONES };

/* zeros, ones, empty: "shape [, dtype]" -> a new tensor. */
static int new_shaped(lua_State *L, enum init how, const char *fn) {
    int64_t size[GRAFT_MAX_DIMS];
    graft_dtype dt;
    int nd = shape_and_dtype(L, 1, size, &dt, fn);
    graft_tensor *t = new_tensor(L, dt, nd, size, how == INIT_ZEROS, fn);
    if (how == INIT_ONES) graft_fill(t, 1.0);
    return 1;
}

/***
A new tensor of zeros.
@tparam {int,...}|int shape the sizes, as `{2, 3}` or `2, 3`
@tparam[opt="f32"] string dtype `"f32"`, `"i64"` or `"u8"`
@treturn Tensor
@function zeros
*/
static int l_zeros(lua_State *L) { return new_shaped(L, INIT_ZEROS, "zeros"); }
/***
A new tensor of ones.
@tparam {int,...}|int shape the sizes
@tparam[opt="f32"] string dtype
@treturn Tensor
@function ones
*/
static int l_ones(lua_State *L) { return new_shaped(L, INIT_ONES, "ones"); }
/***
A new tensor whose values are not set.
@tparam {int,...}|int shape the sizes
@tparam[opt="f32"] string dtype
@treturn Tensor
@function empty
*/
static int l_empty(lua_State *L) { return new_shaped(L, INIT_NONE, "empty"); }

/* full(shape, value [, dtype]) */
/***
A new tensor filled with one value (exact beyond 2^53 for i64).
@tparam {int,...} shape the sizes
@number value
@tparam[opt="f32"] string dtype
@treturn Tensor
@function full
*/
static int l_full(lua_State *L) {
    int64_t size[GRAFT_MAX_DIMS];
    luaL_checktype(L, 1, LUA_TTABLE);
    int nd = check_shape(L, 1, size, "full");
    luaL_checknumber(L, 2);
    graft_dtype dt = check_dtype(L, 3, GRAFT_F32);
    graft_tensor *t = new_tensor(L, dt, nd, size, false, "full");
    fill_number(L, t, 2, "full");
    return 1;
}

static int random_fill(lua_State *L, bool normal, const char *fn) {
    int64_t size[GRAFT_MAX_DIMS];
    graft_dtype dt;
    int nd = shape_and_dtype(L, 1, size, &dt, fn);
    if (dt != GRAFT_F32) return raise_error(L, "%s: random tensors are f32, not %s", fn, graft_dtype_name(dt));
    graft_tensor *t = new_tensor(L, GRAFT_F32, nd, size, false, fn);
    graft_rng *rng = &ctx_of(L)->rng;
    if (normal) graft_rng_fill_normal(rng, graft_tensor_data(t), graft_tensor_numel(t), 0.0f, 1.0f);
    else graft_rng_fill_uniform(rng, graft_tensor_data(t), graft_tensor_numel(t), 0.0f, 1.0f);
    return 1;
}

/***
Uniform samples in [0, 1) from the state's generator, f32.
@tparam {int,...}|int shape the sizes
@treturn Tensor
@function rand
*/
static int l_rand(lua_State *L) { return random_fill(L, false, "rand"); }

/* t:uniform_([a, b]) and t:normal_([mean, std]): refill a contiguous f32 tensor in place from
 * the state's generator (initialisers use these: no temporaries the size of the tensor). */
static int refill(lua_State *L, bool normal, const char *fn) {
    graft_tensor *t = check_tensor(L, 1);
    if (t->dtype != GRAFT_F32 || !graft_tensor_is_contiguous(t))
        return raise_error(L, "%s: expects a contiguous f32 tensor", fn);
    double a = luaL_optnumber(L, 2, 0.0), b = luaL_optnumber(L, 3, 1.0);
    graft_rng *rng = &ctx_of(L)->rng;
    if (normal) graft_rng_fill_normal(rng, graft_tensor_data(t), graft_tensor_numel(t), (float)a, (float)b);
    else graft_rng_fill_uniform(rng, graft_tensor_data(t), graft_tensor_numel(t), (float)a, (float)b);
    graft_tensor_mark_written(t);
    lua_settop(L, 1);
    return 1;
}

/***
Fills the tensor in place with uniform samples in [low, high).
@number[opt=0] low
@number[opt=1] high
@treturn Tensor the tensor
@function Tensor:uniform_
*/
static int l_uniform_(lua_State *L) { return refill(L, false, "uniform_"); }
/***
Fills the tensor in place with normal samples.
@number[opt=0] mean
@number[opt=1] std
@treturn Tensor the tensor
@function Tensor:normal_
*/
static int l_normal_(lua_State *L) { return refill(L, true, "normal_"); }
/***
Standard normal samples from the state's generator, f32.
@tparam {int,...}|int shape the sizes
@treturn Tensor
@function randn
*/
static int l_randn(lua_State *L) { return random_fill(L, true, "randn"); }

/* randint(low, high, shape): i64 integers in [low, high), as torch.randint. */
/***
Integers drawn uniformly from [low, high), i64.
@int low
@int high (excluded)
@tparam {int,...} shape
@treturn Tensor
@function randint
*/
static int l_randint(lua_State *L) {
    lua_Integer lo = luaL_checkinteger(L, 1), hi = luaL_checkinteger(L, 2);
    if (lo >= hi) return raise_error(L, "randint: low (%I) must be below high (%I)", lo, hi);
    int64_t size[GRAFT_MAX_DIMS];
    int nd = check_shape(L, 3, size, "randint");
    graft_tensor *t = new_tensor(L, GRAFT_I64, nd, size, false, "randint");
    int64_t *p = graft_tensor_data(t), n = graft_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) p[i] = graft_rng_integer(&ctx_of(L)->rng, lo, hi - 1);
    return 1;
}

/* randperm(n): a random permutation of 1..n (i64): positions, so 1-based as in Lua. */
/***
A random permutation of 1..n, i64.
@int n
@treturn Tensor
@function randperm
*/
static int l_randperm(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 0, 1, "n must be >= 0");
    int64_t size = n;
    graft_tensor *t = new_tensor(L, GRAFT_I64, 1, &size, false, "randperm");
    int64_t *p = graft_tensor_data(t);
    for (int64_t i = 0; i < n; i++) p[i] = i + 1;
    for (int64_t i = n - 1; i > 0; i--) {          /* Fisher-Yates */
        int64_t j = graft_rng_integer(&ctx_of(L)->rng, 0, i), tmp = p[i];
        p[i] = p[j];
        p[j] = tmp;
    }
    return 1;
}

/* arange(a [, b [, step]] [, dtype]): values from a (default 0) up to but excluding b. As in
 * PyTorch: these are values, not positions, so arange(5) is 0..4; integer arguments give i64,
 * any float gives f32. */
/***
Values from a up to (not including) b by step, as torch.arange: `arange(5)` is 0..4.
Integer arguments give i64, any float gives f32.
@number a the start (or the end, alone)
@number[opt] b the end
@number[opt=1] step
@tparam[opt] string dtype
@treturn Tensor
@function arange
*/
static int l_arange(lua_State *L) {
    int top = lua_gettop(L);
    bool explicit_dt = top >= 1 && lua_type(L, top) == LUA_TSTRING;
    graft_dtype dt = explicit_dt ? check_dtype(L, top, GRAFT_F32) : GRAFT_I64;
    if (explicit_dt) top--;
    if (top < 1 || top > 3)
        return raise_error(L, "arange: expected arange(end), arange(start, end) or arange(start, end, step)");
    bool all_int = true, whole = true;
    lua_Integer iv[3] = {0, 0, 1};   /* start, end, step as integers, where they are whole */
    for (int i = 1; i <= top; i++) {
        luaL_checknumber(L, i);
        int ok;
        iv[top == 1 ? 1 : i - 1] = lua_tointegerx(L, i, &ok);
        whole = whole && ok;
        all_int = all_int && lua_isinteger(L, i);
    }
    if (!explicit_dt && !all_int) dt = GRAFT_F32;
    /* Integer arguments, or whole ones for an integer dtype, count and step as integers:
     * through doubles, arange(2^60, 2^60 + 3) would be empty. */
    bool int_path = whole && (all_int || dt != GRAFT_F32);
    double a = top >= 2 ? lua_tonumber(L, 1) : 0, b = lua_tonumber(L, top >= 2 ? 2 : 1);
    double step = top == 3 ? lua_tonumber(L, 3) : 1;
    if (step == 0 || !isfinite(a) || !isfinite(b) || !isfinite(step))
        return raise_error(L, "arange: the step must be nonzero and the bounds finite");
    double count = ceil((b - a) / step);
    if (int_path) {   /* the distance in uint64, which holds any difference of two int64 */
        bool up = iv[2] > 0;
        uint64_t dist = up ? (iv[1] > iv[0] ? (uint64_t)iv[1] - (uint64_t)iv[0] : 0)
                           : (iv[0] > iv[1] ? (uint64_t)iv[0] - (uint64_t)iv[1] : 0);
        uint64_t st = up ? (uint64_t)iv[2] : 0 - (uint64_t)iv[2];
        count = (double)(dist / st + (dist % st != 0));
    }
    if (count < 0) count = 0;
    if (count > 4.0e15) return raise_error(L, "arange: too many elements (%f)", count);
    int64_t n = (int64_t)count;
    graft_tensor *t = new_tensor(L, dt, 1, &n, false, "arange");
    char *p = graft_tensor_data(t);
    size_t es = graft_dtype_size(dt);
    for (int64_t i = 0; i < n; i++) {
        if (int_path) lua_pushinteger(L, (lua_Integer)((uint64_t)iv[0] + (uint64_t)i * (uint64_t)iv[2]));
        else lua_pushnumber(L, a + (double)i * step);
        set_number(t, p + i * (int64_t)es, L, -1, "arange");
        lua_pop(L, 1);
    }
    return 1;
}

/* The shape of a nested table, found by following first elements. */
static int nested_shape(lua_State *L, int idx, int64_t *size) {
    int nd = 0;
    lua_pushvalue(L, idx);
    while (lua_istable(L, -1)) {
        if (nd == GRAFT_MAX_DIMS) raise_error(L, "tensor: nesting deeper than %d levels", GRAFT_MAX_DIMS);
        size[nd++] = (int64_t)luaL_len(L, -1);
        lua_geti(L, -1, 1);
        lua_remove(L, -2);
    }
    lua_pop(L, 1);
    return nd;
}

/* Copies the nested table at idx (depth d) into t from element *at on, checking raggedness. */
static void fill_nested(lua_State *L, int idx, const graft_tensor *t, int d, int64_t *at) {
    int64_t n = (int64_t)luaL_len(L, idx);
    if (n != t->size[d])
        raise_error(L, "tensor: ragged nested table: %I elements at depth %d where %I were expected",
                   (lua_Integer)n, d + 1, (lua_Integer)t->size[d]);
    luaL_checkstack(L, 2, "tensor: nesting");
    size_t es = graft_dtype_size(t->dtype);
    for (int64_t i = 1; i <= n; i++) {
        int type = lua_geti(L, idx, i);
        if (d + 1 < t->ndim) {
            if (type != LUA_TTABLE)
                raise_error(L, "tensor: ragged nested table: a %s at depth %d where a table was expected",
                           lua_typename(L, type), d + 2);
            fill_nested(L, lua_gettop(L), t, d + 1, at);
        } else {
            if (type == LUA_TBOOLEAN) {
                lua_pushinteger(L, lua_toboolean(L, -1));
                lua_replace(L, -2);
            } else if (type != LUA_TNUMBER) {
                raise_error(L, "tensor: elements must be numbers or booleans, got a %s at depth %d",
                           lua_typename(L, type), d + 1);
            }
            set_number(t, (char *)graft_tensor_data(t) + (*at)++ * (int64_t)es, L, -1, "tensor");
        }
        lua_pop(L, 1);
    }
}

/* tensor(data [, dtype]): data a number, boolean, nested table or tensor (copied). */
/***
A tensor from a number, a boolean, a nested table of them, or a tensor (copied).
@param data
@tparam[opt] string dtype the default is f32 for numbers with fractions, i64 for integers, u8 for booleans
@treturn Tensor
@function tensor
*/
static int l_tensor_new(lua_State *L) {
    graft_tensor *src = test_tensor(L, 1);
    graft_dtype dt = check_dtype(L, 2, src ? src->dtype : GRAFT_F32);
    if (src) {
        graft_tensor *out = push_tensor(L);
        CALL_OR_RAISE(L, "tensor", graft_clone_as(ctx_of(L), out, src, dt, &err));
        return 1;
    }
    int64_t size[GRAFT_MAX_DIMS];
    int nd = 0;
    if (lua_istable(L, 1)) nd = nested_shape(L, 1, size);
    else if (!lua_isnumber(L, 1) && !lua_isboolean(L, 1))
        return luaL_argerror(L, 1, "expected a number, a nested table of numbers or a tensor");
    graft_tensor *t = new_tensor(L, dt, nd, size, false, "tensor");
    int out = lua_gettop(L);
    if (nd == 0) {
        if (lua_isboolean(L, 1)) lua_pushinteger(L, lua_toboolean(L, 1));
        else lua_pushvalue(L, 1);
        set_number(t, graft_tensor_data(t), L, -1, "tensor");
    } else {
        int64_t at = 0;
        fill_nested(L, 1, t, 0, &at);
    }
    lua_settop(L, out);
    return 1;
}

/* ---- queries ------------------------------------------------------------------------------ */

/***
The sizes, as a new array.
@treturn {int,...}
@function Tensor:shape
*/
static int l_shape(lua_State *L) {
    graft_tensor *t = check_tensor(L, 1);
    push_shape(L, t->ndim, t->size);
    return 1;
}

/***
The size of one dim, or all sizes (as `shape`).
@int[opt] d a dim (1-based; negative counts from the end)
@treturn int|{int,...}
@function Tensor:size
*/
static int l_size(lua_State *L) {
    graft_tensor *t = check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) return l_shape(L);
    lua_pushinteger(L, t->size[check_dim(L, 2, t->ndim, 0, "size")]);
    return 1;
}

/***
The stride of one dim, or all strides, in elements.
@int[opt] d
@treturn int|{int,...}
@function Tensor:stride
*/
static int l_stride(lua_State *L) {
    graft_tensor *t = check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) {
        push_shape(L, t->ndim, t->stride);
        return 1;
    }
    lua_pushinteger(L, t->stride[check_dim(L, 2, t->ndim, 0, "stride")]);
    return 1;
}

/***
The number of dims.
@treturn int
@function Tensor:dim
*/
static int l_dim(lua_State *L) {
    lua_pushinteger(L, check_tensor(L, 1)->ndim);
    return 1;
}

/***
The number of elements.
@treturn int
@function Tensor:numel
*/
static int l_numel(lua_State *L) {
    lua_pushinteger(L, graft_tensor_numel(check_tensor(L, 1)));
    return 1;
}

/***
The element type: `"f32"`, `"i64"` or `"u8"`.
@treturn string
@function Tensor:dtype
*/
static int l_dtype(lua_State *L) {
    lua_pushstring(L, graft_dtype_name(check_tensor(L, 1)->dtype));
    return 1;
}

/***
True when the elements are laid out in row-major order without gaps.
@treturn boolean
@function Tensor:is_contiguous
*/
static int l_is_contiguous(lua_State *L) {
    lua_pushboolean(L, graft_tensor_is_contiguous(check_tensor(L, 1)));
    return 1;
}

/* Whether two tensors are views of one storage. */
/***
True when two tensors are views of the same storage.
@tparam Tensor other
@treturn boolean
@function Tensor:shares_storage
*/
static int l_shares_storage(lua_State *L) {
    graft_tensor *a = check_tensor(L, 1), *b = check_tensor(L, 2);
    lua_pushboolean(L, a->storage != NULL && a->storage == b->storage);
    return 1;
}

/***
How many in-place writes its storage has had, through any view (PyTorch's `_version`):
modules key what they derive from their weights on it.
@treturn int
@function Tensor:version
*/
static int l_version(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)graft_tensor_version(check_tensor(L, 1)));
    return 1;
}

/***
The value of a one-element tensor, as a Lua number (an integer for i64 and u8).
@treturn number
@function Tensor:item
*/
static int l_item(lua_State *L) {
    graft_tensor *t = check_tensor(L, 1);
    if (graft_tensor_numel(t) != 1) {
        char b[128];
        return raise_error(L, "item: the tensor %s has %I elements, not one",
                          graft_shape_str(b, sizeof b, t->ndim, t->size), (lua_Integer)graft_tensor_numel(t));
    }
    push_element(L, t, graft_tensor_data(t));   /* the one element sits at offset 0 */
    return 1;
}

static void push_nested(lua_State *L, const graft_tensor *t, int d, const char *p) {
    if (d == t->ndim) {
        push_element(L, t, p);
        return;
    }
    luaL_checkstack(L, 3, "totable");
    size_t es = graft_dtype_size(t->dtype);
    lua_createtable(L, t->size[d] < (1 << 24) ? (int)t->size[d] : 0, 0);
    for (int64_t i = 0; i < t->size[d]; i++) {
        push_nested(L, t, d + 1, p + i * t->stride[d] * (int64_t)es);
        lua_rawseti(L, -2, i + 1);
    }
}

/***
The values as nested Lua arrays (a number for a 0-dim tensor).
@treturn table
@function Tensor:totable
*/
static int l_totable(lua_State *L) {
    graft_tensor *t = check_tensor(L, 1);
    push_nested(L, t, 0, graft_tensor_data(t));
    return 1;
}

/* The address of the element at the Lua indices idx .. idx+ndim-1 (1-based, negative from
 * the end). */
static char *element_at(lua_State *L, const graft_tensor *t, int idx, const char *fn) {
    int64_t off = 0;
    for (int d = 0; d < t->ndim; d++) {
        lua_Integer i = luaL_checkinteger(L, idx + d);
        lua_Integer j = i < 0 ? i + t->size[d] + 1 : i;
        if (j < 1 || j > t->size[d])
            raise_error(L, "%s: index %I is out of range for dim %d of size %I", fn, i, d + 1,
                       (lua_Integer)t->size[d]);
        off += (j - 1) * t->stride[d];
    }
    return (char *)graft_tensor_data(t) + off * (int64_t)graft_dtype_size(t->dtype);
}

/***
One element, by 1-based positions (negative count from the end).
@int ... one position per dim
@treturn number
@function Tensor:get
*/
static int l_get(lua_State *L) {
    graft_tensor *t = check_tensor(L, 1);
    int n = lua_gettop(L) - 1;
    if (n != t->ndim) return raise_error(L, "get: expected %d indices, got %d", t->ndim, n);
    push_element(L, t, element_at(L, t, 2, "get"));
    return 1;
}

/***
Sets one element: `t:set(i, j, value)`.
@param ... the positions, then the value
@treturn Tensor the tensor
@function Tensor:set
*/
static int l_set(lua_State *L) {
    graft_tensor *t = check_tensor(L, 1);
    int n = lua_gettop(L) - 2;
    if (n != t->ndim)
        return raise_error(L, "set: expected %d indices and a value, got %d arguments", t->ndim, n + 1);
    luaL_checknumber(L, n + 2);
    set_number(t, element_at(L, t, 2, "set"), L, n + 2, "set");
    graft_tensor_mark_written(t);
    lua_settop(L, 1);
    return 1;
}

/* ---- copies and conversions ------------------------------------------------------------- */

static int copy_as(lua_State *L, graft_dtype dt, bool always, const char *fn) {
    graft_tensor *t = check_tensor(L, 1);
    if (!always && t->dtype == dt && graft_tensor_is_contiguous(t)) {
        lua_settop(L, 1);   /* already what was asked for: the same tensor, as in PyTorch */
        return 1;
    }
    graft_tensor *out = push_tensor(L);
    CALL_OR_RAISE(L, fn, graft_clone_as(ctx_of(L), out, t, dt, &err));
    return 1;
}

/***
A contiguous copy.
@treturn Tensor
@function Tensor:clone
*/
static int l_clone(lua_State *L) { return copy_as(L, check_tensor(L, 1)->dtype, true, "clone"); }
/***
The tensor itself when contiguous, else a contiguous copy.
@treturn Tensor
@function Tensor:contiguous
*/
static int l_contiguous(lua_State *L) { return copy_as(L, check_tensor(L, 1)->dtype, false, "contiguous"); }

/***
A copy converted to another dtype (f32 to integers truncates toward zero; to u8 wraps), or the tensor itself when it already has that dtype.
@string dtype
@treturn Tensor
@function Tensor:to
*/
static int l_to(lua_State *L) {
    graft_tensor *t = check_tensor(L, 1);
    graft_dtype dt = check_dtype(L, 2, t->dtype);
    if (dt == t->dtype) {
        lua_settop(L, 1);
        return 1;
    }
    return copy_as(L, dt, true, "to");
}

/* ---- views ------------------------------------------------------------------------------- */

/* Pushes a view of t with header h (derived from t's): a new userdata sharing t's storage. */
static void push_view(lua_State *L, const graft_tensor *t, const graft_tensor *h) {
    graft_tensor *v = push_tensor(L);
    graft_tensor_share(v, t);
    *v = *h;   /* same storage pointer, so the reference just taken is v's */
}

/* Resolves a single -1 in size against numel. */
static void infer_size(lua_State *L, int64_t *size, int nd, int64_t numel, const char *fn) {
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < nd; i++) {
        if (size[i] == -1) {
            if (infer >= 0) raise_error(L, "%s: only one dim can be -1", fn);
            infer = i;
        } else if (size[i] < 0) {
            raise_error(L, "%s: invalid size %I", fn, (lua_Integer)size[i]);
        } else if (known >= 0) {
            known = size[i] && known > INT64_MAX / size[i] ? -1 : known * size[i];
        }
    }
    if (infer < 0) return;
    if (known <= 0 || numel % known != 0) {
        char b[128];
        raise_error(L, "%s: shape %s is invalid for %I elements", fn,
                   graft_shape_str(b, sizeof b, nd, size), (lua_Integer)numel);
    }
    size[infer] = numel / known;
}

static int view_or_reshape(lua_State *L, bool may_copy, const char *fn) {
    graft_tensor *t = check_tensor(L, 1);
    int64_t size[GRAFT_MAX_DIMS];
    int nd = check_shape(L, 2, size, fn);
    infer_size(L, size, nd, graft_tensor_numel(t), fn);
    graft_error why;
    graft_tensor h = *t;
    graft_status st = graft_view_reshape(&h, nd, size, &why);
    if (st == GRAFT_OK) {
        push_view(L, t, &h);
        return 1;
    }
    if (!may_copy || graft_shape_numel(nd, size) != graft_tensor_numel(t)) check_status(L, st, fn, &why);
    graft_tensor *out = push_tensor(L);   /* strides forbid a view: reshape copies */
    CALL_OR_RAISE(L, fn, graft_clone_as(ctx_of(L), out, t, t->dtype, &err));
    check_status(L, graft_view_reshape(out, nd, size, &why), fn, &why);
    return 1;
}

/***
A view with another shape (one size may be -1); an error when the strides do not allow it.
@tparam {int,...}|int shape
@treturn Tensor
@function Tensor:view
*/
static int l_view(lua_State *L) { return view_or_reshape(L, false, "view"); }
/***
A view with another shape when the strides allow, else a copy.
@tparam {int,...}|int shape
@treturn Tensor
@function Tensor:reshape
*/
static int l_reshape(lua_State *L) { return view_or_reshape(L, true, "reshape"); }

/***
A view broadcast to a larger shape (stride 0 along the new or size-1 dims; -1 keeps a size).
@tparam {int,...}|int shape
@treturn Tensor
@function Tensor:expand
*/
static int l_expand(lua_State *L) {
    graft_tensor *t = check_tensor(L, 1);
    int64_t size[GRAFT_MAX_DIMS];
    int nd = check_shape(L, 2, size, "expand");
    graft_error err;
    graft_tensor h = *t;
    check_status(L, graft_view_expand(&h, nd, size, &err), "expand", &err);
    push_view(L, t, &h);
    return 1;
}

/***
A view with two dims swapped.
@int d1
@int d2
@treturn Tensor
@function Tensor:transpose
*/
static int l_transpose(lua_State *L) {
    graft_tensor *t = check_tensor(L, 1);
    int d1 = check_dim(L, 2, t->ndim, 0, "transpose"), d2 = check_dim(L, 3, t->ndim, 0, "transpose");
    graft_tensor h = *t;
    graft_view_transpose(&h, d1, d2);
    push_view(L, t, &h);
    return 1;
}

/* detach(): a new tensor on the same storage, outside any autograd graph. */
/***
A view of the same storage outside the autograd graph.
@treturn Tensor
@function Tensor:detach
*/
static int l_detach(lua_State *L) {
    graft_tensor *t = check_tensor(L, 1);
    push_view(L, t, t);
    return 1;
}

/* as_strided(size, stride [, offset]): a view with the given geometry over t's storage
 * (offset in elements from t's first, 1-based as a position: 1 is t's first element). Every
 * element the view can reach must lie inside the storage t spans when contiguous. */
/***
A view with the given sizes, strides and offset into the storage (checked against it).
@tparam {int,...} size
@tparam {int,...} stride
@int[opt=0] offset in elements
@treturn Tensor
@function Tensor:as_strided
*/
static int l_as_strided(lua_State *L) {
    graft_tensor *t = check_tensor(L, 1);
    int64_t size[GRAFT_MAX_DIMS], stride[GRAFT_MAX_DIMS];
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    int nd = check_shape(L, 2, size, "as_strided");
    lua_pushvalue(L, 3);
    int ns = check_shape(L, lua_gettop(L), stride, "as_strided");
    lua_pop(L, 1);
    lua_Integer start = luaL_optinteger(L, 4, 1) - 1;
    if (nd != ns) return raise_error(L, "as_strided: %d sizes but %d strides", nd, ns);
    if (!graft_tensor_is_contiguous(t)) return raise_error(L, "as_strided: the tensor must be contiguous");
    int64_t last = start, numel = graft_tensor_numel(t);
    bool empty = false;
    for (int i = 0; i < nd; i++) {
        if (size[i] < 0 || stride[i] < 0) return raise_error(L, "as_strided: sizes and strides must be >= 0");
        if (size[i] == 0) empty = true;
        else if (stride[i] > (INT64_MAX - last) / (size[i] - 1 ? size[i] - 1 : 1)) return raise_error(L, "as_strided: strides overflow");
        else last += (size[i] - 1) * stride[i];
    }
    if (start < 0 || (!empty && last >= numel))
        return raise_error(L, "as_strided: the view reaches element %I of a tensor of %I", (lua_Integer)last + 1, (lua_Integer)numel);
    graft_tensor h = *t;
    h.ndim = nd;
    h.offset += start;
    memcpy(h.size, size, sizeof(int64_t) * (size_t)nd);
    memcpy(h.stride, stride, sizeof(int64_t) * (size_t)nd);
    push_view(L, t, &h);
    return 1;
}

/* t:t(): the transpose of a matrix; a vector comes back unchanged (torch.Tensor.t). */
/***
The transpose of a matrix (a view); vectors are returned as they are.
@treturn Tensor
@function Tensor:t
*/
static int l_t(lua_State *L) {
    graft_tensor *t = check_tensor(L, 1);
    if (t->ndim > 2) return raise_error(L, "t: expects a tensor with at most 2 dims, got %d", t->ndim);
    graft_tensor h = *t;
    if (t->ndim == 2) graft_view_transpose(&h, 0, 1);
    push_view(L, t, &h);
    return 1;
}

/***
A view with the dims reordered.
@tparam {int,...} dims a permutation of 1..dim()
@treturn Tensor
@function Tensor:permute
*/
static int l_permute(lua_State *L) {
    graft_tensor *t = check_tensor(L, 1);
    int64_t p[GRAFT_MAX_DIMS];
    int n = check_shape(L, 2, p, "permute");
    if (n != t->ndim) return raise_error(L, "permute: expected %d dims, got %d", t->ndim, n);
    int perm[GRAFT_MAX_DIMS];
    for (int i = 0; i < n; i++) {
        int64_t d = p[i] < 0 ? p[i] + n + 1 : p[i];
        if (d < 1 || d > n)
            return raise_error(L, "permute: dim %I is out of range for %d dims", (lua_Integer)p[i], n);
        perm[i] = (int)d - 1;
    }
    graft_error err;
    graft_tensor h = *t;
    check_status(L, graft_view_permute(&h, perm, &err), "permute", &err);
    push_view(L, t, &h);
    return 1;
}

/* narrow(dim, start, length): positions start .. start+length-1 of dim. */
/***
A view of `length` positions of dim `d` from `start`.
@int d
@int start 1-based
@int length
@treturn Tensor
@function Tensor:narrow
*/
static int l_narrow(lua_State *L) {
    graft_tensor *t = check_tensor(L, 1);
    int d = check_dim(L, 2, t->ndim, 0, "narrow");
    lua_Integer start = luaL_checkinteger(L, 3), len = luaL_checkinteger(L, 4);
    if (start < 0) start += t->size[d] + 1;
    graft_error err;
    graft_tensor h = *t;
    check_status(L, graft_view_narrow(&h, d, start - 1, len, &err), "narrow", &err);
    push_view(L, t, &h);
    return 1;
}

/***
A view of position i of dim d, without that dim.
@int d
@int i 1-based
@treturn Tensor
@function Tensor:select
*/
static int l_select(lua_State *L) {
    graft_tensor *t = check_tensor(L, 1);
    int d = check_dim(L, 2, t->ndim, 0, "select");
    lua_Integer i = luaL_checkinteger(L, 3), j = i < 0 ? i + t->size[d] + 1 : i;
    if (j < 1 || j > t->size[d])
        return raise_error(L, "select: index %I is out of range for dim %d of size %I", i, d + 1,
                          (lua_Integer)t->size[d]);
    graft_tensor h = *t;
    graft_view_select(&h, d, j - 1);
    push_view(L, t, &h);
    return 1;
}

/***
A view with a size-1 dim inserted at d.
@int d
@treturn Tensor
@function Tensor:unsqueeze
*/
static int l_unsqueeze(lua_State *L) {
    graft_tensor *t = check_tensor(L, 1);
    int d = check_dim(L, 2, t->ndim, 1, "unsqueeze");
    graft_error err;
    graft_tensor h = *t;
    check_status(L, graft_view_unsqueeze(&h, d, &err), "unsqueeze", &err);
    push_view(L, t, &h);
    return 1;
}

/***
A view without size-1 dims (all, or only d).
@int[opt] d
@treturn Tensor
@function Tensor:squeeze
*/
static int l_squeeze(lua_State *L) {
    graft_tensor *t = check_tensor(L, 1);
    int d = lua_isnoneornil(L, 2) ? -1 : check_dim(L, 2, t->ndim, 0, "squeeze");
    graft_tensor h = *t;
    graft_view_squeeze(&h, d);
    push_view(L, t, &h);
    return 1;
}

/* flatten([start [, end]]): merges dims start..end (default: all) into one. */
/***
Dims start..stop merged into one (a view when possible), as torch.flatten.
@int[opt=1] start
@int[opt=-1] stop
@treturn Tensor
@function Tensor:flatten
*/
static int l_flatten(lua_State *L) {
    graft_tensor *t = check_tensor(L, 1);
    int64_t size[GRAFT_MAX_DIMS];
    int nd = 0;
    if (t->ndim == 0) {
        size[nd++] = 1;
    } else {
        int s = lua_isnoneornil(L, 2) ? 0 : check_dim(L, 2, t->ndim, 0, "flatten");
        int e = lua_isnoneornil(L, 3) ? t->ndim - 1 : check_dim(L, 3, t->ndim, 0, "flatten");
        if (s > e) return raise_error(L, "flatten: start dim %d comes after end dim %d", s + 1, e + 1);
        for (int i = 0; i < t->ndim; i++) {
            if (i <= s || i > e) size[nd++] = t->size[i];
            else size[nd - 1] *= t->size[i];
        }
    }
    lua_settop(L, 1);
    push_shape(L, nd, size);
    return view_or_reshape(L, true, "flatten");
}

static const luaL_Reg constructors[] = {
    {"tensor", l_tensor_new}, {"zeros", l_zeros}, {"ones", l_ones}, {"full", l_full},
    {"empty", l_empty}, {"rand", l_rand}, {"randn", l_randn}, {"randint", l_randint},
    {"randperm", l_randperm}, {"arange", l_arange}, {NULL, NULL},
};

static const luaL_Reg methods[] = {
    {"shape", l_shape}, {"size", l_size}, {"stride", l_stride}, {"dim", l_dim},
    {"numel", l_numel}, {"dtype", l_dtype}, {"is_contiguous", l_is_contiguous},
    {"shares_storage", l_shares_storage}, {"version", l_version}, {"item", l_item}, {"totable", l_totable},
    {"get", l_get}, {"set", l_set}, {"clone", l_clone}, {"contiguous", l_contiguous},
    {"to", l_to}, {"view", l_view}, {"reshape", l_reshape}, {"expand", l_expand},
    {"transpose", l_transpose}, {"t", l_t}, {"permute", l_permute}, {"narrow", l_narrow},
    {"select", l_select}, {"unsqueeze", l_unsqueeze}, {"squeeze", l_squeeze},
    {"flatten", l_flatten}, {"detach", l_detach}, {"as_strided", l_as_strided}, {"uniform_", l_uniform_}, {"normal_", l_normal_}, {"release", l_tensor_release}, {NULL, NULL},
};

static const luaL_Reg metamethods[] = {
    {"__newindex", l_tensor_newindex}, {"__gc", l_tensor_release},
    {"__close", l_tensor_release}, {"__len", l_tensor_len}, {NULL, NULL},
};

void binding_open_tensor(lua_State *L) {
    luaL_newmetatable(L, TENSOR_MT);              /* module, mt */
    binding_setfuncs(L, metamethods);
    lua_newtable(L);                              /* module, mt, methods */
    binding_setfuncs(L, methods);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "__methods");             /* for binding_open_ops */
    lua_pushvalue(L, -1);
    lua_setfield(L, -4, "Tensor");                /* core.Tensor: the Lua side adds methods */
    lua_getfield(L, LUA_REGISTRYINDEX, "graft.ctx");
    lua_insert(L, -2);
    lua_newtable(L);                              /* field defaults */
    lua_pushvalue(L, -1);
    lua_setfield(L, -6, "tensor_field_defaults"); /* core.tensor_field_defaults */
    lua_pushcclosure(L, l_tensor_index, 3);       /* upvalues: ctx, methods, defaults */
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    binding_setfuncs(L, constructors);
}
