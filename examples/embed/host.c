/* examples/embed/host.c — a C program that embeds Lua 5.4 and graft, as a game or app
 * engine would, and classifies images with a graft model file:
 *
 *     host [--threads N] MODEL IMAGE...
 *
 * prints, in input order, one line per image: IMAGE, then class and probability for the
 * top 3 classes, tab-separated. With --threads N, N lua_States in N threads each load the
 * model and classify a contiguous share of the images; nothing is shared between them but
 * the process, and the output is the same as with one thread.
 *
 * Build: make examples (links build/libgraft.a: graft's Lua files are compiled into it, so
 * the host needs no graft files on disk), or against an installed graft:
 *     cc host.c $(pkg-config --cflags --libs graft) -o host
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graft.h"

/* Runs in each state: loads the model and returns the function that classifies one image. */
static const char *setup_script =
    "local graft = require 'graft'\n"
    "local model_path, threads = ...\n"
    "if threads then graft.set_num_threads(threads) end\n"
    "local model = graft.load_model(model_path)\n"
    "model:eval()\n"
    "return function(path)\n"
    "  local top = graft.predict(model, {path}, {topk = 3})[1]\n"
    "  local cells = {path}\n"
    "  for j = 1, #top.classes do\n"
    "    cells[#cells + 1] = tostring(top.classes[j])\n"
    "    cells[#cells + 1] = ('%.4f'):format(top.probs[j])\n"
    "  end\n"
    "  return table.concat(cells, '\\t')\n"
    "end\n";

typedef struct {
    const char *model;
    char **images;      /* this worker's share of argv */
    char **lines;       /* one result (or NULL) per image, owned by the worker */
    char **errors;      /* one error message (or NULL) per image */
    int count;
    int one_thread_each; /* several states: each computes on one core */
    char *setup_error;
} worker;

static char *copy_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (c) memcpy(c, s, n);
    return c;
}

static void *classify(void *arg) {
    worker *w = arg;
    lua_State *L = luaL_newstate();
    if (!L) {
        w->setup_error = copy_string("cannot create a Lua state (out of memory)");
        return NULL;
    }
    luaL_openlibs(L);
    luaL_requiref(L, "graft", luaopen_graft, 0);
    lua_pop(L, 1);
    if (luaL_loadstring(L, setup_script) != LUA_OK) goto setup_failed;
    lua_pushstring(L, w->model);
    if (w->one_thread_each) lua_pushinteger(L, 1);
    else lua_pushnil(L);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) goto setup_failed;
    for (int i = 0; i < w->count; i++) {
        lua_pushvalue(L, -1);
        lua_pushstring(L, w->images[i]);
        if (lua_pcall(L, 1, 1, 0) == LUA_OK) w->lines[i] = copy_string(lua_tostring(L, -1));
        else w->errors[i] = copy_string(lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    lua_close(L);
    return NULL;
setup_failed:
    w->setup_error = copy_string(lua_tostring(L, -1));
    lua_close(L);
    return NULL;
}

static int usage(void) {
    fprintf(stderr, "usage: host [--threads N] MODEL IMAGE...\n");
    return 2;
}

int main(int argc, char **argv) {
    int threads = 1, first = 1;
    if (argc > 2 && strcmp(argv[1], "--threads") == 0) {
        char *end;
        long n = strtol(argv[2], &end, 10);
        if (*end || n < 1 || n > 64) {
            fprintf(stderr, "host: --threads wants a count in 1..64, got '%s'\n", argv[2]);
            return 2;
        }
        threads = (int)n;
        first = 3;
    }
    if (argc - first < 2) return usage();
    const char *model = argv[first];
    char **images = argv + first + 1;
    int count = argc - first - 1;
    if (threads > count) threads = count;

    char **lines = calloc((size_t)count, sizeof *lines);
    char **errors = calloc((size_t)count, sizeof *errors);
    worker *workers = calloc((size_t)threads, sizeof *workers);
    pthread_t *ids = calloc((size_t)threads, sizeof *ids);
    if (!lines || !errors || !workers || !ids) {
        fprintf(stderr, "host: out of memory\n");
        return 1;
    }
    for (int t = 0, start = 0; t < threads; t++) {
        int share = count / threads + (t < count % threads);
        workers[t] = (worker){model, images + start, lines + start, errors + start, share, threads > 1, NULL};
        start += share;
    }
    int started = 0;
    for (; started < threads - 1; started++)
        if (pthread_create(&ids[started], NULL, classify, &workers[started]) != 0) break;
    for (int t = started; t < threads; t++) classify(&workers[t]);  /* the rest on this thread */
    for (int t = 0; t < started; t++) pthread_join(ids[t], NULL);

    int status = 0;
    for (int t = 0; t < threads; t++) {
        if (workers[t].setup_error) {
            fprintf(stderr, "host: %s\n", workers[t].setup_error);
            free(workers[t].setup_error);
            status = 1;
        }
    }
    for (int i = 0; i < count; i++) {
        if (lines[i]) printf("%s\n", lines[i]);
        if (errors[i]) {
            fprintf(stderr, "host: %s\n", errors[i]);
            status = 1;
        }
        free(lines[i]);
        free(errors[i]);
    }
    free(lines);
    free(errors);
    free(workers);
    free(ids);
    return status;
}
