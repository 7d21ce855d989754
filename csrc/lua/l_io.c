/* Files for Lua: graft.save / graft.load (safetensors) and graft.json.decode. */

/***
Files: safetensors.
@module graft
*/

/***
Files: safetensors.
@section files
*/
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <string.h>

#include "../io/idx.h"
#include "../io/image.h"
#include "../io/safetensors.h"
#include "../ops/copy.h"
#include "binding.h"

#define STFILE_MT "graft.SafetensorsFile"

static int l_stfile_gc(lua_State *L) {
    graft_st_close(luaL_checkudata(L, 1, STFILE_MT));
    return 0;
}

/* load(path) -> {name = tensor}, {key = value} */
static int l_load(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    /* The parsed header lives in a userdata whose __gc closes it: a Lua error anywhere
     * below (a failed tensor allocation, say) leaks neither memory nor the descriptor. */
    graft_st_file *f = lua_newuserdatauv(L, sizeof *f, 0);
    memset(f, 0, sizeof *f);
    f->fd = -1;
    luaL_setmetatable(L, STFILE_MT);
    int fidx = lua_gettop(L);
    CALL_OR_RAISE(L, "graft.load", graft_st_open(f, ctx_of(L), path, &err));
    lua_createtable(L, 0, f->n);
    for (int i = 0; i < f->n; i++) {
        graft_tensor *t = push_tensor(L);
        CALL_OR_RAISE(L, "graft.load", graft_st_read(f, i, ctx_of(L), t, &err));
        lua_setfield(L, -2, f->entries[i].name);
    }
    lua_createtable(L, 0, f->nmeta);
    for (int i = 0; i < f->nmeta; i++) {
        lua_pushstring(L, f->meta_values[i]);
        lua_setfield(L, -2, f->meta_keys[i]);
    }
    graft_st_close(f);
    lua_remove(L, fidx);
    return 2;
}

/* Scratch arrays owned by Lua (a userdata), so raising later frees them. */
static void *scratch(lua_State *L, size_t n) {
    return lua_newuserdatauv(L, n ? n : 1, 0);
}

/* save(path, {name = tensor}, [{key = "value"}]) */
/***
Writes tensors as a safetensors file, atomically (a temporary file beside path, flushed, then renamed).
@string path
@tparam {[string]=Tensor} tensors
@tparam[opt] {[string]=string} metadata pass `{format = "pt"}` for PyTorch's tools
@function save
*/
static int l_save(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    int n = 0, nmeta = 0;
    for (lua_pushnil(L); lua_next(L, 2); lua_pop(L, 1)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            return raise_error(L, "graft.save: %s: tensor names must be strings, got a %s", path,
                              luaL_typename(L, -2));
        if (!test_tensor(L, -1))
            return raise_error(L, "graft.save: %s: \"%s\" is a %s, not a tensor", path,
                              lua_tostring(L, -2), luaL_typename(L, -1));
        n++;
    }
    if (lua_istable(L, 3))
        for (lua_pushnil(L); lua_next(L, 3); lua_pop(L, 1)) {
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                return raise_error(L, "graft.save: %s: metadata keys and values must be strings "
                                  "(got %s = %s)", path, luaL_typename(L, -2), luaL_typename(L, -1));
            nmeta++;
        }
    const char **names = scratch(L, sizeof(char *) * (size_t)n);
    const graft_tensor **tensors = scratch(L, sizeof(graft_tensor *) * (size_t)n);
    const char **keys = scratch(L, sizeof(char *) * (size_t)nmeta);
    const char **values = scratch(L, sizeof(char *) * (size_t)nmeta);
    lua_newtable(L);   /* keeps the contiguous copies alive during the write */
    int keep = lua_gettop(L), i = 0;
    for (lua_pushnil(L); lua_next(L, 2); lua_pop(L, 1)) {
        graft_tensor *t = check_tensor(L, -1);
        names[i] = lua_tostring(L, -2);   /* the key stays in table 2: the pointer lives */
        if (!graft_tensor_is_contiguous(t)) {
            graft_tensor *c = push_tensor(L);
            CALL_OR_RAISE(L, "graft.save", graft_clone_as(ctx_of(L), c, t, t->dtype, &err));
            lua_rawseti(L, keep, i + 1);
            t = c;
        }
        tensors[i++] = t;
    }
    i = 0;
    if (lua_istable(L, 3))
        for (lua_pushnil(L); lua_next(L, 3); lua_pop(L, 1), i++) {
            keys[i] = lua_tostring(L, -2);
            values[i] = lua_tostring(L, -1);
        }
    graft_error err;
    check_status(L, graft_st_write(ctx_of(L), path, n, names, tensors, nmeta, keys, values, &err), "graft.save", &err);
    return 0;
}

