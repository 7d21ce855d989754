/* Tensor math for Lua: arithmetic (also as metamethods), math functions, comparisons,
 * reductions, matmul, selection by index, and in-place updates. Positions are 1-based in
 * Lua and converted here. */

/***
Tensor math: elementwise, comparisons, reductions, matmul, selection.
@module graft
*/

/***
Tensor math: elementwise, comparisons, reductions, matmul, selection.
@section math
*/
#include <math.h>
#include <string.h>

#include "../ops/copy.h"
#include "../ops/elementwise.h"
#include "../ops/index.h"
#include "../ops/matmul.h"
#include "../ops/reduce.h"
#include "binding.h"

/* ---- elementwise ------------------------------------------------------------------------ */

static bool is_comparison(graft_binop op) { return op >= GRAFT_EQ && op <= GRAFT_GE; }

/* op with its operands swapped: c < x is x > c. */
static graft_binop swapped(graft_binop op) {
    switch (op) {
    case GRAFT_LT: return GRAFT_GT;
    case GRAFT_LE: return GRAFT_GE;
    case GRAFT_GT: return GRAFT_LT;
    case GRAFT_GE: return GRAFT_LE;
    default: return op;
    }
}

static int binary_run(lua_State *L, graft_binop op);

/* An integer tensor (at xi) compared with a number. Promoting both to f32, as PyTorch
 * does, rounds integers beyond 2^24 (16777217 == 16777216.0 would hold), and a u8 scalar
 * would wrap 300 to 44. Instead the number becomes an integer bound in the tensor's own
 * range that gives every element the same answer: a fraction c is ceil(c) for x < c and
 * x >= c, floor(c) for x <= c and x > c; a number outside the range, a fraction under
 * == or ~=, or NaN gives one answer for all, asked as x <= max (true) or x > max (false). */
static int compare_integer(lua_State *L, graft_binop op, int xi) {
    const graft_tensor *x = check_tensor(L, xi);
    int ci = 3 - xi;
    if (xi == 2) op = swapped(op);
    lua_Integer lo = x->dtype == GRAFT_U8 ? 0 : LUA_MININTEGER;
    lua_Integer hi = x->dtype == GRAFT_U8 ? 255 : LUA_MAXINTEGER;
    int isint, above = 0, below = 0, always = -1;   /* always: 0 or 1 for every element */
    lua_Integer k = lua_tointegerx(L, ci, &isint);
    if (!isint) {
        double c = lua_tonumber(L, ci);
        if (isnan(c)) always = op == GRAFT_NE;
        else if (c >= 0x1p63) above = 1;
        else if (c < -0x1p63) below = 1;
        else if (op == GRAFT_EQ || op == GRAFT_NE) always = op == GRAFT_NE;   /* a fraction */
        else k = (lua_Integer)(op == GRAFT_LT || op == GRAFT_GE ? ceil(c) : floor(c));
    }
    if (always < 0 && !above && !below) {
        above = k > hi;
        below = k < lo;
    }
    if (above) always = op == GRAFT_LT || op == GRAFT_LE || op == GRAFT_NE;
    if (below) always = op == GRAFT_GT || op == GRAFT_GE || op == GRAFT_NE;
    if (always >= 0) {
        op = always ? GRAFT_LE : GRAFT_GT;
        k = hi;
    }
    lua_pushvalue(L, xi);
    lua_pushinteger(L, k);
    lua_replace(L, 2);
    lua_replace(L, 1);
    lua_settop(L, 2);
    return binary_run(L, op);
}

static int binary(lua_State *L, graft_binop op) {
    graft_tensor *a = test_tensor(L, 1), *b = test_tensor(L, 2);
    const char *fn = graft_binop_name(op);
    if (!a && !b) return raise_error(L, "%s: expected at least one tensor operand", fn);
    if (is_comparison(op) && (!a || !b)) {
        int xi = a ? 1 : 2;
        graft_dtype dt = (a ? a : b)->dtype;
        if (dt != GRAFT_F32 && lua_type(L, 3 - xi) == LUA_TNUMBER) return compare_integer(L, op, xi);
    }
    return binary_run(L, op);
}

