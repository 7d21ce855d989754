/* luaopen_graft_core: creates the state's graft_ctx and registers the binding; plus the
 * runtime functions (threads, memory, RNG state, version). */

/***
Runtime: threads, the random generator, memory.
@module graft
*/

/***
Runtime: threads, the random generator, memory.
@section runtime
*/
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "../core/alloc.h"
#include "../core/cpu.h"
#include "../core/threads.h"
#include "../ops/gemm.h"
#include "binding.h"
#include "graft.h"

#define GRAFT_VERSION "0.1.0"
/* A fixed default seed, as PyTorch has: a script that never seeds still repeats itself. */
#define GRAFT_DEFAULT_SEED 67280421310721ULL

GRAFT_EXPORT const char *graft_version(void) { return GRAFT_VERSION; }

void binding_setfuncs(lua_State *L, const luaL_Reg *funcs) {
    lua_getfield(L, LUA_REGISTRYINDEX, "graft.ctx");
    luaL_setfuncs(L, funcs, 1);
}

/***
Sets the threads graft's kernels and OpenBLAS use (process-wide).
@int n 1..1024
@function set_num_threads
*/
static int l_set_num_threads(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 1 && n <= 1024, 1, "thread count must be in 1..1024");
    graft_threads_set((int)n);
    return 0;
}

/***
The thread count in force (by default OpenBLAS's: the number of cores).
@treturn int
@function get_num_threads
*/
static int l_get_num_threads(lua_State *L) {
    lua_pushinteger(L, graft_threads_get());
    return 1;
}

/***
Seeds this state's random generator.
@int seed
@function manual_seed
*/
static int l_manual_seed(lua_State *L) {
    graft_rng_seed(&ctx_of(L)->rng, (uint64_t)luaL_checkinteger(L, 1));
    return 0;
}

/***
The generator's state, a 32-byte u8 tensor.
@treturn Tensor
@function get_rng_state
*/
static int l_get_rng_state(lua_State *L) {
    graft_tensor *t = push_tensor(L);
    int64_t n = GRAFT_RNG_STATE_BYTES;
    graft_error err;
    check_status(L, graft_tensor_alloc(t, ctx_of(L), GRAFT_U8, 1, &n, &err), "get_rng_state", &err);
    memcpy(graft_tensor_data(t), ctx_of(L)->rng.s, GRAFT_RNG_STATE_BYTES);
    return 1;
}

/***
Restores a state from `get_rng_state`.
@tparam Tensor state
@function set_rng_state
*/
static int l_set_rng_state(lua_State *L) {
    graft_tensor *t = check_tensor(L, 1);
    luaL_argcheck(L, t->dtype == GRAFT_U8 && t->ndim == 1 && t->size[0] == GRAFT_RNG_STATE_BYTES &&
                     graft_tensor_is_contiguous(t), 1,
                  "expected the u8 tensor of 32 bytes that get_rng_state returns");
    graft_rng r;
    memcpy(r.s, graft_tensor_data(t), GRAFT_RNG_STATE_BYTES);
    luaL_argcheck(L, r.s[0] | r.s[1] | r.s[2] | r.s[3], 1, "an all-zero RNG state is invalid");
    ctx_of(L)->rng = r;
    return 0;
}

/***
This state's tensor memory in bytes: `{allocated, peak, cached, limit}` (limit only when set).
@treturn table
@function memory
*/
static int l_memory(lua_State *L) {
    graft_ctx *ctx = ctx_of(L);
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, (lua_Integer)atomic_load(&ctx->live_bytes));
    lua_setfield(L, -2, "allocated");
    lua_pushinteger(L, (lua_Integer)atomic_load(&ctx->peak_bytes));
    lua_setfield(L, -2, "peak");
    lua_pushinteger(L, (lua_Integer)graft_ctx_cached_bytes(ctx));
    lua_setfield(L, -2, "cached");
    size_t cap = atomic_load(&ctx->cap);
    if (cap) {
        lua_pushinteger(L, (lua_Integer)cap);
        lua_setfield(L, -2, "limit");
    }
    return 1;
}