/* read_raw(path, offset, dtype, n) -> 1-D tensor: n elements of a safetensors dtype at a byte
 * offset of a file, checked against the file's size. */
static int l_read_raw(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    lua_Integer offset = luaL_checkinteger(L, 2), n = luaL_checkinteger(L, 4);
    const char *dtype = luaL_checkstring(L, 3);
    luaL_argcheck(L, offset >= 0, 2, "offset must be >= 0");
    graft_tensor *t = push_tensor(L);
    CALL_OR_RAISE(L, "graft.load", graft_st_read_raw(ctx_of(L), t, path, (uint64_t)offset, dtype, n, &err));
    return 1;
}

/* read_idx(path) -> tensor: an IDX file, plain or gzip-compressed. */
static int l_read_idx(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    graft_tensor *t = push_tensor(L);
    CALL_OR_RAISE(L, "read_idx", graft_idx_read(ctx_of(L), t, path, &err));
    return 1;
}

/* image_load(path [, channels [, max_pixels]]) -> f32 {C, H, W} in [0, 1]. */
static int l_image_load(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    lua_Integer channels = luaL_optinteger(L, 2, 0);
    lua_Integer max_pixels = luaL_optinteger(L, 3, GRAFT_IMAGE_MAX_PIXELS);
    if (channels != 0 && channels != 1 && channels != 3 && channels != 4)
        return raise_error(L, "graft.image.load: channels must be 1, 3 or 4, not %d", (int)channels);
    graft_tensor *t = push_tensor(L);
    CALL_OR_RAISE(L, "graft.image.load", graft_image_load(ctx_of(L), t, path, (int)channels, max_pixels, &err));
    return 1;
}

/* image_save(path, t): t f32 {C, H, W} (C = 1, 3, 4) written as 8-bit PNG. */
static int l_image_save(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    graft_tensor *t = check_tensor(L, 2);
    graft_tensor *c = push_tensor(L);
    CALL_OR_RAISE(L, "graft.image.save", graft_contiguous_as(ctx_of(L), c, t, GRAFT_F32, &err));
    graft_error err;
    check_status(L, graft_image_save_png(path, c, &err), "graft.image.save", &err);
    return 0;
}

/* listdir(path) -> names (sorted bytewise), kinds ("dir", "file" or "other", following
 * symbolic links); "." and ".." are left out. Raises when path cannot be listed. */
static int l_listdir(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    DIR *d = opendir(path);
    if (!d) return raise_error(L, "%s: cannot list: %s", path, strerror(errno));
    lua_newtable(L);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        lua_pushstring(L, e->d_name);
        lua_rawseti(L, -2, ++n);
    }
    closedir(d);
    lua_getglobal(L, "table");
    lua_getfield(L, -1, "sort");
    lua_pushvalue(L, -3);
    lua_call(L, 1, 0);
    lua_pop(L, 1);
    lua_createtable(L, n, 0);
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, -2, i);
        lua_pushfstring(L, "%s/%s", path, lua_tostring(L, -1));
        struct stat sb;
        const char *kind = stat(lua_tostring(L, -1), &sb) != 0 ? "other" : S_ISDIR(sb.st_mode) ? "dir"
                           : S_ISREG(sb.st_mode) ? "file" : "other";
        lua_pop(L, 2);
        lua_pushstring(L, kind);
        lua_rawseti(L, -2, i);
    }
    return 2;
}

/* stat(path) -> size, modification time (ns), or nil and why. */
static int l_stat(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, strerror(errno));
        return 2;
    }
    lua_pushinteger(L, (lua_Integer)sb.st_size);
    lua_pushinteger(L, (lua_Integer)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec);
    return 2;
}

/* image_probe(path) -> "png" | "jpeg", or nil and why (cannot open, not an image). */
static int l_image_probe(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    FILE *f = fopen(path, "rb");
    if (!f) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: cannot open: %s", path, strerror(errno));
        return 2;
    }
    unsigned char head[8] = {0};
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    const char *format = graft_image_format(head, n);
    if (!format) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: not a PNG or JPEG file", path);
        return 2;
    }
    lua_pushstring(L, format);
    return 1;
}

/* fingerprint(value [, h]) -> a 64-bit FNV-1a hash (as an integer) of a string, or of a
 * tensor's dtype, shape and elements, continuing from h. For cache keys, not security. */
static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 0x100000001b3ULL;
    return h;
}