static int binary_run(lua_State *L, graft_binop op) {
    graft_tensor *a = test_tensor(L, 1), *b = test_tensor(L, 2);
    const char *fn = graft_binop_name(op);
    a = check_operand(L, 1, b);
    b = check_operand(L, 2, a);
    graft_tensor *out = push_tensor(L);
    CALL_OR_RAISE(L, fn, graft_binary(ctx_of(L), out, a, b, op, &err));
    return 1;
}

#define BINARY_FN(NAME, OP) \
    static int l_##NAME(lua_State *L) { return binary(L, OP); }
/***
a + b, with broadcasting and PyTorch's type promotion (also the `+` operator).
@tparam Tensor|number b
@treturn Tensor
@function Tensor:add
*/
BINARY_FN(add, GRAFT_ADD)
/***
a - b (also `-`).
@tparam Tensor|number b
@treturn Tensor
@function Tensor:sub
*/
BINARY_FN(sub, GRAFT_SUB)
/***
a * b, elementwise (also `*`).
@tparam Tensor|number b
@treturn Tensor
@function Tensor:mul
*/
BINARY_FN(mul, GRAFT_MUL)
/***
a / b, true division: always f32 (also `/`).
@tparam Tensor|number b
@treturn Tensor
@function Tensor:div
*/
BINARY_FN(div, GRAFT_DIV)
/***
The elementwise maximum (NaN propagates).
@tparam Tensor|number b
@treturn Tensor
@function Tensor:maximum
*/
BINARY_FN(maximum, GRAFT_MAXIMUM)
/***
The elementwise minimum (NaN propagates).
@tparam Tensor|number b
@treturn Tensor
@function Tensor:minimum
*/
BINARY_FN(minimum, GRAFT_MINIMUM)
/***
a == b elementwise, as a u8 mask.
@tparam Tensor|number b
@treturn Tensor
@function Tensor:eq
*/
BINARY_FN(eq, GRAFT_EQ)
/***
a ~= b elementwise, as a u8 mask.
@tparam Tensor|number b
@treturn Tensor
@function Tensor:ne
*/
BINARY_FN(ne, GRAFT_NE)
/***
a < b elementwise, as a u8 mask.
@tparam Tensor|number b
@treturn Tensor
@function Tensor:lt
*/
BINARY_FN(lt, GRAFT_LT)
/***
a <= b elementwise, as a u8 mask.
@tparam Tensor|number b
@treturn Tensor
@function Tensor:le
*/
BINARY_FN(le, GRAFT_LE)
/***
a > b elementwise, as a u8 mask.
@tparam Tensor|number b
@treturn Tensor
@function Tensor:gt
*/
BINARY_FN(gt, GRAFT_GT)
/***
a >= b elementwise, as a u8 mask.
@tparam Tensor|number b
@treturn Tensor
@function Tensor:ge
*/
BINARY_FN(ge, GRAFT_GE)

static int unary(lua_State *L, graft_unop op, const double *arg) {
    graft_tensor *x = check_tensor(L, 1);
    graft_tensor *out = push_tensor(L);
    CALL_OR_RAISE(L, graft_unop_name(op), graft_unary(ctx_of(L), out, x, op, arg, &err));
    return 1;
}

#define UNARY_FN(NAME, OP) \
    static int l_unary_##NAME(lua_State *L) { return unary(L, OP, NULL); }
/***
Elementwise: -x (also unary `-`).
@treturn Tensor
@function Tensor:neg
*/
UNARY_FN(neg, GRAFT_NEG)
/***
Elementwise: |x|.
@treturn Tensor
@function Tensor:abs
*/
UNARY_FN(abs, GRAFT_ABS)
/***
Elementwise: -1, 0 or 1.
@treturn Tensor
@function Tensor:sign
*/
UNARY_FN(sign, GRAFT_SIGN)
/***
Elementwise: max(x, 0).
@treturn Tensor
@function Tensor:relu
*/
UNARY_FN(relu, GRAFT_RELU)
/***
Elementwise: e^x.
@treturn Tensor
@function Tensor:exp
*/
UNARY_FN(exp, GRAFT_EXP)
/***
Elementwise: The natural logarithm.
@treturn Tensor
@function Tensor:log
*/
UNARY_FN(log, GRAFT_LOG)
/***
Elementwise: The square root.
@treturn Tensor
@function Tensor:sqrt
*/
UNARY_FN(sqrt, GRAFT_SQRT)
/***
Elementwise: 1 / sqrt(x).
@treturn Tensor
@function Tensor:rsqrt
*/
UNARY_FN(rsqrt, GRAFT_RSQRT)
/***
Elementwise: 1 / (1 + e^-x).
@treturn Tensor
@function Tensor:sigmoid
*/
UNARY_FN(sigmoid, GRAFT_SIGMOID)
/***
Elementwise: The hyperbolic tangent.
@treturn Tensor
@function Tensor:tanh
*/
UNARY_FN(tanh, GRAFT_TANH)
/***
Elementwise: Rounded down.
@treturn Tensor
@function Tensor:floor
*/
UNARY_FN(floor, GRAFT_FLOOR)
/***
Elementwise: Rounded up.
@treturn Tensor
@function Tensor:ceil
*/
UNARY_FN(ceil, GRAFT_CEIL)
/***
Elementwise: Rounded to the nearest integer, halves to even (as torch.round).
@treturn Tensor
@function Tensor:round
*/
UNARY_FN(round, GRAFT_ROUND)
/***
Elementwise: 1 / x.
@treturn Tensor
@function Tensor:reciprocal
*/
UNARY_FN(reciprocal, GRAFT_RECIPROCAL)