/***
Caps this state's tensor memory: an allocation past the cap is a Lua error naming the op.
@int[opt] bytes 0 or nil: no cap
@function set_memory_limit
*/
static int l_set_memory_limit(lua_State *L) {
    lua_Integer cap = luaL_optinteger(L, 1, 0);
    luaL_argcheck(L, cap >= 0, 1, "the limit must be a byte count >= 0 (0 or nil: none)");
    atomic_store(&ctx_of(L)->cap, (size_t)cap);
    return 0;
}

/* clock(): monotonic wall time in seconds, for timing (os.clock adds up every thread's CPU). */
/***
A monotonic wall clock in seconds, for timing (os.clock adds up every thread's CPU time).
@treturn number
@function clock
*/
static int l_clock(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9);
    return 1;
}

/***
What this process runs on, for bug reports and benchmark tables (`graft info` prints it).
Fields: `version` (graft's), `lua` (`_VERSION`, or LuaJIT's `jit.version`), `cpu` (the model
name) with `cpu_family` and `cpu_model` (cpuid's numbers, 0 off x86), `isa` (the instruction
set graft's kernels use: "avx512", "avx2" or "generic"; GRAFT_ISA forces one), `gemm` (the
GEMM serving convolutions and linear layers: "graft avx512", "graft avx2", "graft generic",
or "openblas" under GRAFT_GEMM=openblas), `blas` (e.g. "OpenBLAS 0.3.21"), `blas_core` (the
core OpenBLAS chose, e.g. "SkylakeX"; OPENBLAS_CORETYPE forces one), `threads`
(`get_num_threads()`).
@treturn table
@function info
*/

/***
Sends a warning through graft's one channel: by default "graft: warning: <msg>" on standard
error. graft's own warnings (data sets' skipped files, checkpoint notes, a BLAS core older
than the CPU) all go through it.
@string msg
@function warn
*/

/***
Installs fn(msg) as the receiver of graft's warnings in this Lua state; nil restores the
default (standard error).
@func[opt] fn
@function set_warn
*/

/* runtime_facts(): the raw facts graft.info() is assembled from (lua/graft/runtime.lua):
 * {cpu, cpu_family, cpu_model, cpu_isa (the best set the CPU has), isa (the set graft's
 * kernels use), gemm ("graft <isa>" or "openblas"), blas_config, blas_core, threads}. */
static int l_runtime_facts(lua_State *L) {
    char name[128];
    int family, model;
    graft_cpu_model(name, sizeof name, &family, &model);
    graft_isa best = graft_cpu_best(), isa = graft_isa_in_use();
    /* The kernel that really runs: a set whose kernel this compiler could not build falls
     * back to the portable one (graft_gemm_kernel_for). */
    graft_isa kernel = graft_gemm_kernel_for(isa) == &graft_gemm_generic ? GRAFT_ISA_GENERIC : isa;
    const char *config = openblas_get_config(), *core = openblas_get_corename();
    lua_createtable(L, 0, 9);
    lua_pushstring(L, name);
    lua_setfield(L, -2, "cpu");
    lua_pushinteger(L, family);
    lua_setfield(L, -2, "cpu_family");
    lua_pushinteger(L, model);
    lua_setfield(L, -2, "cpu_model");
    lua_pushstring(L, graft_isa_name(best));
    lua_setfield(L, -2, "cpu_isa");
    lua_pushstring(L, graft_isa_name(isa));
    lua_setfield(L, -2, "isa");
    if (graft_gemm_on_blas())
        lua_pushliteral(L, "openblas");
    else
        lua_pushfstring(L, "graft %s", graft_isa_name(kernel));
    lua_setfield(L, -2, "gemm");
    lua_pushstring(L, config ? config : "");
    lua_setfield(L, -2, "blas_config");
    lua_pushstring(L, core ? core : "");
    lua_setfield(L, -2, "blas_core");
    lua_pushinteger(L, graft_threads_get());
    lua_setfield(L, -2, "threads");
    return 1;
}

