/* The allocation-fault hook. Every allocation in the core, io and ops that a Lua call can
 * fail on goes through graft_alloc_fails (tensor storage, decode buffers, header tables,
 * reduction and sort scratch). In a build with GRAFT_ALLOC_FAULTS (the sanitizer build),
 * a ctx can be told to fail its n-th allocation from now, as Lua's own memerr tests do, so
 * a sweep over n = 1, 2, ... walks every failure path a call reaches and shows it ends in
 * a Lua error, without a crash or a leak (tests/slow/920-alloc-faults.t). In other builds
 * the hook is a constant false and costs nothing. The state is the ctx's: no globals. */
#ifndef GRAFT_ALLOC_H
#define GRAFT_ALLOC_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"

#define GRAFT_STR_(x) #x
#define GRAFT_STR(x) GRAFT_STR_(x)
/* The place an allocation is asked for, "file:line": the sweep counts distinct sites. */
#define GRAFT_SITE __FILE__ ":" GRAFT_STR(__LINE__)

#ifdef GRAFT_ALLOC_FAULTS
/* Counts one allocation at site through ctx (NULL: not counted, never fails) and says
 * whether it is the one armed to fail. Thread-safe. */
bool graft_alloc_fails(graft_ctx *ctx, const char *site);
/* Arms ctx: its n-th allocation from now fails (0: none), and with sticky every one after
 * it too (memory has run out: the binding's collect-and-retry cannot help); zeroes the
 * count and the flag. */
void graft_alloc_faults_arm(graft_ctx *ctx, long long n, bool sticky);
/* Allocations counted since arming, whether the armed one failed, and the distinct sites
 * reached since the ctx began (*sites points into the ctx; nsites of them). */
void graft_alloc_faults_stats(graft_ctx *ctx, long long *allocs, bool *fired, const char *const **sites,
                              int *nsites);
#else
static inline bool graft_alloc_fails(graft_ctx *ctx, const char *site) {
    (void)ctx, (void)site;
    return false;
}
#endif

#define GRAFT_ALLOC_FAILS(ctx) graft_alloc_fails((ctx), GRAFT_SITE)

static inline void *graft_malloc_at(graft_ctx *ctx, size_t n, const char *site) {
    return graft_alloc_fails(ctx, site) ? NULL : malloc(n);
}
static inline void *graft_calloc_at(graft_ctx *ctx, size_t n, size_t size, const char *site) {
    return graft_alloc_fails(ctx, site) ? NULL : calloc(n, size);
}
static inline void *graft_realloc_at(graft_ctx *ctx, void *p, size_t n, const char *site) {
    return graft_alloc_fails(ctx, site) ? NULL : realloc(p, n);
}
static inline char *graft_strdup_at(graft_ctx *ctx, const char *s, const char *site) {
    size_t n = strlen(s) + 1;
    char *p = graft_malloc_at(ctx, n, site);
    if (p) memcpy(p, s, n);
    return p;
}
/* malloc, calloc, realloc and strdup through ctx's hook (free with free()). */
#define graft_malloc(ctx, n) graft_malloc_at((ctx), (n), GRAFT_SITE)
#define graft_calloc(ctx, n, size) graft_calloc_at((ctx), (n), (size), GRAFT_SITE)
#define graft_realloc(ctx, p, n) graft_realloc_at((ctx), (p), (n), GRAFT_SITE)
#define graft_strdup(ctx, s) graft_strdup_at((ctx), (s), GRAFT_SITE)

#endif