static int l_unm(lua_State *L) {
    lua_settop(L, 1);
    return unary(L, GRAFT_NEG, NULL);
}

/* pow(x, e) and x ^ e: a number exponent runs the scalar kernel, a tensor one broadcasts. */
/***
x ^ e elementwise (also `^`).
@tparam Tensor|number e
@treturn Tensor
@function Tensor:pow
*/
static int l_pow(lua_State *L) {
    if (test_tensor(L, 1) && lua_type(L, 2) == LUA_TNUMBER) {
        double e = lua_tonumber(L, 2);
        lua_settop(L, 1);
        return unary(L, GRAFT_POW_SCALAR, &e);
    }
    return binary(L, GRAFT_POW);
}

/* clamp(min, max) or clamp{min = .., max = ..}; either bound may be nil. */
/***
Values limited to [min, max]; either bound may be nil. Also `clamp{min = , max = }`.
@number[opt] min
@number[opt] max
@treturn Tensor
@function Tensor:clamp
*/
static int l_clamp(lua_State *L) {
    double b[2] = {-INFINITY, INFINITY};
    if (lua_istable(L, 2)) {   /* -> x, min, max */
        lua_settop(L, 2);
        lua_getfield(L, 2, "min");
        lua_getfield(L, 2, "max");
        lua_remove(L, 2);
    }
    if (!lua_isnoneornil(L, 2)) b[0] = luaL_checknumber(L, 2);
    if (!lua_isnoneornil(L, 3)) b[1] = luaL_checknumber(L, 3);
    lua_settop(L, 1);
    return unary(L, GRAFT_CLAMP, b);
}

/* where(mask, a, b): a and b may be numbers. */
/***
Elements of a where mask is non-zero, else of b (broadcast); also `graft.where(mask, a, b)`.
@tparam Tensor mask
@tparam Tensor|number a
@tparam Tensor|number b
@treturn Tensor
@function Tensor:where
*/
static int l_where(lua_State *L) {
    graft_tensor *mask = check_tensor(L, 1);
    graft_tensor *a = test_tensor(L, 2), *b = test_tensor(L, 3);
    a = check_operand(L, 2, b);
    b = check_operand(L, 3, a);
    graft_tensor *out = push_tensor(L);
    CALL_OR_RAISE(L, "where", graft_where(ctx_of(L), out, mask, a, b, &err));
    return 1;
}

/* ---- in place ---------------------------------------------------------------------------- */

static int inplace(lua_State *L, graft_binop op, const char *fn) {
    graft_tensor *self = check_tensor(L, 1);
    /* asked before check_operand, which pushes a number operand as a tensor into slot 3 */
    bool has_alpha = !lua_isnoneornil(L, 3);
    graft_tensor *b = check_operand(L, 2, self);
    if (op == GRAFT_ADD || op == GRAFT_SUB) {   /* add_(b, alpha): self += alpha * b */
        if (has_alpha) {
            graft_tensor *alpha = check_operand(L, 3, b), *scaled = push_tensor(L);
            CALL_OR_RAISE(L, fn, graft_binary(ctx_of(L), scaled, b, alpha, GRAFT_MUL, &err));
            b = scaled;
        }
    }
    CALL_OR_RAISE(L, fn, graft_binary_into(ctx_of(L), self, self, b, op, &err));
    graft_tensor_mark_written(self);
    lua_settop(L, 1);
    return 1;
}

