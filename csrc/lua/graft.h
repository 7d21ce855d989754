/* graft's C API for hosts that embed Lua 5.4: open graft into a lua_State with
 *     luaL_requiref(L, "graft", luaopen_graft, 0);
 * Everything else graft defines is hidden. */
#ifndef GRAFT_H
#define GRAFT_H

#include <lua.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The whole module (the C core plus graft's Lua files compiled into the library), as
 * require "graft" returns it. */
int luaopen_graft(lua_State *L);
/* The C core alone, the module "graft.core". */
int luaopen_graft_core(lua_State *L);
/* graft's version, e.g. "0.1.0". */
const char *graft_version(void);

#ifdef __cplusplus
}
#endif

#endif
