/* Whole files: a bounded read into memory, and an atomic write (a temporary file beside
 * the target, synced, then renamed over it, so a reader or a crash sees the old file or
 * the new one, never a torn one). */
#ifndef GRAFT_IO_FILE_H
#define GRAFT_IO_FILE_H

#include <stddef.h>

#include "../core/ctx.h"
#include "../core/error.h"

/* Reads all of path into a malloc'd buffer (*data, *len; free with free()), allocated
 * through ctx's fault hook (ctx may be NULL). A file longer
 * than max_bytes is refused before anything of its size is allocated. */
graft_status graft_file_read(graft_ctx *ctx, const char *path, size_t max_bytes, unsigned char **data, size_t *len,
                             graft_error *err);

typedef struct {
    int fd;             /* -1 when not open */
    int failed;         /* a write failed: commit removes the temporary file */
    int saved_errno;
    const char *path;   /* borrowed */
    char tmp[4096];
} graft_atomic_file;

/* Creates the temporary file for path. */
graft_status graft_atomic_begin(graft_atomic_file *f, const char *path, graft_error *err);
/* Appends n bytes; a failure is remembered and reported by commit. */
void graft_atomic_write(graft_atomic_file *f, const void *p, size_t n);
/* Syncs and renames the file over path, or (ok = 0, or after a failed write) removes it. */
graft_status graft_atomic_commit(graft_atomic_file *f, int ok, graft_error *err);

#endif