/***
In place: self + alpha * b (the result must fit self's shape and dtype).
@tparam Tensor|number b
@number[opt=1] alpha
@treturn Tensor self
@function Tensor:add_
*/
static int l_add_(lua_State *L) { return inplace(L, GRAFT_ADD, "add_"); }
/***
In place: self - b.
@tparam Tensor|number b
@treturn Tensor self
@function Tensor:sub_
*/
static int l_sub_(lua_State *L) { return inplace(L, GRAFT_SUB, "sub_"); }
/***
In place: self * b.
@tparam Tensor|number b
@treturn Tensor self
@function Tensor:mul_
*/
static int l_mul_(lua_State *L) { return inplace(L, GRAFT_MUL, "mul_"); }
/***
In place: self / b (f32 tensors only).
@tparam Tensor|number b
@treturn Tensor self
@function Tensor:div_
*/
static int l_div_(lua_State *L) { return inplace(L, GRAFT_DIV, "div_"); }

/***
In place: every element set to v.
@number v
@treturn Tensor self
@function Tensor:fill_
*/
static int l_fill_(lua_State *L) {
    graft_tensor *t = check_tensor(L, 1);
    luaL_checknumber(L, 2);
    fill_number(L, t, 2, "fill_");
    graft_tensor_mark_written(t);
    lua_settop(L, 1);
    return 1;
}

/***
In place: every element set to 0.
@treturn Tensor self
@function Tensor:zero_
*/
static int l_zero_(lua_State *L) {
    graft_tensor *t = check_tensor(L, 1);
    graft_fill(t, 0.0);
    graft_tensor_mark_written(t);
    lua_settop(L, 1);
    return 1;
}

/* copy_(src): src broadcast to self's shape and converted to self's dtype. */
/***
In place: src broadcast to self's shape and converted to its dtype.
@tparam Tensor src
@treturn Tensor self
@function Tensor:copy_
*/
static int l_copy_(lua_State *L) {
    graft_tensor *self = check_tensor(L, 1), *src = check_operand(L, 2, self);
    graft_error err;
    check_status(L, graft_copy(self, src, &err), "copy_", &err);
    graft_tensor_mark_written(self);
    lua_settop(L, 1);
    return 1;
}

/* ---- reductions -------------------------------------------------------------------------- */

static const char *const redop_names[] = {"sum", "mean", "prod", "max", "min", "argmax", "argmin"};

/* One reduction of the tensor at the top over dim (0-based, -1 all), replacing it. */
static void reduce_top(lua_State *L, graft_redop op, int dim, bool keepdim, bool want_idx) {
    graft_tensor *x = check_tensor(L, -1);
    graft_tensor *vals = push_tensor(L), *idx = want_idx ? push_tensor(L) : NULL;
    CALL_OR_RAISE(L, redop_names[op], graft_reduce(ctx_of(L), vals, idx, x, dim, keepdim, op, 1, &err));
}

/* sum/mean/prod([dim | {dims}] [, keepdim]) */
static int sum_like(lua_State *L, graft_redop op) {
    graft_tensor *x = check_tensor(L, 1);
    bool keepdim = lua_toboolean(L, 3);
    const char *fn = redop_names[op];
    if (lua_isnoneornil(L, 2)) {
        lua_settop(L, 1);
        reduce_top(L, op, -1, keepdim, false);
        return 1;
    }
    bool mark[GRAFT_MAX_DIMS] = {false};
    if (lua_istable(L, 2)) {
        int n = (int)luaL_len(L, 2);
        for (int i = 1; i <= n; i++) {
            lua_geti(L, 2, i);
            int d = check_dim(L, -1, x->ndim, 0, fn);
            if (mark[d]) return raise_error(L, "%s: dim %d appears twice", fn, d + 1);
            mark[d] = true;
            lua_pop(L, 1);
        }
    } else {
        mark[check_dim(L, 2, x->ndim, 0, fn)] = true;
    }
    int ndim = x->ndim;
    lua_settop(L, 1);
    if (op == GRAFT_RMEAN) {   /* mean over several dims = sum over them / count */
        int64_t count = 1;
        for (int d = ndim - 1; d >= 0; d--)
            if (mark[d]) {
                reduce_top(L, GRAFT_RSUM, d, keepdim, false);
                count *= x->size[d];
            }
        graft_tensor *s = check_tensor(L, -1), *out = push_tensor(L), scale;
        graft_error err;
        graft_tensor_init_empty(&scale);
        graft_status st = graft_tensor_alloc(&scale, ctx_of(L), GRAFT_F32, 0, NULL, &err);
        if (st == GRAFT_OK) {
            *(float *)graft_tensor_data(&scale) = count ? (float)(1.0 / (double)count) : NAN;
            st = graft_binary(ctx_of(L), out, s, &scale, GRAFT_MUL, &err);
        }
        graft_tensor_release(&scale);
        check_status(L, st, fn, &err);
        return 1;
    }
    for (int d = ndim - 1; d >= 0; d--)   /* highest first: lower dims keep their numbers */
        if (mark[d]) reduce_top(L, op, d, keepdim, false);
    return 1;
}

