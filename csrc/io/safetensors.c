/* safetensors reader (validating every size and offset before trusting it) and writer. */
#define _GNU_SOURCE
#include "safetensors.h"

#include "file.h"
#include "../core/alloc.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "graft's safetensors code assumes a little-endian host, as the format's byte order"
#endif

enum kind { K_FLOAT, K_INT, K_UINT, K_U8, K_BOOL, K_UNSUPPORTED };

static const struct {
    const char *name;
    int bits;
    enum kind kind;
} dtypes[] = {
    {"F32", 32, K_FLOAT}, {"F64", 64, K_FLOAT}, {"F16", 16, K_FLOAT}, {"BF16", 16, K_FLOAT},
    {"I64", 64, K_INT}, {"I32", 32, K_INT}, {"I16", 16, K_INT}, {"I8", 8, K_INT},
    {"U64", 64, K_UINT}, {"U32", 32, K_UINT}, {"U16", 16, K_UINT},
    {"U8", 8, K_U8}, {"BOOL", 8, K_BOOL},
    {"F8_E5M2", 8, K_UNSUPPORTED}, {"F8_E4M3", 8, K_UNSUPPORTED}, {"F8_E8M0", 8, K_UNSUPPORTED},
    {"F8_E4M3FNUZ", 8, K_UNSUPPORTED}, {"F8_E5M2FNUZ", 8, K_UNSUPPORTED},
    {"F6_E2M3", 6, K_UNSUPPORTED}, {"F6_E3M2", 6, K_UNSUPPORTED}, {"F4", 4, K_UNSUPPORTED},
    {"C64", 64, K_UNSUPPORTED},
};
#define NUM_FILE_DTYPES (int)(sizeof dtypes / sizeof dtypes[0])
enum { D_F32, D_F64, D_F16, D_BF16, D_I64, D_I32, D_I16, D_I8, D_U64, D_U32, D_U16, D_U8, D_BOOL };

const char *graft_st_dtype_name(int dtype) { return dtypes[dtype].name; }

static bool utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + (size_t)len > n) return false;
        uint32_t cp = len == 1 ? c : c & (0x7fu >> len);
        for (int k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += (size_t)len;
    }
    return true;
}

