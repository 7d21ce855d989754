/* graft_error_set: the one place error text is formatted. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

graft_status graft_error_set(graft_error *err, graft_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}