/***
The sum over everything, a dim, or a list of dims (integers sum to i64).
@tparam[opt] int|{int,...} dims
@bool[opt=false] keepdim
@treturn Tensor
@function Tensor:sum
*/
static int l_sum(lua_State *L) { return sum_like(L, GRAFT_RSUM); }
/***
The product over everything, a dim, or a list of dims.
@tparam[opt] int|{int,...} dims
@bool[opt=false] keepdim
@treturn Tensor
@function Tensor:prod
*/
static int l_prod(lua_State *L) { return sum_like(L, GRAFT_RPROD); }

/***
The mean over everything, a dim, or a list of dims (always f32).
@tparam[opt] int|{int,...} dims
@bool[opt=false] keepdim
@treturn Tensor
@function Tensor:mean
*/
static int l_mean(lua_State *L) {
    graft_tensor *x = check_tensor(L, 1);
    if (lua_isnoneornil(L, 2) || lua_isinteger(L, 2)) {
        int dim = lua_isnoneornil(L, 2) ? -1 : check_dim(L, 2, x->ndim, 0, "mean");
        bool keepdim = lua_toboolean(L, 3);
        lua_settop(L, 1);
        reduce_top(L, GRAFT_RMEAN, dim, keepdim, false);
        return 1;
    }
    return sum_like(L, GRAFT_RMEAN);
}

/* max/min([dim [, keepdim]]): over all elements, the value; over a dim, values and positions. */
static int extreme(lua_State *L, graft_redop op) {
    graft_tensor *x = check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) {
        lua_settop(L, 1);
        reduce_top(L, op, -1, false, false);
        return 1;
    }
    int dim = check_dim(L, 2, x->ndim, 0, redop_names[op]);
    bool keepdim = lua_toboolean(L, 3);
    lua_settop(L, 1);
    reduce_top(L, op, dim, keepdim, true);
    return 2;
}

/***
The maximum: of everything; over a dim, the values and their 1-based positions; with a tensor argument, the elementwise maximum.
@tparam[opt] int|Tensor dim
@bool[opt=false] keepdim
@treturn Tensor values
@treturn[opt] Tensor positions (i64) when a dim is given
@function Tensor:max
*/
static int l_max(lua_State *L) {
    if (test_tensor(L, 2)) return binary(L, GRAFT_MAXIMUM);   /* max(a, b), as torch.max */
    return extreme(L, GRAFT_RMAX);
}
/***
The minimum, as `max`.
@tparam[opt] int|Tensor dim
@bool[opt=false] keepdim
@treturn Tensor values
@treturn[opt] Tensor positions
@function Tensor:min
*/
static int l_min(lua_State *L) {
    if (test_tensor(L, 2)) return binary(L, GRAFT_MINIMUM);
    return extreme(L, GRAFT_RMIN);
}

/* argmax/argmin([dim [, keepdim]]): 1-based positions (over all elements: the flat position). */
static int argext(lua_State *L, graft_redop op) {
    graft_tensor *x = check_tensor(L, 1);
    int dim = lua_isnoneornil(L, 2) ? -1 : check_dim(L, 2, x->ndim, 0, redop_names[op]);
    bool keepdim = lua_toboolean(L, 3);
    lua_settop(L, 1);
    graft_tensor *idx = push_tensor(L);
    CALL_OR_RAISE(L, redop_names[op], graft_reduce(ctx_of(L), NULL, idx, x, dim, keepdim, op, 1, &err));
    return 1;
}

