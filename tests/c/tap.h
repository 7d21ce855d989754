/* A minimal TAP producer for graft's C tests, read by prove. */
#ifndef GRAFT_TAP_H
#define GRAFT_TAP_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;  /* one test program, one count */

static inline void tap_plan(int n) { printf("1..%d\n", n); }

static inline int tap_ok(int cond, const char *name) {
    printf("%sok %d - %s\n", cond ? "" : "not ", ++tap_n, name);
    if (!cond) tap_failed++;
    return cond;
}

static inline int tap_close(double got, double want, double tol, const char *name) {
    int ok = tap_ok(fabs(got - want) <= tol, name);
    if (!ok) printf("# got %.9g, want %.9g (tolerance %.3g)\n", got, want, tol);
    return ok;
}

static inline int tap_str_contains(const char *s, const char *part, const char *name) {
    int ok = tap_ok(s && strstr(s, part) != NULL, name);
    if (!ok) printf("# \"%s\" does not contain \"%s\"\n", s ? s : "(null)", part);
    return ok;
}

static inline int tap_done(void) { return tap_failed ? 1 : 0; }

#endif
