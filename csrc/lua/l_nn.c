/* Neural-network kernels for Lua (graft.core.nn): forward and gradient functions that
 * graft/functional.lua wires into autograd. Gradients that nobody needs are not asked for,
 * so their kernels do not run. */
#include "../ops/conv2d.h"
#include "binding.h"

/* A size option: a number n (both dims) or a table {h, w}; `def` when absent. */
static void check_pair(lua_State *L, int opts, const char *key, int64_t def, int64_t out[2], const char *fn) {
    out[0] = out[1] = def;
    if (!lua_istable(L, opts)) return;
    int t = lua_getfield(L, opts, key);
    if (t == LUA_TNUMBER) {
        out[0] = out[1] = luaL_checkinteger(L, -1);
    } else if (t == LUA_TTABLE) {
        for (int i = 0; i < 2; i++) {
            lua_geti(L, -1, i + 1);
            int ok;
            out[i] = lua_tointegerx(L, -1, &ok);
            if (!ok) luaL_error(L, "%s: %s must be a number or {h, w}", fn, key);
            lua_pop(L, 1);
        }
    } else if (t != LUA_TNIL) {
        luaL_error(L, "%s: %s must be a number or {h, w}, not a %s", fn, key, lua_typename(L, t));
    }
    lua_pop(L, 1);
}

static int64_t opt_integer(lua_State *L, int opts, const char *key, int64_t def) {
    if (!lua_istable(L, opts)) return def;
    lua_getfield(L, opts, key);
    int64_t v = luaL_optinteger(L, -1, def);
    lua_pop(L, 1);
    return v;
}

static graft_conv2d_opts check_conv2d_opts(lua_State *L, int idx) {
    graft_conv2d_opts o;
    check_pair(L, idx, "stride", 1, o.stride, "conv2d");
    check_pair(L, idx, "padding", 0, o.padding, "conv2d");
    check_pair(L, idx, "dilation", 1, o.dilation, "conv2d");
    o.groups = opt_integer(L, idx, "groups", 1);
    return o;
}

/* conv2d(x, w [, b] [, opts]) */
static int l_conv2d(lua_State *L) {
    graft_tensor *x = check_tensor(L, 1), *w = check_tensor(L, 2);
    graft_tensor *b = lua_isnoneornil(L, 3) ? NULL : check_tensor(L, 3);
    graft_conv2d_opts o = check_conv2d_opts(L, 4);   /* may raise: nothing held yet */
    graft_tensor *y = push_tensor(L);
    graft_error err;
    graft_status st;
    RETRY_ENOMEM(L, st, graft_conv2d(ctx_of(L), y, x, w, b, &o, &err));
    check_status(L, st, "conv2d", &err);
    return 1;
}

/* conv2d_grad(gy, x, w, opts, want_x, want_w, want_b) -> gx, gw, gb (nil where not wanted) */
static int l_conv2d_grad(lua_State *L) {
    graft_tensor *gy = check_tensor(L, 1), *x = check_tensor(L, 2), *w = check_tensor(L, 3);
    graft_conv2d_opts o = check_conv2d_opts(L, 4);
    bool want[3] = {lua_toboolean(L, 5), lua_toboolean(L, 6), lua_toboolean(L, 7)};
    lua_settop(L, 7);
    graft_tensor *g[3];
    for (int i = 0; i < 3; i++) {
        if (want[i]) g[i] = push_tensor(L);
        else lua_pushnil(L), g[i] = NULL;
    }
    graft_error err;
    graft_status st;
    RETRY_ENOMEM(L, st, graft_conv2d_grad(ctx_of(L), g[0], g[1], g[2], gy, x, w, &o, &err));
    check_status(L, st, "conv2d backward", &err);
    return 3;
}

/* stats() -> {conv_forward = n, ...}: kernel calls so far in this state. */
static int l_stats(lua_State *L) {
    graft_ctx *ctx = ctx_of(L);
    lua_createtable(L, 0, GRAFT_NUM_COUNTERS);
    for (int c = 0; c < GRAFT_NUM_COUNTERS; c++) {
        lua_pushinteger(L, (lua_Integer)atomic_load(&ctx->counters[c]));
        lua_setfield(L, -2, graft_counter_name((graft_counter)c));
    }
    return 1;
}

static const luaL_Reg nn_funcs[] = {
    {"conv2d", l_conv2d}, {"conv2d_grad", l_conv2d_grad}, {NULL, NULL},
};

void binding_open_nn(lua_State *L) {
    lua_newtable(L);
    binding_setfuncs(L, nn_funcs);
    lua_setfield(L, -2, "nn");
    static const luaL_Reg funcs[] = {{"stats", l_stats}, {NULL, NULL}};
    binding_setfuncs(L, funcs);
}