/***
1-based positions of the maximum over a dim (or the flat position over everything).
@int[opt] dim
@bool[opt=false] keepdim
@treturn Tensor i64
@function Tensor:argmax
*/
static int l_argmax(lua_State *L) { return argext(L, GRAFT_RARGMAX); }
/***
1-based positions of the minimum, as `argmax`.
@int[opt] dim
@bool[opt=false] keepdim
@treturn Tensor i64
@function Tensor:argmin
*/
static int l_argmin(lua_State *L) { return argext(L, GRAFT_RARGMIN); }

/* ---- matmul and selection ---------------------------------------------------------------- */

/***
The matrix product with torch.matmul's rules (vectors, matrices, broadcast batches), on OpenBLAS for f32.
@tparam Tensor b
@treturn Tensor
@function Tensor:matmul
*/
static int l_matmul(lua_State *L) {
    graft_tensor *a = check_tensor(L, 1), *b = check_tensor(L, 2);
    graft_tensor *out = push_tensor(L);
    CALL_OR_RAISE(L, "matmul", graft_matmul(ctx_of(L), out, a, b, &err));
    return 1;
}

/* An index argument: an i64 tensor, or a Lua array of integers made into one. */
static graft_tensor *check_index(lua_State *L, int idx, const char *fn) {
    graft_tensor *t = test_tensor(L, idx);
    if (t) return t;
    if (!lua_istable(L, idx)) raise_error(L, "%s: indices must be an i64 tensor or a Lua array", fn);
    int64_t n = (int64_t)luaL_len(L, idx);
    graft_tensor *out = push_tensor(L);
    CALL_OR_RAISE(L, fn, graft_tensor_alloc(out, ctx_of(L), GRAFT_I64, 1, &n, &err));
    int64_t *p = graft_tensor_data(out);
    for (int64_t i = 0; i < n; i++) {
        lua_geti(L, idx, i + 1);
        int isint;
        p[i] = lua_tointegerx(L, -1, &isint);
        if (!isint) raise_error(L, "%s: index %I is not an integer", fn, (lua_Integer)i + 1);
        lua_pop(L, 1);
    }
    return out;
}

/***
The positions idx of dim d (1-based i64 indices, or a Lua array).
@int d
@tparam Tensor|{int,...} idx
@treturn Tensor
@function Tensor:index_select
*/
static int l_index_select(lua_State *L) {
    graft_tensor *x = check_tensor(L, 1);
    int dim = check_dim(L, 2, x->ndim, 0, "index_select");
    graft_tensor *idx = check_index(L, 3, "index_select");
    graft_tensor *out = push_tensor(L);
    CALL_OR_RAISE(L, "index_select", graft_index_select(ctx_of(L), out, x, dim, idx, 1, &err));
    return 1;
}

/***
out[i][j] = self[idx[i][j]][j] along dim d, as torch.gather (1-based indices).
@int d
@tparam Tensor idx i64
@treturn Tensor
@function Tensor:gather
*/
static int l_gather(lua_State *L) {
    graft_tensor *x = check_tensor(L, 1);
    int dim = check_dim(L, 2, x->ndim, 0, "gather");
    graft_tensor *idx = check_tensor(L, 3);
    graft_tensor *out = push_tensor(L);
    CALL_OR_RAISE(L, "gather", graft_gather(ctx_of(L), out, x, dim, idx, 1, &err));
    return 1;
}

/* index_add_(dim, idx, src): self[..., idx[i], ...] += src[..., i, ...]. */
/***
In place: adds the slices of src along dim d at the 1-based positions idx.
@int d
@tparam Tensor idx
@tparam Tensor src
@treturn Tensor self
@function Tensor:index_add_
*/
static int l_index_add_(lua_State *L) {
    graft_tensor *self = check_tensor(L, 1);
    int dim = check_dim(L, 2, self->ndim, 0, "index_add_");
    graft_tensor *idx = check_index(L, 3, "index_add_"), *src = check_tensor(L, 4);
    graft_error err;
    check_status(L, graft_index_add(self, dim, idx, src, 1, &err), "index_add_", &err);
    graft_tensor_mark_written(self);
    lua_settop(L, 1);
    return 1;
}

