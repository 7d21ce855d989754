/* Fuzzes graft's loaders that are written in Lua, through the module a host embeds: one
 * lua_State for the run (as a host would keep), graft opened into it, and per input one
 * protected call whose Lua errors are the expected outcome. FUZZ_TARGET picks the loader:
 *   pth         graft.load on a torch.save .pth (zip container, pickle subset)
 *   config      graft.json.decode, then graft.load_model, on the JSON model config that
 *               graft.save_model keeps in __metadata__
 *   state_dict  graft.load, then graft.models.load_weights into a ResNet-20 (hostile
 *               shapes, dtypes and names)
 * Tensor memory is capped so a config asking for a billion classes is an error, not an
 * out-of-memory kill. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdlib.h>

#include "../../csrc/lua/graft.h"
#include "fuzz.h"

#define STR2(x) #x
#define STR(x) STR2(x)

static const char *setup =
    "local graft = require 'graft'\n"
    "graft.set_memory_limit(256 * 2^20)\n"
    "graft.set_num_threads(1)\n"
    "local target, scratch = ...\n"
    "if target == 'pth' then\n"
    "  return function(path) graft.load(path) end\n"
    "elseif target == 'config' then\n"
    "  return function(path)\n"
    "    local f = assert(io.open(path, 'rb'))\n"
    "    local text = f:read('a')\n"
    "    f:close()\n"
    "    pcall(graft.json.decode, text)\n"
    "    graft.save(scratch, {['fc.weight'] = graft.zeros(1)},\n"
    "               {format = 'pt', ['graft.config'] = text, ['graft.format'] = '1'})\n"
    "    graft.load_model(scratch)\n"
    "  end\n"
    "elseif target == 'state_dict' then\n"
    "  local model = graft.models.resnet20_cifar {num_classes = 5}\n"
    "  return function(path)\n"
    "    graft.models.load_weights(model, graft.load(path), {in_chans = 3})\n"
    "  end\n"
    "end\n"
    "error('unknown fuzz target ' .. tostring(target))\n";

static lua_State *L;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "graft", luaopen_graft, 0);
    lua_pop(L, 1);
    if (luaL_loadstring(L, setup) != LUA_OK) abort();
    lua_pushstring(L, STR(FUZZ_TARGET));
    lua_pushstring(L, fuzz_file((const uint8_t *)"", 0, ".model.safetensors"));
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
        fprintf(stderr, "fuzz setup: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_setfield(L, LUA_REGISTRYINDEX, "graft.fuzz");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lua_getfield(L, LUA_REGISTRYINDEX, "graft.fuzz");
    lua_pushstring(L, fuzz_file(data, size, ".input"));
    lua_pcall(L, 1, 0, 0);      /* an error is a refusal: what hostile input should get */
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT);   /* tensors freed per input, so leaks show as leaks */
    return 0;
}
