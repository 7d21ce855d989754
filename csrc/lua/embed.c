/* luaopen_graft: the whole module for hosts. Registers graft.core and every embedded Lua
 * module in package.preload, then runs the module "graft" and returns it. */
#include <string.h>

#include "binding.h"
#include "embedded.h"
#include "graft.h"

/* A package.preload loader: upvalue 1 is the module's index in graft_embedded_modules. */
static int load_embedded(lua_State *L) {
    const graft_embedded_module *m = &graft_embedded_modules[lua_tointeger(L, lua_upvalueindex(1))];
    if (luaL_loadbuffer(L, m->source, m->size, m->chunkname) != LUA_OK) return lua_error(L);
    lua_pushstring(L, m->name);
    lua_call(L, 1, 1);
    return 1;
}

GRAFT_EXPORT int luaopen_graft(lua_State *L) {
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_graft_core);
    lua_setfield(L, -2, "graft.core");
    int self = -1;
    for (int i = 0; graft_embedded_modules[i].name; i++) {
        if (strcmp(graft_embedded_modules[i].name, "graft") == 0) self = i;
        lua_pushinteger(L, i);
        lua_pushcclosure(L, load_embedded, 1);
        lua_setfield(L, -2, graft_embedded_modules[i].name);
    }
    lua_pop(L, 1);
    if (self < 0) return luaL_error(L, "graft: the module \"graft\" was not embedded");
    lua_pushinteger(L, self);
    lua_pushcclosure(L, load_embedded, 1);
    lua_call(L, 0, 1);
    return 1;
}
