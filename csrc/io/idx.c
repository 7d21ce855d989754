/* IDX reader on zlib's gzread (which reads uncompressed files too). */
#include "idx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../core/alloc.h"

/* Reads the rest of the stream into a buffer grown as data arrives, up to limit + 1 bytes
 * (one more, to detect trailing data). */
static graft_status read_rest(graft_ctx *ctx, gzFile f, const char *path, uint64_t limit, unsigned char **out,
                              uint64_t *got, graft_error *err) {
    uint64_t cap = 0, n = 0;
    unsigned char *buf = NULL;
    for (;;) {
        if (n == cap) {
            if (cap > limit) break;
            uint64_t next = cap ? cap * 2 : 1 << 16;
            if (next > limit + 1) next = limit + 1;
            unsigned char *nb = graft_realloc(ctx, buf, next ? (size_t)next : 1);
            if (!nb) {
                free(buf);
                return graft_error_set(err, GRAFT_ENOMEM, "%s: out of memory reading the data", path);
            }
            buf = nb;
            cap = next;
            if (cap == 0) break;
        }
        uint64_t want = cap - n;
        int r = gzread(f, buf + n, (unsigned)(want > (1u << 30) ? (1u << 30) : want));
        if (r < 0) {
            int code;
            const char *msg = gzerror(f, &code);
            free(buf);
            return graft_error_set(err, GRAFT_EFORMAT, "%s: corrupt compressed data (%s)", path, msg);
        }
        if (r == 0) break;
        n += (uint64_t)r;
    }
    *out = buf;
    *got = n;
    return GRAFT_OK;
}

graft_status graft_idx_read(graft_ctx *ctx, graft_tensor *out, const char *path, graft_error *err) {
    graft_tensor_init_empty(out);
    gzFile f = gzopen(path, "rb");
    if (!f) return graft_error_set(err, GRAFT_EIO, "%s: cannot open: %s", path, strerror(errno ? errno : ENOENT));
    unsigned char head[4];
    graft_status st = GRAFT_OK;
    if (gzread(f, head, 4) != 4) st = graft_error_set(err, GRAFT_EFORMAT, "%s: too short for an IDX header", path);
    int code = head[2], rank = head[3];
    int esize = code == 0x08 || code == 0x09 ? 1 : code == 0x0B ? 2 : code == 0x0C || code == 0x0D ? 4 : code == 0x0E ? 8 : 0;
    if (st == GRAFT_OK && (head[0] != 0 || head[1] != 0))
        st = graft_error_set(err, GRAFT_EFORMAT, "%s: not an IDX file (magic %02x %02x %02x %02x)", path,
                             head[0], head[1], head[2], head[3]);
    if (st == GRAFT_OK && esize == 0)
        st = graft_error_set(err, GRAFT_EFORMAT, "%s: unsupported IDX element type 0x%02x", path, code);
    if (st == GRAFT_OK && (rank < 1 || rank > GRAFT_MAX_DIMS))
        st = graft_error_set(err, GRAFT_EFORMAT, "%s: rank %d is not in 1..%d", path, rank, GRAFT_MAX_DIMS);
    int64_t size[GRAFT_MAX_DIMS];
    for (int d = 0; st == GRAFT_OK && d < rank; d++) {
        unsigned char b[4];
        if (gzread(f, b, 4) != 4) {
            st = graft_error_set(err, GRAFT_EFORMAT, "%s: the header ends inside its dims", path);
            break;
        }
        size[d] = (int64_t)b[0] << 24 | (int64_t)b[1] << 16 | (int64_t)b[2] << 8 | b[3];
    }
    int64_t numel = st == GRAFT_OK ? graft_shape_numel(rank, size) : -1;
    if (st == GRAFT_OK && (numel < 0 || (uint64_t)numel > UINT64_MAX / 8))
        st = graft_error_set(err, GRAFT_EFORMAT, "%s: the dims overflow", path);
    uint64_t need = st == GRAFT_OK ? (uint64_t)numel * (uint64_t)esize : 0, got = 0;
    unsigned char *data = NULL;
    if (st == GRAFT_OK) st = read_rest(ctx, f, path, need, &data, &got, err);
    gzclose(f);
    if (st == GRAFT_OK && got != need) {
        char bs[128];
        st = graft_error_set(err, GRAFT_EFORMAT, "%s: dims %s need %llu data bytes but the file has %s%llu", path,
                             graft_shape_str(bs, sizeof bs, rank, size), (unsigned long long)need,
                             got > need ? "more than " : "", (unsigned long long)(got > need ? need : got));
    }
    graft_dtype dt = code == 0x08 ? GRAFT_U8 : code == 0x0D || code == 0x0E ? GRAFT_F32 : GRAFT_I64;
    if (st == GRAFT_OK) st = graft_tensor_alloc(out, ctx, dt, rank, size, err);
    if (st == GRAFT_OK) {
        void *dst = graft_tensor_data(out);
        for (int64_t i = 0; i < numel; i++) {
            const unsigned char *p = data + i * esize;
            uint64_t v = 0;
            for (int k = 0; k < esize; k++) v = v << 8 | p[k];   /* big-endian */
            switch (code) {
            case 0x08: ((uint8_t *)dst)[i] = (uint8_t)v; break;
            case 0x09: ((int64_t *)dst)[i] = (int8_t)v; break;
            case 0x0B: ((int64_t *)dst)[i] = (int16_t)v; break;
            case 0x0C: ((int64_t *)dst)[i] = (int32_t)v; break;
            case 0x0D: { uint32_t u = (uint32_t)v; float x; memcpy(&x, &u, 4); ((float *)dst)[i] = x; break; }
            default: { double x; memcpy(&x, &v, 8); ((float *)dst)[i] = (float)x; break; }
            }
        }
    }
    free(data);
    return st;
}
