/* Status codes and the caller-owned error record every fallible core call fills.
 * The core never prints, exits or raises: the binding turns a record into a Lua error. */
#ifndef GRAFT_ERROR_H
#define GRAFT_ERROR_H

typedef enum {
    GRAFT_OK = 0,
    GRAFT_EINVAL,   /* bad argument: shape, dim, dtype, value */
    GRAFT_ENOMEM,   /* allocation failed or the memory cap was hit */
    GRAFT_EIO,      /* a file could not be read or written */
    GRAFT_EFORMAT   /* a file's contents are malformed */
} graft_status;

typedef struct {
    char msg[256];
} graft_error;

/* Fills err->msg (printf-style, truncated to fit) and returns code; err may be NULL. */
graft_status graft_error_set(graft_error *err, graft_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