/* scatter_add_(dim, idx, src): self[i][idx[i][j]] += src[i][j] (for dim 2), f32. */
/***
In place: self[idx[i][j]][j] += src[i][j] along dim d, as torch.scatter_add_.
@int d
@tparam Tensor idx
@tparam Tensor src
@treturn Tensor self
@function Tensor:scatter_add_
*/
static int l_scatter_add_(lua_State *L) {
    graft_tensor *self = check_tensor(L, 1);
    int dim = check_dim(L, 2, self->ndim, 0, "scatter_add_");
    graft_tensor *idx = check_tensor(L, 3), *src = check_tensor(L, 4);
    graft_error err;
    check_status(L, graft_scatter_add(self, dim, idx, src, 1, &err), "scatter_add_", &err);
    graft_tensor_mark_written(self);
    lua_settop(L, 1);
    return 1;
}

/* topk(k [, dim [, {largest = true}]]) -> values, positions (sorted). */
/***
The k largest (or smallest) values along a dim and their 1-based positions, sorted.
@int k
@int[opt=-1] dim
@tparam[opt] table opts `{largest = false}` for the smallest
@treturn Tensor values
@treturn Tensor positions (i64)
@function Tensor:topk
*/
static int l_topk(lua_State *L) {
    graft_tensor *x = check_tensor(L, 1);
    lua_Integer k = luaL_checkinteger(L, 2);
    int dim = lua_isnoneornil(L, 3) ? (x->ndim ? x->ndim - 1 : 0) : check_dim(L, 3, x->ndim, 0, "topk");
    bool largest = true;
    if (lua_istable(L, 4)) {
        lua_getfield(L, 4, "largest");
        if (!lua_isnil(L, -1)) largest = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    lua_settop(L, 1);
    graft_tensor *vals = push_tensor(L), *idx = push_tensor(L);
    CALL_OR_RAISE(L, "topk", graft_topk(ctx_of(L), vals, idx, x, k, dim, largest, 1, &err));
    return 2;
}

static const luaL_Reg methods[] = {
    {"add", l_add}, {"sub", l_sub}, {"mul", l_mul}, {"div", l_div}, {"pow", l_pow},
    {"maximum", l_maximum}, {"minimum", l_minimum},
    {"eq", l_eq}, {"ne", l_ne}, {"lt", l_lt}, {"le", l_le}, {"gt", l_gt}, {"ge", l_ge},
    {"neg", l_unary_neg}, {"abs", l_unary_abs}, {"sign", l_unary_sign}, {"relu", l_unary_relu}, {"exp", l_unary_exp},
    {"log", l_unary_log}, {"sqrt", l_unary_sqrt}, {"rsqrt", l_unary_rsqrt}, {"sigmoid", l_unary_sigmoid},
    {"tanh", l_unary_tanh}, {"floor", l_unary_floor}, {"ceil", l_unary_ceil}, {"round", l_unary_round},
    {"reciprocal", l_unary_reciprocal}, {"clamp", l_clamp},
    {"add_", l_add_}, {"sub_", l_sub_}, {"mul_", l_mul_}, {"div_", l_div_},
    {"fill_", l_fill_}, {"zero_", l_zero_}, {"copy_", l_copy_},
    {"sum", l_sum}, {"mean", l_mean}, {"prod", l_prod}, {"max", l_max}, {"min", l_min},
    {"argmax", l_argmax}, {"argmin", l_argmin},
    {"matmul", l_matmul}, {"index_select", l_index_select}, {"gather", l_gather},
    {"topk", l_topk}, {"where", l_where}, {"index_add_", l_index_add_},
    {"scatter_add_", l_scatter_add_},
    {NULL, NULL},
};

static const luaL_Reg metamethods[] = {
    {"__add", l_add}, {"__sub", l_sub}, {"__mul", l_mul}, {"__div", l_div},
    {"__pow", l_pow}, {"__unm", l_unm}, {NULL, NULL},
};

void binding_open_ops(lua_State *L) {
    luaL_getmetatable(L, TENSOR_MT);
    binding_setfuncs(L, metamethods);
    lua_getfield(L, -1, "__methods");
    binding_setfuncs(L, methods);
    lua_pop(L, 2);
    static const luaL_Reg module_funcs[] = {{"where", l_where}, {"matmul", l_matmul}, {NULL, NULL}};
    binding_setfuncs(L, module_funcs);
}
