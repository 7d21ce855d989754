/* Neural-network kernels for Lua (graft.core.nn): forward and gradient functions that
 * graft/functional.lua wires into autograd. Gradients that nobody needs are not asked for,
 * so their kernels do not run. */
#include "../ops/attention.h"
#include "../ops/conv2d.h"
#include "../ops/elementwise.h"
#include "../ops/linear.h"
#include "../ops/norm.h"
#include "../ops/optim.h"
#include "../ops/pool.h"
#include "../ops/softmax.h"
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
            if (!ok) raise_error(L, "%s: %s must be a number or {h, w}", fn, key);
            lua_pop(L, 1);
        }
    } else if (t != LUA_TNIL) {
        raise_error(L, "%s: %s must be a number or {h, w}, not a %s", fn, key, lua_typename(L, t));
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

/* Pushes n empty tensors (or nil where want[i] is false) and returns pointers to them. */
static void push_outputs(lua_State *L, int n, const bool *want, graft_tensor **out) {
    for (int i = 0; i < n; i++) {
        if (want[i]) out[i] = push_tensor(L);
        else lua_pushnil(L), out[i] = NULL;
    }
}

static graft_tensor *opt_tensor(lua_State *L, int idx) {
    return lua_isnoneornil(L, idx) ? NULL : check_tensor(L, idx);
}

/* conv2d(x, w [, b] [, opts] [, prepared]) -> y, prepared. prepared: true to have w's
 * Winograd transform made (returned, or nil when Winograd does not run), or a transform so
 * made, to use while w is unchanged. */
static int l_conv2d(lua_State *L) {
    graft_tensor *x = check_tensor(L, 1), *w = check_tensor(L, 2);
    graft_tensor *b = lua_isnoneornil(L, 3) ? NULL : check_tensor(L, 3);
    graft_conv2d_opts o = check_conv2d_opts(L, 4);   /* may raise: nothing held yet */
    graft_tensor *prepared = NULL;
    if (lua_toboolean(L, 5)) {
        prepared = test_tensor(L, 5);
        lua_settop(L, 5);
        if (!prepared) {
            lua_pop(L, 1);
            prepared = push_tensor(L);
        }
    }
    graft_tensor *y = push_tensor(L);
    CALL_OR_RAISE(L, "conv2d", graft_conv2d(ctx_of(L), y, x, w, b, &o, prepared, &err));
    if (!prepared || !prepared->storage) return 1;
    lua_pushvalue(L, 5);
    return 2;
}

/* conv2d_grad(gy, x, w, opts, want_x, want_w, want_b) -> gx, gw, gb (nil where not wanted) */
static int l_conv2d_grad(lua_State *L) {
    graft_tensor *gy = check_tensor(L, 1), *x = check_tensor(L, 2), *w = check_tensor(L, 3);
    graft_conv2d_opts o = check_conv2d_opts(L, 4);
    bool want[3] = {lua_toboolean(L, 5), lua_toboolean(L, 6), lua_toboolean(L, 7)};
    lua_settop(L, 7);
    graft_tensor *g[3];
    push_outputs(L, 3, want, g);
    CALL_OR_RAISE(L, "conv2d backward", graft_conv2d_grad(ctx_of(L), g[0], g[1], g[2], gy, x, w, &o, &err));
    return 3;
}

/* linear(x, w [, b]) */
static int l_linear(lua_State *L) {
    graft_tensor *x = check_tensor(L, 1), *w = check_tensor(L, 2), *b = opt_tensor(L, 3);
    graft_tensor *y = push_tensor(L);
    CALL_OR_RAISE(L, "linear", graft_linear(ctx_of(L), y, x, w, b, &err));
    return 1;
}

/* linear_grad(g, x, w, want_x, want_w, want_b) -> gx, gw, gb */
static int l_linear_grad(lua_State *L) {
    graft_tensor *g = check_tensor(L, 1), *x = check_tensor(L, 2), *w = check_tensor(L, 3);
    bool want[3] = {lua_toboolean(L, 4), lua_toboolean(L, 5), lua_toboolean(L, 6)};
    lua_settop(L, 6);
    graft_tensor *o[3];
    push_outputs(L, 3, want, o);
    CALL_OR_RAISE(L, "linear backward", graft_linear_grad(ctx_of(L), o[0], o[1], o[2], g, x, w, &err));
    return 3;
}

static const char *const activation_names[] = {"relu", "relu6", "sigmoid", "tanh", "silu", "gelu",
                                               "hardswish", "hardsigmoid", NULL};
static const graft_unop activation_ops[] = {GRAFT_RELU, GRAFT_RELU6, GRAFT_SIGMOID, GRAFT_TANH,
                                            GRAFT_SILU, GRAFT_GELU, GRAFT_HARDSWISH, GRAFT_HARDSIGMOID};

/* activation(name, x) */
static int l_activation(lua_State *L) {
    graft_unop op = activation_ops[luaL_checkoption(L, 1, NULL, activation_names)];
    graft_tensor *x = check_tensor(L, 2), *y = push_tensor(L);
    CALL_OR_RAISE(L, graft_unop_name(op), graft_unary(ctx_of(L), y, x, op, NULL, &err));
    return 1;
}

/* activation_grad(name, g, x) -> g * f'(x) */
static int l_activation_grad(lua_State *L) {
    graft_unop op = activation_ops[luaL_checkoption(L, 1, NULL, activation_names)];
    graft_tensor *g = check_tensor(L, 2), *x = check_tensor(L, 3), *gx = push_tensor(L);
    CALL_OR_RAISE(L, graft_unop_name(op), graft_unary_grad(ctx_of(L), gx, g, x, op, &err));
    return 1;
}

/* softmax(x, dim, log) and softmax_grad(g, y, dim, log) */
static int l_softmax(lua_State *L) {
    graft_tensor *x = check_tensor(L, 1);
    bool take_log = lua_toboolean(L, 3);
    const char *fn = take_log ? "log_softmax" : "softmax";
    int dim = x->ndim ? check_dim(L, 2, x->ndim, 0, fn) : 0;
    graft_tensor *y = push_tensor(L);
    CALL_OR_RAISE(L, fn, graft_softmax(ctx_of(L), y, x, dim, take_log, &err));
    return 1;
}

static int l_softmax_grad(lua_State *L) {
    graft_tensor *g = check_tensor(L, 1), *y = check_tensor(L, 2);
    bool take_log = lua_toboolean(L, 4);
    int dim = y->ndim ? check_dim(L, 3, y->ndim, 0, "softmax backward") : 0;
    graft_tensor *gx = push_tensor(L);
    CALL_OR_RAISE(L, "softmax backward", graft_softmax_grad(ctx_of(L), gx, g, y, dim, take_log, &err));
    return 1;
}

/* Pool options: kernel (argument idx), then {stride (default kernel), padding, dilation,
 * ceil_mode, count_include_pad (default true), divisor_override}. */
static graft_pool2d_opts check_pool_opts(lua_State *L, int kidx, int oidx, const char *fn) {
    graft_pool2d_opts o;
    if (lua_isnumber(L, kidx)) {
        o.kernel[0] = o.kernel[1] = luaL_checkinteger(L, kidx);
    } else {
        luaL_checktype(L, kidx, LUA_TTABLE);
        for (int i = 0; i < 2; i++) {
            lua_geti(L, kidx, i + 1);
            o.kernel[i] = luaL_checkinteger(L, -1);
            lua_pop(L, 1);
        }
    }
    int64_t st[2];
    bool has_stride = lua_istable(L, oidx) && lua_getfield(L, oidx, "stride") != LUA_TNIL;
    if (lua_istable(L, oidx)) lua_pop(L, 1);
    check_pair(L, oidx, "stride", 1, st, fn);
    o.stride[0] = has_stride ? st[0] : o.kernel[0];
    o.stride[1] = has_stride ? st[1] : o.kernel[1];
    check_pair(L, oidx, "padding", 0, o.padding, fn);
    check_pair(L, oidx, "dilation", 1, o.dilation, fn);
    o.ceil_mode = false, o.count_include_pad = true;
    if (lua_istable(L, oidx)) {
        lua_getfield(L, oidx, "ceil_mode");
        o.ceil_mode = lua_toboolean(L, -1);
        if (lua_getfield(L, oidx, "count_include_pad") != LUA_TNIL) o.count_include_pad = lua_toboolean(L, -1);
        lua_pop(L, 2);
    }
    o.divisor = opt_integer(L, oidx, "divisor_override", 0);
    return o;
}

/* max_pool2d(x, kernel [, opts [, positions]]) -> y [, positions]: the positions (for
 * backward) only when asked for. */
static int l_max_pool2d(lua_State *L) {
    graft_tensor *x = check_tensor(L, 1);
    graft_pool2d_opts o = check_pool_opts(L, 2, 3, "max_pool2d");
    bool positions = lua_toboolean(L, 4);
    graft_tensor *y = push_tensor(L), *idx = positions ? push_tensor(L) : NULL;
    CALL_OR_RAISE(L, "max_pool2d", graft_max_pool2d(ctx_of(L), y, idx, x, &o, &err));
    return positions ? 2 : 1;
}

/* max_pool2d_grad(g, positions, x) */
static int l_max_pool2d_grad(lua_State *L) {
    graft_tensor *g = check_tensor(L, 1), *idx = check_tensor(L, 2), *x = check_tensor(L, 3);
    graft_tensor *gx = push_tensor(L);
    CALL_OR_RAISE(L, "max_pool2d backward", graft_max_pool2d_grad(ctx_of(L), gx, g, idx, x, &err));
    return 1;
}

/* avg_pool2d(x, kernel [, opts]); avg_pool2d_grad(g, x, kernel, opts) */
static int l_avg_pool2d(lua_State *L) {
    graft_tensor *x = check_tensor(L, 1);
    graft_pool2d_opts o = check_pool_opts(L, 2, 3, "avg_pool2d");
    graft_tensor *y = push_tensor(L);
    CALL_OR_RAISE(L, "avg_pool2d", graft_avg_pool2d(ctx_of(L), y, x, &o, &err));
    return 1;
}

static int l_avg_pool2d_grad(lua_State *L) {
    graft_tensor *g = check_tensor(L, 1), *x = check_tensor(L, 2);
    graft_pool2d_opts o = check_pool_opts(L, 3, 4, "avg_pool2d");
    graft_tensor *gx = push_tensor(L);
    CALL_OR_RAISE(L, "avg_pool2d backward", graft_avg_pool2d_grad(ctx_of(L), gx, g, x, &o, &err));
    return 1;
}

/* adaptive_avg_pool2d(x, size) with size a number or {h, w}; and its gradient (g, x). */
static int l_adaptive_avg_pool2d(lua_State *L) {
    graft_tensor *x = check_tensor(L, 1);
    int64_t size[2];
    if (lua_isnumber(L, 2)) {
        size[0] = size[1] = luaL_checkinteger(L, 2);
    } else {
        luaL_checktype(L, 2, LUA_TTABLE);
        for (int i = 0; i < 2; i++) {
            lua_geti(L, 2, i + 1);
            size[i] = luaL_checkinteger(L, -1);
            lua_pop(L, 1);
        }
    }
    graft_tensor *y = push_tensor(L);
    CALL_OR_RAISE(L, "adaptive_avg_pool2d", graft_adaptive_avg_pool2d(ctx_of(L), y, x, size[0], size[1], &err));
    return 1;
}

static int l_adaptive_avg_pool2d_grad(lua_State *L) {
    graft_tensor *g = check_tensor(L, 1), *x = check_tensor(L, 2), *gx = push_tensor(L);
    CALL_OR_RAISE(L, "adaptive_avg_pool2d backward", graft_adaptive_avg_pool2d_grad(ctx_of(L), gx, g, x, &err));
    return 1;
}

/* batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)
 * -> y, mean, invstd (the statistics used, for backward) */
static int l_batch_norm(lua_State *L) {
    graft_tensor *x = check_tensor(L, 1), *rm = opt_tensor(L, 2), *rv = opt_tensor(L, 3);
    graft_tensor *w = opt_tensor(L, 4), *b = opt_tensor(L, 5);
    bool training = lua_toboolean(L, 6);
    double momentum = luaL_optnumber(L, 7, 0.1), eps = luaL_optnumber(L, 8, 1e-5);
    lua_settop(L, 8);
    graft_tensor *y = push_tensor(L), *mean = push_tensor(L), *invstd = push_tensor(L);
    CALL_OR_RAISE(L, "batch_norm", graft_batch_norm(ctx_of(L), y, mean, invstd, x, rm, rv, w, b, training, momentum, eps, &err));
    if (training) {   /* the running statistics moved */
        if (rm) graft_tensor_mark_written(rm);
        if (rv) graft_tensor_mark_written(rv);
    }
    return 3;
}

/* batch_norm_grad(g, x, weight, mean, invstd, batch_stats, want_x, want_w, want_b) */
static int l_batch_norm_grad(lua_State *L) {
    graft_tensor *g = check_tensor(L, 1), *x = check_tensor(L, 2), *w = opt_tensor(L, 3);
    graft_tensor *mean = check_tensor(L, 4), *invstd = check_tensor(L, 5);
    bool batch_stats = lua_toboolean(L, 6);
    bool want[3] = {lua_toboolean(L, 7), lua_toboolean(L, 8), lua_toboolean(L, 9)};
    lua_settop(L, 9);
    graft_tensor *o[3];
    push_outputs(L, 3, want, o);
    CALL_OR_RAISE(L, "batch_norm backward", graft_batch_norm_grad(ctx_of(L), o[0], o[1], o[2], g, x, w, mean, invstd, batch_stats, &err));
    return 3;
}

/* layer_norm(x, ndims, weight, bias, eps) -> y, mean, rstd */
static int l_layer_norm(lua_State *L) {
    graft_tensor *x = check_tensor(L, 1);
    int ndims = (int)luaL_checkinteger(L, 2);
    graft_tensor *w = opt_tensor(L, 3), *b = opt_tensor(L, 4);
    double eps = luaL_optnumber(L, 5, 1e-5);
    lua_settop(L, 5);
    graft_tensor *y = push_tensor(L), *mean = push_tensor(L), *rstd = push_tensor(L);
    CALL_OR_RAISE(L, "layer_norm", graft_layer_norm(ctx_of(L), y, mean, rstd, x, ndims, w, b, eps, &err));
    return 3;
}

/* layer_norm_grad(g, x, ndims, weight, mean, rstd, want_x, want_w, want_b) */
static int l_layer_norm_grad(lua_State *L) {
    graft_tensor *g = check_tensor(L, 1), *x = check_tensor(L, 2);
    int ndims = (int)luaL_checkinteger(L, 3);
    graft_tensor *w = opt_tensor(L, 4), *mean = check_tensor(L, 5), *rstd = check_tensor(L, 6);
    bool want[3] = {lua_toboolean(L, 7), lua_toboolean(L, 8), lua_toboolean(L, 9)};
    lua_settop(L, 9);
    graft_tensor *o[3];
    push_outputs(L, 3, want, o);
    CALL_OR_RAISE(L, "layer_norm backward", graft_layer_norm_grad(ctx_of(L), o[0], o[1], o[2], g, x, ndims, w, mean, rstd, &err));
    return 3;
}

/* attention(q, k, v, mask, scale) -> out, probs */
static int l_attention(lua_State *L) {
    graft_tensor *q = check_tensor(L, 1), *k = check_tensor(L, 2), *v = check_tensor(L, 3);
    graft_tensor *mask = opt_tensor(L, 4);
    float scale = (float)luaL_checknumber(L, 5);
    lua_settop(L, 5);
    graft_tensor *out = push_tensor(L), *probs = push_tensor(L);
    CALL_OR_RAISE(L, "scaled_dot_product_attention", graft_attention(ctx_of(L), out, probs, q, k, v, mask, scale, &err));
    return 2;
}

/* attention_grad(g, probs, q, k, v, scale, want_q, want_k, want_v) -> gq, gk, gv */
static int l_attention_grad(lua_State *L) {
    graft_tensor *g = check_tensor(L, 1), *probs = check_tensor(L, 2);
    graft_tensor *q = check_tensor(L, 3), *k = check_tensor(L, 4), *v = check_tensor(L, 5);
    float scale = (float)luaL_checknumber(L, 6);
    bool want[3] = {lua_toboolean(L, 7), lua_toboolean(L, 8), lua_toboolean(L, 9)};
    lua_settop(L, 9);
    graft_tensor *o[3];
    push_outputs(L, 3, want, o);
    CALL_OR_RAISE(L, "scaled_dot_product_attention backward", graft_attention_grad(ctx_of(L), o[0], o[1], o[2], g, probs, q, k, v, scale, &err));
    return 3;
}

/* A contiguous f32 tensor of exactly n elements (an optimizer operand). */
static float *optim_operand(lua_State *L, int idx, int64_t n, const char *fn, const char *what) {
    graft_tensor *t = check_tensor(L, idx);
    if (t->dtype != GRAFT_F32 || !graft_tensor_is_contiguous(t) || graft_tensor_numel(t) != n)
        raise_error(L, "%s: %s must be a contiguous f32 tensor of %I elements", fn, what, (lua_Integer)n);
    return graft_tensor_data(t);
}

static double field_number(lua_State *L, int idx, const char *key, double def) {
    lua_getfield(L, idx, key);
    double v = luaL_optnumber(L, -1, def);
    lua_pop(L, 1);
    return v;
}

/* sgd_update(param, grad, buf_or_nil, {lr, momentum, dampening, weight_decay, nesterov, first}) */
static int l_sgd_update(lua_State *L) {
    int64_t n = graft_tensor_numel(check_tensor(L, 1));
    float *p = optim_operand(L, 1, n, "SGD", "the parameter");
    const float *g = optim_operand(L, 2, n, "SGD", "its gradient");
    float *buf = lua_isnil(L, 3) ? NULL : optim_operand(L, 3, n, "SGD", "the momentum buffer");
    luaL_checktype(L, 4, LUA_TTABLE);
    graft_sgd_opts o = {field_number(L, 4, "lr", 0), field_number(L, 4, "momentum", 0),
                        field_number(L, 4, "dampening", 0), field_number(L, 4, "weight_decay", 0), false, false};
    lua_getfield(L, 4, "nesterov");
    lua_getfield(L, 4, "first");
    o.nesterov = lua_toboolean(L, -2);
    o.first = lua_toboolean(L, -1);
    graft_sgd_update(p, g, buf, n, &o);
    graft_tensor_mark_written(check_tensor(L, 1));
    if (buf) graft_tensor_mark_written(check_tensor(L, 3));
    return 0;
}

/* adam_update(param, grad, m, v, {lr, beta1, beta2, eps, weight_decay, step, decoupled}) */
static int l_adam_update(lua_State *L) {
    int64_t n = graft_tensor_numel(check_tensor(L, 1));
    float *p = optim_operand(L, 1, n, "Adam", "the parameter");
    const float *g = optim_operand(L, 2, n, "Adam", "its gradient");
    float *m = optim_operand(L, 3, n, "Adam", "exp_avg"), *v = optim_operand(L, 4, n, "Adam", "exp_avg_sq");
    luaL_checktype(L, 5, LUA_TTABLE);
    graft_adam_opts o = {field_number(L, 5, "lr", 1e-3), field_number(L, 5, "beta1", 0.9),
                         field_number(L, 5, "beta2", 0.999), field_number(L, 5, "eps", 1e-8),
                         field_number(L, 5, "weight_decay", 0), (int64_t)field_number(L, 5, "step", 1), false};
    lua_getfield(L, 5, "decoupled");
    o.decoupled = lua_toboolean(L, -1);
    graft_adam_update(p, g, m, v, n, &o);
    for (int i = 1; i <= 4; i++)
        if (i != 2) graft_tensor_mark_written(check_tensor(L, i));
    return 0;
}

/***
Diagnostics.
@module graft
*/

/***
Diagnostics.
@section diagnostics
*/

/***
Kernel calls so far in this state, by kind (`conv_forward`, `conv_grad_input`, ...): how a
test or a user checks which paths ran, e.g. that a frozen layer computes no weight gradient.
@treturn table `{name = count, ...}`
@function stats
*/
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
    {"conv2d", l_conv2d}, {"conv2d_grad", l_conv2d_grad}, {"linear", l_linear},
    {"linear_grad", l_linear_grad}, {"activation", l_activation},
    {"activation_grad", l_activation_grad}, {"softmax", l_softmax}, {"softmax_grad", l_softmax_grad},
    {"max_pool2d", l_max_pool2d}, {"max_pool2d_grad", l_max_pool2d_grad},
    {"avg_pool2d", l_avg_pool2d}, {"avg_pool2d_grad", l_avg_pool2d_grad},
    {"adaptive_avg_pool2d", l_adaptive_avg_pool2d},
    {"adaptive_avg_pool2d_grad", l_adaptive_avg_pool2d_grad}, {"batch_norm", l_batch_norm},
    {"batch_norm_grad", l_batch_norm_grad}, {"layer_norm", l_layer_norm},
    {"layer_norm_grad", l_layer_norm_grad}, {"attention", l_attention},
    {"attention_grad", l_attention_grad}, {"sgd_update", l_sgd_update},
    {"adam_update", l_adam_update}, {NULL, NULL},
};

void binding_open_nn(lua_State *L) {
    lua_newtable(L);
    binding_setfuncs(L, nn_funcs);
    lua_setfield(L, -2, "nn");
    static const luaL_Reg funcs[] = {{"stats", l_stats}, {NULL, NULL}};
    binding_setfuncs(L, funcs);
}
