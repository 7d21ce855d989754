/* tests/c/025-json-states-lua.c — bad JSON parsed in several lua_States at once: each error
 * names its own text's offset. cJSON keeps the position of its last error in one global
 * (cJSON_GetErrorPtr), so a state that read it could report the offset of another state's
 * text; graft takes the position from each parse's own return_parse_end. Both parsers are
 * run: graft.json.decode and the safetensors header (graft.load). */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../csrc/lua/graft.h"
#include "tap.h"

enum { N = 4, ROUNDS = 20000 };

typedef struct {
    int id;
    int wrong;          /* errors that named another offset */
    char path[64];      /* a safetensors file whose header is bad at its own offset */
    char error[256];
} job;

/* State i parses `[1, 2, ...` with i * 7 + 3 good elements, then a bad token; decode's
 * offsets are 1-based, the safetensors header's count the file's bytes from 0 (8 bytes of
 * length first). */
static const char *script =
    "local g = require 'graft.core'\n"
    "local id, path, rounds = ...\n"
    "local parts = {}\n"
    "for k = 1, id * 7 + 3 do parts[k] = tostring(k % 10) end\n"
    "local text = '[' .. table.concat(parts, ',') .. ',?]'\n"
    "local want = #text - 1\n"
    "local wrong = 0\n"
    "for r = 1, rounds do\n"
    "  local ok, err = pcall(g.json.decode, text)\n"
    "  local at = tonumber(tostring(err):match('at byte (%d+)'))\n"
    "  if ok or at ~= want then wrong = wrong + 1 end\n"
    "  if r % 10 == 0 then\n"
    "    local ok2, err2 = pcall(g.load, path)\n"
    "    local at2 = tonumber(tostring(err2):match('at byte (%-?%d+)'))\n"
    "    if ok2 or at2 ~= 8 + 12 + id then wrong = wrong + 1 end\n"
    "  end\n"
    "end\n"
    "return wrong\n";

static void *run(void *arg) {
    job *j = arg;
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "graft.core", luaopen_graft_core, 0);
    lua_pop(L, 1);
    if (luaL_loadstring(L, script) != LUA_OK) goto fail;
    lua_pushinteger(L, j->id);
    lua_pushstring(L, j->path);
    lua_pushinteger(L, ROUNDS);
    if (lua_pcall(L, 3, 1, 0) != LUA_OK) goto fail;
    j->wrong = (int)lua_tointeger(L, -1);
    lua_close(L);
    return NULL;
fail:
    snprintf(j->error, sizeof j->error, "%s", lua_tostring(L, -1));
    lua_close(L);
    return NULL;
}

/* A safetensors file whose header `{"a":[1,2],` + id spaces + `?}` fails at the `?` (cJSON
 * places the error one byte past it: 8 + 12 + id). */
static int write_bad_st(const char *path, int id) {
    char hdr[128];
    int n = snprintf(hdr, sizeof hdr, "{\"a\":[1,2],%*s?}", id, "");
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    unsigned char len[8] = {0};
    for (int b = 0; b < 8; b++) len[b] = (unsigned char)((unsigned long long)n >> (8 * b));
    int ok = fwrite(len, 1, 8, f) == 8 && fwrite(hdr, 1, (size_t)n, f) == (size_t)n;
    return fclose(f) == 0 && ok;
}

int main(void) {
    tap_plan(3);
    job jobs[N];
    pthread_t th[N];
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    int files = 1;
    for (int i = 0; i < N; i++) {
        jobs[i] = (job){.id = i};
        snprintf(jobs[i].path, sizeof jobs[i].path, "%.40s/graft-json-%d-%d.st", tmp, (int)getpid(), i);
        files &= write_bad_st(jobs[i].path, i);
    }
    tap_ok(files, "a bad safetensors file per state");
    for (int i = 0; i < N; i++) pthread_create(&th[i], NULL, run, &jobs[i]);
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    int ok = 1, wrong = 0;
    for (int i = 0; i < N; i++) {
        ok &= jobs[i].error[0] == 0;
        if (jobs[i].error[0]) printf("# state %d: %s\n", i, jobs[i].error);
        wrong += jobs[i].wrong;
        if (jobs[i].wrong) printf("# state %d: %d errors named another offset\n", i, jobs[i].wrong);
        remove(jobs[i].path);
    }
    tap_ok(ok, "four states parse bad JSON at once in four threads");
    tap_ok(wrong == 0, "every error names the offset in its own state's text");
    return tap_done();
}
