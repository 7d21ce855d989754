/* Whole-file reads and atomic writes on POSIX file descriptors. */
#define _GNU_SOURCE
#include "file.h"

#include "../core/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

graft_status graft_file_read(graft_ctx *ctx, const char *path, size_t max_bytes, unsigned char **data, size_t *len,
                             graft_error *err) {
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return graft_error_set(err, GRAFT_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    graft_status st = GRAFT_OK;
    if (fstat(fd, &sb) != 0) st = graft_error_set(err, GRAFT_EIO, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode)) st = graft_error_set(err, GRAFT_EIO, "%s: not a regular file", path);
    else if ((uint64_t)sb.st_size > max_bytes)
        st = graft_error_set(err, GRAFT_EFORMAT, "%s: %lld bytes is over the limit of %zu", path,
                             (long long)sb.st_size, max_bytes);
    size_t want = st == GRAFT_OK ? (size_t)sb.st_size : 0, got = 0;
    unsigned char *buf = st == GRAFT_OK ? graft_malloc(ctx, want ? want : 1) : NULL;
    if (st == GRAFT_OK && !buf) st = graft_error_set(err, GRAFT_ENOMEM, "%s: out of memory", path);
    while (st == GRAFT_OK && got < want) {
        ssize_t r = read(fd, buf + got, want - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) st = graft_error_set(err, GRAFT_EIO, "%s: read failed: %s", path, strerror(errno));
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (st != GRAFT_OK) {
        free(buf);
        return st;
    }
    *data = buf;
    *len = got;   /* shorter when the file shrank while being read */
    return GRAFT_OK;
}

graft_status graft_atomic_begin(graft_atomic_file *f, const char *path, graft_error *err) {
    f->fd = -1;
    f->failed = 0;
    f->saved_errno = 0;
    f->path = path;
    if (strlen(path) + 64 > sizeof f->tmp) return graft_error_set(err, GRAFT_EINVAL, "%s: path too long", path);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    for (int attempt = 0; attempt < 100 && f->fd < 0; attempt++) {
        snprintf(f->tmp, sizeof f->tmp, "%s.tmp-%ld-%ld-%d", path, (long)getpid(), (long)ts.tv_nsec, attempt);
        f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (f->fd < 0 && errno != EEXIST) break;
    }
    if (f->fd < 0)
        return graft_error_set(err, GRAFT_EIO, "%s: cannot create a temporary file beside it: %s", path,
                               strerror(errno));
    return GRAFT_OK;
}

void graft_atomic_write(graft_atomic_file *f, const void *p, size_t n) {
    const char *c = p;
    while (!f->failed && n > 0) {
        ssize_t w = write(f->fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            f->failed = 1;
            f->saved_errno = w < 0 ? errno : EIO;
            break;
        }
        c += w;
        n -= (size_t)w;
    }
}

static void sync_parent_dir(const char *path) {
    char *copy = strdup(path);
    if (!copy) return;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);   /* best effort: makes the rename itself durable */
        close(dfd);
    }
    free(copy);
}

graft_status graft_atomic_commit(graft_atomic_file *f, int ok, graft_error *err) {
    if (f->fd < 0) return GRAFT_OK;
    if (ok && !f->failed && fsync(f->fd) != 0) f->failed = 1, f->saved_errno = errno;
    if (close(f->fd) != 0 && !f->failed) f->failed = 1, f->saved_errno = errno;
    f->fd = -1;
    if (ok && !f->failed && rename(f->tmp, f->path) != 0) f->failed = 1, f->saved_errno = errno;
    if (!ok || f->failed) {
        unlink(f->tmp);
        if (!ok) return GRAFT_OK;   /* the caller already has its error */
        return graft_error_set(err, GRAFT_EIO, "%s: write failed: %s", f->path, strerror(f->saved_errno));
    }
    sync_parent_dir(f->path);
    return GRAFT_OK;
}
