/* tests/c/030-embed-lua.c — a host links libgraft and opens graft with luaopen_graft:
 * no Lua files on disk are needed (package.path and cpath are emptied first). */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <string.h>

#include "../../csrc/lua/graft.h"
#include "tap.h"

static const char *script =
    "package.path, package.cpath = '', ''\n"
    "local g = require 'graft'\n"
    "assert(g == graft, 'require returns the module luaopen_graft opened')\n"
    "local x = g.tensor{{1, 2}, {3, 4}}\n"
    "local sum = x:matmul(x):sum():item()\n"
    "local ok, err = pcall(g.load, '/nonexistent/model.safetensors.index.json')\n"  /* graft.io */
    "return sum, tostring(err), g.version\n";

int main(void) {
    tap_plan(4);
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "graft", luaopen_graft, 1);
    lua_pop(L, 1);
    int rc = luaL_dostring(L, script);
    tap_ok(rc == LUA_OK, "a script uses graft opened by luaopen_graft");
    if (rc != LUA_OK) {
        printf("# %s\n", lua_tostring(L, -1));
        lua_close(L);
        return 1;
    }
    tap_close(lua_tonumber(L, -3), 54.0, 0, "tensor math works ({{7,10},{15,22}} sums to 54)");
    tap_str_contains(lua_tostring(L, -2), "graft.load: /nonexistent/model.safetensors.index.json: No such file", "embedded submodules load on demand (graft.io)");
    tap_ok(strcmp(lua_tostring(L, -1), graft_version()) == 0, "graft.version is graft_version()");
    lua_close(L);   /* under SANITIZE=1, LeakSanitizer checks that this frees everything */
    return tap_done();
}
