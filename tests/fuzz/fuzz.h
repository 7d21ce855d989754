/* Shared by graft's libFuzzer harnesses: a scratch file per process for the loaders that
 * read paths, since they are the entry points users call. */
#ifndef GRAFT_FUZZ_H
#define GRAFT_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Writes data to a file of this process's own and returns its path. */
static inline const char *fuzz_file(const uint8_t *data, size_t size, const char *suffix) {
    static char path[256];
    snprintf(path, sizeof path, "%s/graft-fuzz-%ld%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (long)getpid(), suffix);
    FILE *f = fopen(path, "wb");
    if (!f) abort();            /* the harness's own failure, not graft's */
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    return path;
}

#endif