static int l_fingerprint(lua_State *L) {
    uint64_t h = lua_isnoneornil(L, 2) ? 0xcbf29ce484222325ULL : (uint64_t)luaL_checkinteger(L, 2);
    graft_tensor *t = test_tensor(L, 1);
    if (t) {
        graft_tensor *c = push_tensor(L);
        CALL_OR_RAISE(L, "fingerprint", graft_contiguous_as(ctx_of(L), c, t, t->dtype, &err));
        int code = (int)t->dtype;
        h = fnv1a(h, &code, sizeof code);
        h = fnv1a(h, t->size, sizeof t->size[0] * (size_t)t->ndim);
        h = fnv1a(h, graft_tensor_data(c), graft_tensor_nbytes(c));
    } else {
        size_t n;
        const char *s = luaL_checklstring(L, 1, &n);
        h = fnv1a(h, s, n);
    }
    lua_pushinteger(L, (lua_Integer)h);
    return 1;
}

/* ---- JSON ---------------------------------------------------------------------------------- */

static void push_json(lua_State *L, const cJSON *j, int depth) {
    luaL_checkstack(L, 4, "graft.json.decode: nesting too deep");
    if (cJSON_IsObject(j)) {
        lua_createtable(L, 0, cJSON_GetArraySize(j));
        for (const cJSON *c = j->child; c; c = c->next) {
            push_json(L, c, depth + 1);
            lua_setfield(L, -2, c->string);
        }
    } else if (cJSON_IsArray(j)) {
        lua_createtable(L, cJSON_GetArraySize(j), 0);
        int i = 1;
        for (const cJSON *c = j->child; c; c = c->next) {
            push_json(L, c, depth + 1);
            lua_rawseti(L, -2, i++);
        }
    } else if (cJSON_IsString(j)) {
        lua_pushstring(L, j->valuestring);
    } else if (cJSON_IsNumber(j)) {
        double v = j->valuedouble;
        /* the range first: casting a double outside lua_Integer's range is undefined */
        if (v >= -9007199254740992.0 && v <= 9007199254740992.0 && v == (double)(lua_Integer)v)
            lua_pushinteger(L, (lua_Integer)v);
        else
            lua_pushnumber(L, v);
    } else if (cJSON_IsBool(j)) {
        lua_pushboolean(L, cJSON_IsTrue(j));
    } else {
        lua_pushlightuserdata(L, NULL);   /* json.null */
    }
}

#define CJSON_MT "graft.cJSON"

static int l_cjson_gc(lua_State *L) {
    cJSON **p = luaL_checkudata(L, 1, CJSON_MT);
    cJSON_Delete(*p);
    *p = NULL;
    return 0;
}

/* json.decode(text) -> value; JSON null becomes json.null. */
static int l_json_decode(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    cJSON **holder = lua_newuserdatauv(L, sizeof *holder, 0);   /* freed even if we raise */
    *holder = NULL;
    luaL_setmetatable(L, CJSON_MT);
    const char *end = NULL;
    *holder = cJSON_ParseWithLengthOpts(s, len, &end, 0);
    if (!*holder) {   /* end is where it failed (cJSON_GetErrorPtr is one global for all states) */
        const char *at = end;
        return raise_error(L, "graft.json.decode: invalid JSON at byte %d",
                          at && at >= s && at <= s + len ? (int)(at - s) + 1 : 0);
    }
    for (const char *q = end; q < s + len; q++)
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r')
            return raise_error(L, "graft.json.decode: text after the JSON value at byte %d", (int)(q - s) + 1);
    push_json(L, *holder, 0);
    return 1;
}

void binding_open_io(lua_State *L) {
    luaL_newmetatable(L, STFILE_MT);
    lua_pushcfunction(L, l_stfile_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newmetatable(L, CJSON_MT);
    lua_pushcfunction(L, l_cjson_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    static const luaL_Reg funcs[] = {{"save", l_save}, {"load", l_load}, {"read_idx", l_read_idx},
                                        {"read_raw", l_read_raw}, {"image_load", l_image_load},
                                        {"image_save", l_image_save}, {"image_probe", l_image_probe},
                                        {"listdir", l_listdir}, {"fingerprint", l_fingerprint}, {"stat", l_stat},
                                        {NULL, NULL}};
    binding_setfuncs(L, funcs);
    lua_newtable(L);
    static const luaL_Reg json_funcs[] = {{"decode", l_json_decode}, {NULL, NULL}};
    binding_setfuncs(L, json_funcs);
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
    lua_setfield(L, -2, "json");
}
