/* tests/c/020-states-lua.c — graft is embeddable: several lua_States in several threads use
 * it at once, each with its own RNG and memory accounting, and close without leaks. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <pthread.h>
#include <stdlib.h>

#include "../../csrc/lua/graft.h"
#include "tap.h"

typedef struct {
    long long seed;
    double result;      /* sum of draws after heavy work */
    long long bytes;    /* graft.memory().allocated at the end: one 1000-float tensor */
    char error[256];
} job;

static const char *script =
    "local g = require 'graft.core'\n"
    "local seed = ...\n"
    "g.manual_seed(seed)\n"
    "local acc = 0\n"
    "for i = 1, 30 do\n"
    "  local a = g.randn{64, 64}\n"
    "  local b = a:matmul(a:t()):sum()\n"       /* OpenBLAS and OpenMP loops in every state */
    "  acc = acc + a:get(1, 1) + b:item() * 0\n"
    "end\n"
    "local keep = g.zeros{1000}\n"
    "collectgarbage()\n"
    "return acc, g.memory().allocated\n";

static void *run(void *arg) {
    job *j = arg;
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "graft.core", luaopen_graft_core, 0);
    lua_pop(L, 1);
    if (luaL_loadstring(L, script) != LUA_OK) goto fail;
    lua_pushinteger(L, j->seed);
    if (lua_pcall(L, 1, 2, 0) != LUA_OK) goto fail;
    j->result = lua_tonumber(L, -2);
    j->bytes = lua_tointeger(L, -1);
    lua_close(L);
    return NULL;
fail:
    snprintf(j->error, sizeof j->error, "%s", lua_tostring(L, -1));
    lua_close(L);
    return NULL;
}

int main(void) {
    tap_plan(5);
    job ref = {.seed = 11};
    run(&ref);
    tap_ok(ref.error[0] == 0, "a script runs in a fresh state");
    if (ref.error[0]) printf("# %s\n", ref.error);

    enum { N = 4 };
    job jobs[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (job){.seed = i % 2 ? 11 : 12};
        pthread_create(&th[i], NULL, run, &jobs[i]);
    }
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    int ok = 1, differs = 1, own_memory = 1;
    for (int i = 0; i < N; i++) {
        ok &= jobs[i].error[0] == 0;
        if (jobs[i].error[0]) printf("# %s\n", jobs[i].error);
        if (jobs[i].seed == 11 && jobs[i].result != ref.result) differs = 0;
        own_memory &= jobs[i].bytes == 4032;   /* 4000 bytes, rounded up to 64 */
        if (jobs[i].bytes != 4032) printf("# state %d: %lld bytes\n", i, jobs[i].bytes);
    }
    tap_ok(ok, "four states run at once in four threads");
    tap_ok(differs, "each state's RNG is its own: concurrent draws do not disturb it");
    tap_ok(jobs[0].result != jobs[1].result, "different seeds in different states give different draws");
    tap_ok(own_memory, "each state accounts only its own tensors");
    return tap_done();
}