/* isatty(fd): true when the file descriptor is a terminal (progress bars or plain lines). */
static int l_isatty(lua_State *L) {
    lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
    return 1;
}

/* empty_cache(): frees the blocks kept for reuse (as torch.cuda.empty_cache). */
/***
Frees the blocks graft keeps for reuse (as torch.cuda.empty_cache).
@function empty_cache
*/
static int l_empty_cache(lua_State *L) {
    graft_ctx_flush(ctx_of(L));
    return 0;
}

#ifdef GRAFT_ALLOC_FAULTS
/* Test builds only (tests/slow/920-alloc-faults.t), named with a leading _ as internal:
 * _alloc_faults(n [, sticky]) arms the state's ctx so that its n-th allocation from now fails
 * (0: none), and with sticky every later one too; _alloc_fault_stats() -> the
 * allocations counted since, whether the armed one failed, and the distinct sites reached. */
static int l_alloc_faults(lua_State *L) {
    graft_alloc_faults_arm(ctx_of(L), (long long)luaL_checkinteger(L, 1), lua_toboolean(L, 2));
    return 0;
}

static int l_alloc_fault_stats(lua_State *L) {
    long long allocs;
    bool fired;
    const char *const *sites;
    int nsites;
    graft_alloc_faults_stats(ctx_of(L), &allocs, &fired, &sites, &nsites);
    lua_pushinteger(L, (lua_Integer)allocs);
    lua_pushboolean(L, fired);
    lua_createtable(L, nsites, 0);
    for (int i = 0; i < nsites; i++) {
        lua_pushstring(L, sites[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 3;
}
#endif

/* The ctx's __gc: the state is closing and every tensor is already finalized (the ctx was
 * created first, so it is finalized last); a tensor freed later still bypasses the cache. */
static int l_ctx_gc(lua_State *L) {
    graft_ctx_close(lua_touserdata(L, 1));
    return 0;
}

static const luaL_Reg runtime_funcs[] = {
    {"empty_cache", l_empty_cache},
    {"clock", l_clock},
    {"isatty", l_isatty},
    {"runtime_facts", l_runtime_facts},
    {"set_num_threads", l_set_num_threads},
    {"get_num_threads", l_get_num_threads},
    {"manual_seed", l_manual_seed},
    {"get_rng_state", l_get_rng_state},
    {"set_rng_state", l_set_rng_state},
    {"memory", l_memory},
    {"set_memory_limit", l_set_memory_limit},
#ifdef GRAFT_ALLOC_FAULTS
    {"_alloc_faults", l_alloc_faults},
    {"_alloc_fault_stats", l_alloc_fault_stats},
#endif
    {NULL, NULL},
};

GRAFT_EXPORT int luaopen_graft_core(lua_State *L) {
    /* A GRAFT_ISA or GRAFT_GEMM graft cannot honour stops the load: a run that silently
     * took another path would time or compare the wrong thing. */
    graft_paths paths;
    graft_error err;
    if (graft_paths_chosen(&paths, &err) != GRAFT_OK) return luaL_error(L, "graft: %s", err.msg);
    /* One context per lua_State, kept in the registry for as long as the state lives. */
    if (lua_getfield(L, LUA_REGISTRYINDEX, "graft.ctx") != LUA_TUSERDATA) {
        graft_ctx *ctx = lua_newuserdatauv(L, sizeof *ctx, 0);
        graft_ctx_init(ctx, GRAFT_DEFAULT_SEED);
        lua_createtable(L, 0, 1);
        lua_pushcfunction(L, l_ctx_gc);
        lua_setfield(L, -2, "__gc");
        lua_setmetatable(L, -2);
        lua_setfield(L, LUA_REGISTRYINDEX, "graft.ctx");
    }
    lua_pop(L, 1);
    lua_newtable(L);
    binding_setfuncs(L, runtime_funcs);
    lua_pushstring(L, GRAFT_VERSION);
    lua_setfield(L, -2, "version");
    binding_open_tensor(L);
    binding_open_ops(L);
    binding_open_io(L);
    binding_open_nn(L);
    binding_open_data(L);
    return 1;
}
