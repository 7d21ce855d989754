/* Helpers shared by the binding files: the per-state context, tensor userdata, argument
 * checking, and turning core errors into Lua errors. Every binding C function is registered
 * with the state's graft_ctx userdata as upvalue 1. */
#ifndef GRAFT_BINDING_H
#define GRAFT_BINDING_H

#include <lauxlib.h>
#include <lua.h>

#include "../core/ctx.h"
#include "../core/tensor.h"

#define GRAFT_EXPORT __attribute__((visibility("default")))
#define TENSOR_MT "graft.Tensor"

#define ctx_of(L) ((graft_ctx *)lua_touserdata((L), lua_upvalueindex(1)))

/* Registers funcs into the table at the top of the stack, each with the ctx as upvalue. */
void binding_setfuncs(lua_State *L, const luaL_Reg *funcs);

/* A new empty tensor userdata on the stack (no storage: a later allocation failure leaves
 * a valid, collectable object). */
graft_tensor *push_tensor(lua_State *L);
graft_tensor *check_tensor(lua_State *L, int idx);
graft_tensor *test_tensor(lua_State *L, int idx);   /* NULL if not a tensor */
/* The tensor at idx, or a new 0-dim tensor (pushed) holding the number at idx, typed to
 * combine with `like` as PyTorch types Python scalars. */
graft_tensor *check_operand(lua_State *L, int idx, const graft_tensor *like);

/* The number at idx as an element of an integer dtype: a Lua integer, or a float that is
 * whole and inside int64; else raises naming fn and the value. */
lua_Integer check_whole(lua_State *L, int idx, graft_dtype dt, const char *fn);
/* Sets every element of t to the number at idx (integers exactly; see check_whole). */
void fill_number(lua_State *L, graft_tensor *t, int idx, const char *fn);

/* luaL_error with the position of the first Lua frame outside graft's own files: an error
 * raised under graft's Lua wrappers points at the user's line, as graft.options does. */
int raise_error(lua_State *L, const char *fmt, ...);
/* Raises "<fn>: <msg>" when st is not OK; else nudges Lua's GC by the bytes the core has
 * allocated since the last nudge, so big temporaries do not pile up between cycles. */
void check_status(lua_State *L, graft_status st, const char *fn, const graft_error *err);
/* The shell around every core call that may allocate: runs `call`, which reports into `err`
 * (a graft_error this macro declares: write `&err` in the call); if memory ran out,
 * collects garbage (dead tensors may hold what it needs) and runs `call` once more; then
 * raises "<fn>: <message>" if it failed, else nudges the GC (check_status). */
#define CALL_OR_RAISE(L, fn, call)                      \
    do {                                                \
        graft_error err;                                \
        graft_status call_st_ = (call);                 \
        if (call_st_ == GRAFT_ENOMEM) {                 \
            lua_gc((L), LUA_GCCOLLECT, 0);              \
            call_st_ = (call);                          \
        }                                               \
        check_status((L), call_st_, (fn), &err);        \
    } while (0)

/* A Lua dim (1-based, negative from the end) for a tensor of ndim dims -> 0-based.
 * extra = 1 allows one past the end (unsqueeze). */
int check_dim(lua_State *L, int idx, int ndim, int extra, const char *fn);
/* A shape: a table {d1, d2, ...} at idx, or the integers from idx to the top. */
int check_shape(lua_State *L, int idx, int64_t *size, const char *fn);
graft_dtype check_dtype(lua_State *L, int idx, graft_dtype def);
/* Pushes a new Lua array holding size[0..ndim). */
void push_shape(lua_State *L, int ndim, const int64_t *size);

void binding_open_tensor(lua_State *L);  /* tensor metatable and constructors into module */
void binding_open_ops(lua_State *L);     /* math on tensors */
void binding_open_io(lua_State *L);      /* save, load, json */
void binding_open_nn(lua_State *L);      /* kernels behind graft.F, kernel counters */
void binding_open_data(lua_State *L);    /* generators, transforms, the loader's worker pool */

#endif