/* Reads exactly len bytes at off; 0 on success. */
static int read_at(int fd, void *buf, size_t len, uint64_t off) {
    char *p = buf;
    while (len > 0) {
        ssize_t r = pread(fd, p, len, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

void graft_st_close(graft_st_file *f) {
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    for (int i = 0; i < f->n; i++) free(f->entries[i].name);
    free(f->entries);
    f->entries = NULL;
    f->n = 0;
    for (int i = 0; i < f->nmeta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->meta_keys);
    free(f->meta_values);
    f->meta_keys = f->meta_values = NULL;
    f->nmeta = 0;
}

/* A JSON number that is a whole number in [0, 2^53]: exactly representable. */
static bool json_uint(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return false;
    double v = j->valuedouble;
    if (!(v >= 0 && v <= 9007199254740992.0) || floor(v) != v) return false;
    *out = (uint64_t)v;
    return true;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Looks for a name that appears twice among n names, sorting a copy of the pointers (the
 * caller's order matters: metadata keys pair with values). Returns GRAFT_OK and sets *dup
 * to the name or NULL; fails only for lack of memory. */
static graft_status find_duplicate(graft_ctx *ctx, const char *const *names, int n, const char **dup,
                                   const char *path, graft_error *err) {
    *dup = NULL;
    const char **copy = graft_malloc(ctx, sizeof *copy * (size_t)(n ? n : 1));
    if (!copy) return graft_error_set(err, GRAFT_ENOMEM, "%s: out of memory", path);
    memcpy(copy, names, sizeof *copy * (size_t)n);
    qsort(copy, (size_t)n, sizeof *copy, cmp_str);
    for (int i = 1; i < n && !*dup; i++)
        if (strcmp(copy[i - 1], copy[i]) == 0) *dup = copy[i];
    free(copy);
    return GRAFT_OK;
}

static graft_status parse_entry(graft_st_file *f, graft_st_entry *e, const cJSON *obj,
                                graft_error *err) {
    const char *p = f->path, *nm = e->name;
    if (!cJSON_IsObject(obj))
        return graft_error_set(err, GRAFT_EFORMAT, "%s: entry \"%s\" is not an object", p, nm);
    const cJSON *dt = NULL, *shape = NULL, *offs = NULL;
    for (const cJSON *c = obj->child; c; c = c->next) {
        const cJSON **slot = strcmp(c->string, "dtype") == 0          ? &dt
                             : strcmp(c->string, "shape") == 0        ? &shape
                             : strcmp(c->string, "data_offsets") == 0 ? &offs
                                                                       : NULL;
        if (!slot)
            return graft_error_set(err, GRAFT_EFORMAT, "%s: tensor \"%s\" has an unknown field \"%s\"",
                                   p, nm, c->string);
        if (*slot)
            return graft_error_set(err, GRAFT_EFORMAT, "%s: tensor \"%s\" has field \"%s\" twice",
                                   p, nm, c->string);
        *slot = c;
    }
    if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs))
        return graft_error_set(err, GRAFT_EFORMAT,
                               "%s: tensor \"%s\" needs a string dtype and array shape and data_offsets",
                               p, nm);
    e->dtype = -1;
    for (int d = 0; d < NUM_FILE_DTYPES; d++)
        if (strcmp(dt->valuestring, dtypes[d].name) == 0) e->dtype = d;
    if (e->dtype < 0)
        return graft_error_set(err, GRAFT_EFORMAT, "%s: tensor \"%s\" has unknown dtype \"%.32s\"",
                               p, nm, dt->valuestring);
    if (dtypes[e->dtype].kind == K_UNSUPPORTED)
        return graft_error_set(err, GRAFT_EFORMAT,
                               "%s: tensor \"%s\" has dtype %s, which graft cannot load", p, nm,
                               dtypes[e->dtype].name);
    int nd = cJSON_GetArraySize(shape);
    if (nd > GRAFT_MAX_DIMS)
        return graft_error_set(err, GRAFT_EFORMAT, "%s: tensor \"%s\" has %d dims (graft allows %d)",
                               p, nm, nd, GRAFT_MAX_DIMS);
    e->ndim = 0;
    for (const cJSON *c = shape->child; c; c = c->next) {
        uint64_t v;
        if (!json_uint(c, &v))
            return graft_error_set(err, GRAFT_EFORMAT,
                                   "%s: tensor \"%s\" has a shape entry that is not a whole number "
                                   "in [0, 2^53]", p, nm);
        e->shape[e->ndim++] = (int64_t)v;
    }
    if (cJSON_GetArraySize(offs) != 2 || !json_uint(offs->child, &e->begin) ||
        !json_uint(offs->child->next, &e->end))
        return graft_error_set(err, GRAFT_EFORMAT,
                               "%s: tensor \"%s\" needs data_offsets [begin, end] of whole numbers",
                               p, nm);
    if (e->end < e->begin)
        return graft_error_set(err, GRAFT_EFORMAT, "%s: tensor \"%s\" ends (%llu) before it begins (%llu)",
                               p, nm, (unsigned long long)e->end, (unsigned long long)e->begin);
    int64_t numel = graft_shape_numel(e->ndim, e->shape);
    int bits = dtypes[e->dtype].bits;
    if (numel < 0 || (uint64_t)numel > UINT64_MAX / (uint64_t)bits)
        return graft_error_set(err, GRAFT_EFORMAT, "%s: tensor \"%s\": shape overflows", p, nm);
    uint64_t nbytes = (uint64_t)numel * (uint64_t)bits / 8;
    if (e->end - e->begin != nbytes) {
        char bs[128];
        return graft_error_set(err, GRAFT_EFORMAT,
                               "%s: tensor \"%s\" of shape %s and dtype %s needs %llu bytes but its "
                               "offsets span %llu", p, nm, graft_shape_str(bs, sizeof bs, e->ndim, e->shape),
                               dtypes[e->dtype].name, (unsigned long long)nbytes,
                               (unsigned long long)(e->end - e->begin));
    }
    return GRAFT_OK;
}

static graft_status parse_metadata(graft_st_file *f, const cJSON *obj, graft_error *err) {
    if (!cJSON_IsObject(obj))
        return graft_error_set(err, GRAFT_EFORMAT, "%s: __metadata__ is not an object", f->path);
    int n = cJSON_GetArraySize(obj);
    f->meta_keys = graft_calloc(f->ctx, (size_t)n + 1, sizeof(char *));
    f->meta_values = graft_calloc(f->ctx, (size_t)n + 1, sizeof(char *));
    if (!f->meta_keys || !f->meta_values)
        return graft_error_set(err, GRAFT_ENOMEM, "%s: out of memory reading metadata", f->path);
    for (const cJSON *c = obj->child; c; c = c->next) {
        if (!cJSON_IsString(c))
            return graft_error_set(err, GRAFT_EFORMAT,
                                   "%s: __metadata__ value \"%s\" is not a string", f->path, c->string);
        int i = f->nmeta;
        f->meta_keys[i] = graft_strdup(f->ctx, c->string);
        f->meta_values[i] = graft_strdup(f->ctx, c->valuestring);
        if (f->meta_keys[i] || f->meta_values[i]) f->nmeta++;
        if (!f->meta_keys[i] || !f->meta_values[i])
            return graft_error_set(err, GRAFT_ENOMEM, "%s: out of memory reading metadata", f->path);
    }
    const char *dup;
    graft_status st = find_duplicate(f->ctx, (const char *const *)f->meta_keys, f->nmeta, &dup, f->path, err);
    if (st == GRAFT_OK && dup)
        st = graft_error_set(err, GRAFT_EFORMAT, "%s: __metadata__ key \"%s\" appears twice", f->path, dup);
    return st;
}

static int cmp_offsets(const void *a, const void *b) {
    const graft_st_entry *x = *(const graft_st_entry *const *)a, *y = *(const graft_st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Checks the data section is exactly covered: sorted by offset, each tensor starts where the
 * previous ends, the first at 0, the last at the end of the file. No gaps, no overlap. */
static graft_status check_layout(graft_st_file *f, uint64_t data_len, graft_error *err) {
    graft_st_entry **order = graft_malloc(f->ctx, sizeof *order * (size_t)(f->n ? f->n : 1));
    if (!order) return graft_error_set(err, GRAFT_ENOMEM, "%s: out of memory", f->path);
    for (int i = 0; i < f->n; i++) order[i] = &f->entries[i];
    qsort(order, (size_t)f->n, sizeof *order, cmp_offsets);
    uint64_t at = 0;
    graft_status st = GRAFT_OK;
    for (int i = 0; i < f->n && st == GRAFT_OK; i++) {
        if (order[i]->begin != at)
            st = graft_error_set(err, GRAFT_EFORMAT,
                                 "%s: tensor \"%s\" begins at byte %llu of the data but the previous "
                                 "tensor ends at %llu (%s)", f->path, order[i]->name,
                                 (unsigned long long)order[i]->begin, (unsigned long long)at,
                                 order[i]->begin < at ? "overlap" : "gap");
        at = order[i]->end;
    }
    if (st == GRAFT_OK && at != data_len)
        st = graft_error_set(err, GRAFT_EFORMAT,
                             "%s: tensors end at byte %llu of the data but the file has %llu data bytes",
                             f->path, (unsigned long long)at, (unsigned long long)data_len);
    free(order);
    return st;
}

static graft_status parse_header(graft_st_file *f, const char *hdr, size_t len, uint64_t data_len,
                                 graft_error *err) {
    const char *p = f->path;
    if (len == 0 || hdr[0] != '{')
        return graft_error_set(err, GRAFT_EFORMAT, "%s: the header does not start with '{'", p);
    if (memchr(hdr, 0, len) || !utf8_valid((const unsigned char *)hdr, len))
        return graft_error_set(err, GRAFT_EFORMAT, "%s: the header is not valid UTF-8 text", p);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, len, &end, 0);
    if (!root) {   /* end is where it failed (cJSON_GetErrorPtr is one global for all threads) */
        const char *at = end;
        return graft_error_set(err, GRAFT_EFORMAT, "%s: the header is not valid JSON (at byte %lld)",
                               p, at ? (long long)(at - hdr) + 8 : -1LL);
    }
    graft_status st = GRAFT_OK;
    for (const char *q = end; q < hdr + len; q++)
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r')
            st = graft_error_set(err, GRAFT_EFORMAT, "%s: text follows the header's JSON object", p);
    if (st == GRAFT_OK && !cJSON_IsObject(root))
        st = graft_error_set(err, GRAFT_EFORMAT, "%s: the header is not a JSON object", p);
    int count = 0, seen_meta = 0;
    for (const cJSON *c = st == GRAFT_OK ? root->child : NULL; c; c = c->next) count++;
    if (st == GRAFT_OK) {
        f->entries = graft_calloc(f->ctx, (size_t)count + 1, sizeof *f->entries);
        if (!f->entries) st = graft_error_set(err, GRAFT_ENOMEM, "%s: out of memory", p);
    }
    for (const cJSON *c = st == GRAFT_OK ? root->child : NULL; c && st == GRAFT_OK; c = c->next) {
        if (strcmp(c->string, "__metadata__") == 0) {
            st = seen_meta++ ? graft_error_set(err, GRAFT_EFORMAT, "%s: __metadata__ appears twice", p)
                             : parse_metadata(f, c, err);
            continue;
        }
        graft_st_entry *e = &f->entries[f->n];
        e->name = graft_strdup(f->ctx, c->string);
        if (!e->name) {
            st = graft_error_set(err, GRAFT_ENOMEM, "%s: out of memory", p);
            break;
        }
        f->n++;
        st = parse_entry(f, e, c, err);
    }
    const char **names = NULL;
    if (st == GRAFT_OK && !(names = graft_malloc(f->ctx, sizeof *names * (size_t)(f->n ? f->n : 1))))
        st = graft_error_set(err, GRAFT_ENOMEM, "%s: out of memory", p);
    if (st == GRAFT_OK) {
        const char *dup;
        for (int i = 0; i < f->n; i++) names[i] = f->entries[i].name;
        st = find_duplicate(f->ctx, names, f->n, &dup, p, err);
        if (st == GRAFT_OK && dup) st = graft_error_set(err, GRAFT_EFORMAT, "%s: tensor \"%s\" appears twice", p, dup);
    }
    free(names);
    if (st == GRAFT_OK) st = check_layout(f, data_len, err);
    cJSON_Delete(root);
    return st;
}

graft_status graft_st_open(graft_st_file *f, graft_ctx *ctx, const char *path, graft_error *err) {
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->path = path;
    f->ctx = ctx;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return graft_error_set(err, GRAFT_EIO, "%s: cannot open: %s", path, strerror(errno));
    f->fd = fd;
    struct stat sb;
    graft_status st = GRAFT_OK;
    unsigned char len8[8];
    uint64_t hlen = 0, fsize = 0;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        st = graft_error_set(err, GRAFT_EIO, "%s: not a regular file", path);
    else if ((fsize = (uint64_t)sb.st_size) < 8)
        st = graft_error_set(err, GRAFT_EFORMAT,
                             "%s: the file has %llu bytes, too few for a safetensors header", path,
                             (unsigned long long)fsize);
    else if (read_at(fd, len8, 8, 0) != 0)
        st = graft_error_set(err, GRAFT_EIO, "%s: cannot read the header length", path);
    if (st == GRAFT_OK) {
        for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | len8[i];
        if (hlen > GRAFT_ST_MAX_HEADER)
            st = graft_error_set(err, GRAFT_EFORMAT, "%s: the header length %llu exceeds the limit of %llu",
                                 path, (unsigned long long)hlen, GRAFT_ST_MAX_HEADER);
        else if (hlen > fsize - 8)
            st = graft_error_set(err, GRAFT_EFORMAT,
                                 "%s: the header length %llu runs past the end of the file (%llu bytes)",
                                 path, (unsigned long long)hlen, (unsigned long long)fsize);
    }
    char *hdr = NULL;
    if (st == GRAFT_OK && !(hdr = graft_malloc(ctx, (size_t)hlen + 1)))
        st = graft_error_set(err, GRAFT_ENOMEM, "%s: out of memory for a %llu-byte header", path,
                             (unsigned long long)hlen);
    if (st == GRAFT_OK && read_at(fd, hdr, (size_t)hlen, 8) != 0)
        st = graft_error_set(err, GRAFT_EIO, "%s: cannot read the header", path);
    if (st == GRAFT_OK) {
        f->data_start = 8 + hlen;
        st = parse_header(f, hdr, (size_t)hlen, fsize - 8 - hlen, err);
    }
    free(hdr);
    if (st != GRAFT_OK) graft_st_close(f);
    return st;
}

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (exp == 0) {
        float v = (float)man * 0x1p-24f;          /* zero or subnormal */
        return sign ? -v : v;
    }
    bits = exp == 31 ? sign | 0x7f800000u | (man << 13) : sign | ((exp + 112) << 23) | (man << 13);
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* Converts n file elements at src (dtype d) to graft elements at dst; fails only for U64
 * values beyond int64 (returns the index of the first, else -1). */
static int64_t convert(void *dst, const unsigned char *src, int64_t n, int d) {
    float *f = dst;
    int64_t *q = dst;
    uint8_t *u = dst;
    for (int64_t i = 0; i < n; i++) {
        switch (d) {
        case D_F64: { double v; memcpy(&v, src + 8 * i, 8); f[i] = (float)v; break; }
        case D_F16: { uint16_t v; memcpy(&v, src + 2 * i, 2); f[i] = half_to_float(v); break; }
        case D_BF16: { uint16_t v; memcpy(&v, src + 2 * i, 2); uint32_t b = (uint32_t)v << 16; memcpy(&f[i], &b, 4); break; }
        case D_I32: { int32_t v; memcpy(&v, src + 4 * i, 4); q[i] = v; break; }
        case D_I16: { int16_t v; memcpy(&v, src + 2 * i, 2); q[i] = v; break; }
        case D_I8: q[i] = (int8_t)src[i]; break;
        case D_U64: { uint64_t v; memcpy(&v, src + 8 * i, 8); if (v > INT64_MAX) return i; q[i] = (int64_t)v; break; }
        case D_U32: { uint32_t v; memcpy(&v, src + 4 * i, 4); q[i] = v; break; }
        case D_U16: { uint16_t v; memcpy(&v, src + 2 * i, 2); q[i] = v; break; }
        case D_BOOL: u[i] = src[i] != 0; break;
        }
    }
    return -1;
}

graft_status graft_st_read(graft_st_file *f, int i, graft_ctx *ctx, graft_tensor *out,
                           graft_error *err) {
    const graft_st_entry *e = &f->entries[i];
    int d = e->dtype;
    enum kind k = dtypes[d].kind;
    graft_dtype gt = k == K_FLOAT ? GRAFT_F32 : k == K_U8 || k == K_BOOL ? GRAFT_U8 : GRAFT_I64;
    graft_status st = graft_tensor_alloc(out, ctx, gt, e->ndim, e->shape, err);
    if (st != GRAFT_OK) return st;
    int64_t n = graft_tensor_numel(out);
    uint64_t off = f->data_start + e->begin;
    size_t esz = (size_t)dtypes[d].bits / 8, gsz = graft_dtype_size(gt);
    if (d == D_F32 || d == D_I64 || d == D_U8) {     /* same bytes as graft's: read in place */
        if (read_at(f->fd, graft_tensor_data(out), (size_t)n * esz, off) != 0)
            st = graft_error_set(err, GRAFT_EIO, "%s: the file ended early reading tensor \"%s\"",
                                 f->path, e->name);
    } else {
        enum { CHUNK = 1 << 16 };
        unsigned char *buf = graft_malloc(ctx, CHUNK * 8);
        if (!buf) st = graft_error_set(err, GRAFT_ENOMEM, "%s: out of memory", f->path);
        for (int64_t at = 0; st == GRAFT_OK && at < n; at += CHUNK) {
            int64_t m = n - at < CHUNK ? n - at : CHUNK;
            if (read_at(f->fd, buf, (size_t)m * esz, off + (uint64_t)at * esz) != 0) {
                st = graft_error_set(err, GRAFT_EIO, "%s: the file ended early reading tensor \"%s\"",
                                     f->path, e->name);
            } else {
                int64_t bad = convert((char *)graft_tensor_data(out) + (size_t)at * gsz, buf, m, d);
                if (bad >= 0)
                    st = graft_error_set(err, GRAFT_EFORMAT,
                                         "%s: tensor \"%s\" holds a U64 value above 2^63-1 (element %lld)",
                                         f->path, e->name, (long long)(at + bad + 1));
            }
        }
        free(buf);
    }
    if (st != GRAFT_OK) graft_tensor_release(out);
    return st;
}

graft_status graft_st_read_raw(graft_ctx *ctx, graft_tensor *out, const char *path, uint64_t offset,
                               const char *dtype, int64_t n, graft_error *err) {
    graft_tensor_init_empty(out);
    int d = -1;
    for (int i = 0; i < NUM_FILE_DTYPES; i++)
        if (strcmp(dtype, dtypes[i].name) == 0 && dtypes[i].kind != K_UNSUPPORTED) d = i;
    if (d < 0) return graft_error_set(err, GRAFT_EINVAL, "%s: unknown or unsupported dtype %.16s", path, dtype);
    uint64_t bytes = (uint64_t)(dtypes[d].bits / 8);
    if (n < 0 || (uint64_t)n > UINT64_MAX / bytes) return graft_error_set(err, GRAFT_EINVAL, "%s: bad element count", path);
    bytes *= (uint64_t)n;
    graft_st_file f;
    memset(&f, 0, sizeof f);
    f.path = path;
    f.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f.fd < 0) return graft_error_set(err, GRAFT_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    graft_status st = GRAFT_OK;
    if (fstat(f.fd, &sb) != 0 || offset > (uint64_t)sb.st_size || bytes > (uint64_t)sb.st_size - offset)
        st = graft_error_set(err, GRAFT_EFORMAT, "%s: %llu bytes at offset %llu run past the end of the file",
                             path, (unsigned long long)bytes, (unsigned long long)offset);
    /* One entry describing the region, read by the same code as a safetensors tensor. */
    graft_st_entry e = {.name = (char *)"data", .dtype = d, .ndim = 1, .shape = {n}, .begin = 0, .end = bytes};
    if (st == GRAFT_OK) {
        f.entries = &e;
        f.n = 1;
        f.data_start = offset;
        st = graft_st_read(&f, 0, ctx, out, err);
    }
    close(f.fd);
    return st;
}

/* ---- writer ---------------------------------------------------------------------------- */

typedef struct {
    graft_ctx *ctx;
    char *s;
    size_t len, cap;
    bool failed;
} strbuf;

static void sb_add(strbuf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        char *ns = graft_realloc(b->ctx, b->s, cap);
        if (!ns) {
            b->failed = true;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void sb_printf(strbuf *b, const char *fmt, unsigned long long v) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, fmt, v);
    sb_add(b, tmp, (size_t)n);
}

static void sb_json_string(strbuf *b, const char *s) {
    sb_add(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};
            sb_add(b, esc, 2);
        } else if (*p < 0x20) {
            sb_printf(b, "\\u%04llx", *p);
        } else {
            sb_add(b, (const char *)p, 1);
        }
    }
    sb_add(b, "\"", 1);
}

static const char *file_dtype(graft_dtype dt) {
    return dt == GRAFT_F32 ? "F32" : dt == GRAFT_I64 ? "I64" : "U8";
}

typedef struct {
    const char *name;
    const graft_tensor *t;
} named;

static int cmp_layout(const void *a, const void *b) {
    const named *x = a, *y = b;
    size_t ax = graft_dtype_size(x->t->dtype), ay = graft_dtype_size(y->t->dtype);
    if (ax != ay) return ax > ay ? -1 : 1;
    return strcmp(x->name, y->name);
}

graft_status graft_st_write(graft_ctx *ctx, const char *path, int n, const char *const *names,
                            const graft_tensor *const *tensors, int nmeta,
                            const char *const *meta_keys, const char *const *meta_values,
                            graft_error *err) {
    for (int i = 0; i < n; i++)
        if (!utf8_valid((const unsigned char *)names[i], strlen(names[i])))
            return graft_error_set(err, GRAFT_EINVAL, "%s: a tensor name is not valid UTF-8", path);
    for (int i = 0; i < nmeta; i++)
        if (!utf8_valid((const unsigned char *)meta_keys[i], strlen(meta_keys[i])) ||
            !utf8_valid((const unsigned char *)meta_values[i], strlen(meta_values[i])))
            return graft_error_set(err, GRAFT_EINVAL, "%s: metadata is not valid UTF-8", path);
    named *order = graft_malloc(ctx, sizeof *order * (size_t)(n ? n : 1));
    if (!order) return graft_error_set(err, GRAFT_ENOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++) order[i] = (named){names[i], tensors[i]};
    qsort(order, (size_t)n, sizeof *order, cmp_layout);

    strbuf h = {.ctx = ctx};
    sb_add(&h, "{", 1);
    if (nmeta > 0) {
        sb_add(&h, "\"__metadata__\":{", 16);
        for (int i = 0; i < nmeta; i++) {
            if (i) sb_add(&h, ",", 1);
            sb_json_string(&h, meta_keys[i]);
            sb_add(&h, ":", 1);
            sb_json_string(&h, meta_values[i]);
        }
        sb_add(&h, "}", 1);
    }
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        const graft_tensor *t = order[i].t;
        if (i || nmeta > 0) sb_add(&h, ",", 1);
        sb_json_string(&h, order[i].name);
        sb_add(&h, ":{\"dtype\":\"", 11);
        sb_add(&h, file_dtype(t->dtype), strlen(file_dtype(t->dtype)));
        sb_add(&h, "\",\"shape\":[", 11);
        for (int d = 0; d < t->ndim; d++) sb_printf(&h, d ? ",%llu" : "%llu", (unsigned long long)t->size[d]);
        uint64_t nb = graft_tensor_nbytes(t);
        sb_printf(&h, "],\"data_offsets\":[%llu", at);
        sb_printf(&h, ",%llu]}", at + nb);
        at += nb;
    }
    sb_add(&h, "}", 1);
    while (!h.failed && h.len % 8 != 0) sb_add(&h, " ", 1);

    graft_status st = GRAFT_OK;
    graft_atomic_file f;
    if (h.failed) st = graft_error_set(err, GRAFT_ENOMEM, "%s: out of memory", path);
    else st = graft_atomic_begin(&f, path, err);
    if (st == GRAFT_OK) {
        unsigned char len8[8];
        for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
        graft_atomic_write(&f, len8, 8);
        graft_atomic_write(&f, h.s, h.len);
        for (int i = 0; i < n; i++) graft_atomic_write(&f, graft_tensor_data(order[i].t), graft_tensor_nbytes(order[i].t));
        st = graft_atomic_commit(&f, 1, err);
    }
    free(h.s);
    free(order);
    return st;
}
