#!/usr/bin/env lua5.4
-- tests/870-install.t — graft installs as users install it, and works from where it lands:
-- `luarocks --lua-version 5.4 make --tree` from a fresh copy of the checkout, then a
-- pipeline with only that tree on LUA_PATH/LUA_CPATH and bin/graft --help from the tree;
-- `make install PREFIX=` and a C host built against the installed graft.pc.
local T, graft, oracle = require "tap", require "graft", require "oracle"

local pwd = os.getenv("PWD")
if os.getenv("GRAFT_SANITIZE") then
  -- Packaging does not change under the sanitizers, and the installed build is not instrumented.
  T.skip("the install test runs in the plain build", 12)
  T.done()
end
local dir = oracle.tmpname()
local function sh(cmd)
  local p = assert(io.popen(("(%s) 2>%s/stderr"):format(cmd, dir)))
  local out = p:read("a")
  local ok, _, code = p:close()
  local f = assert(io.open(dir .. "/stderr"))
  local err = f:read("a")
  f:close()
  return out, ok and 0 or code, err
end
local function diag_on_failure(ok, out, err)
  if not ok then T.diag((out or ""):sub(-1500) .. (err or ""):sub(-1500)) end
end

-- The checkout's tracked files (with any uncommitted edits), as a clean clone would have them.
assert(os.execute(("mkdir -p %s/src && cd %s && git ls-files -z | xargs -0 tar -cf - | tar -xf - -C %s/src"):format(
  dir, pwd, dir)))
local tree = dir .. "/tree"
local out, code, err = sh(("cd %s/src && luarocks --lua-version 5.4 make --tree %s graft-scm-1.rockspec"):format(dir, tree))
T.is(code, 0, "luarocks --lua-version 5.4 make --tree builds and installs graft")
diag_on_failure(code == 0, out, err)

local lint = sh(("cd %s/src && luarocks --lua-version 5.4 lint graft-scm-1.rockspec && luarocks --lua-version 5.4 lint graft-0.1.0-1.rockspec && echo linted"):format(dir))
T.ok(lint:find("linted", 1, true), "both rockspecs (checkout and release) pass luarocks lint")
local release = io.open(pwd .. "/graft-" .. graft.version .. "-1.rockspec")
T.ok(release ~= nil, ("the release rockspec is graft-%s-1.rockspec, graft.version's"):format(graft.version))
if release then release:close() end

-- A pipeline that sees only the tree: freeze a trunk, fit the head, save, load, predict.
local script = dir .. "/pipeline.lua"
local f = assert(io.open(script, "w"))
f:write([[
local graft = require "graft"
assert(package.searchpath("graft", package.path):find(arg[1], 1, true), "graft comes from the tree")
graft.manual_seed(0)
local nn, data = graft.nn, graft.data
local model = nn.Sequential {nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2)}
local x = graft.randn(64, 4)
local y = x:select(2, 1):gt(0):to("i64") + 1
model:freeze("^0%.")   -- keys are PyTorch's: 0.weight, 2.weight
graft.fit(model, data.Loader(data.TensorDataset(x, y), {batch_size = 16}), {epochs = 30, lr = 0.05, progress = false})
local acc = graft.evaluate(model, data.Loader(data.TensorDataset(x, y), {batch_size = 64}), {progress = false}).accuracy
graft.save(arg[2], model:state_dict())
local back = graft.load(arg[2])
print(("%s %.3f %d"):format(graft.version, acc, #back["2.weight"]:shape()))
]])
f:close()
local env = ("env LUA_PATH='%s/share/lua/5.4/?.lua;%s/share/lua/5.4/?/init.lua' LUA_CPATH='%s/lib/lua/5.4/?.so'"):format(
  tree, tree, tree)
out, code, err = sh(("cd %s && %s lua5.4 %s %s %s/w.safetensors"):format(dir, env, script, tree, dir))
local version, acc, rank = out:match("^(%S+) (%S+) (%d+)")
T.ok(code == 0 and version == graft.version, "the pipeline runs with only the tree on the search paths")
diag_on_failure(code == 0, out, err)
T.ok(tonumber(acc or 0) >= 0.9 and rank == "2", ("it trains the head (accuracy %s) and saves and loads"):format(acc))

out, code = sh(("cd %s && env -u LUA_PATH -u LUA_CPATH %s/bin/graft --help"):format(dir, tree))
T.ok(code == 0 and out:find("usage: graft COMMAND", 1, true), "the tree's bin/graft --help prints the usage")
out = sh(("ls %s/lib/luarocks/rocks-5.4/graft/scm-1/docs"):format(tree))
T.ok(out:find("transfer.md", 1, true), "the docs are installed beside the rock")

-- make install: the Lua trees, the command, and libgraft + graft.h + graft.pc for C hosts.
local prefix = dir .. "/prefix"
out, code, err = sh(("cd %s/src && make -s install PREFIX=%s"):format(dir, prefix))
T.is(code, 0, "make install PREFIX=... installs")
diag_on_failure(code == 0, out, err)
-- The host is built exactly as docs/embedding.md says (pkg-config told where PREFIX's .pc
-- is), and must start without LD_LIBRARY_PATH: graft.pc carries the rpath of its libdir.
local pc = ("PKG_CONFIG_PATH=%s/lib/pkgconfig"):format(prefix)
out, code, err = sh(("cd %s && cp src/examples/embed/host.c host.c && export %s && cc host.c $(pkg-config --cflags --libs graft) -o host"):format(
  dir, pc))
T.is(code, 0, "a C host builds against the installed graft with pkg-config, as docs/embedding.md says")
diag_on_failure(code == 0, out, err)
out = sh(("readelf -d %s/lib/libgraft.so.%s | grep SONAME; readelf -d %s/host | grep -e NEEDED -e RPATH -e RUNPATH; readlink %s/lib/libgraft.so %s/lib/libgraft.so.0"):format(
  prefix, graft.version, dir, prefix, prefix))
local linked = out:find("[libgraft.so.0]", 1, true) and out:find("Shared library: [libgraft.so.0]", 1, true)
  and out:find(prefix .. "/lib", 1, true) and out:find("libgraft.so.0\nlibgraft.so." .. graft.version, 1, true)
T.ok(linked, "libgraft.so." .. graft.version .. " has the SONAME libgraft.so.0 (symlinks libgraft.so, libgraft.so.0), "
  .. "which the host needs from its rpath")
diag_on_failure(linked, out, "")
local png = dir .. "/one.png"
graft.image.save(png, graft.data.FashionMNIST("test"):get(2))
out, code = sh(("cd %s && env -u LUA_PATH -u LUA_CPATH -u LD_LIBRARY_PATH ./host %s/models/resnet20_fmnist_a.safetensors %s"):format(dir, pwd, png))
T.ok(code == 0 and out:find(png .. "\tPullover\t", 1, true), "and classifies an image: " .. out:gsub("\n", ""))
out = sh(("%s/bin/graft --help >/dev/null && ls %s/share/lua/5.4/graft/init.lua %s/include/graft.h"):format(prefix, prefix, prefix))
T.ok(select(2, out:gsub("\n", "")) == 2, "the Lua modules and the header are under PREFIX")
out, code = sh(("cd %s && env -u LUA_PATH -u LUA_CPATH %s/bin/graft predict %s/models/resnet20_fmnist_a.safetensors %s"):format(
  dir, prefix, pwd, png))
T.ok(code == 0 and out:find(png .. "\tPullover\t", 1, true), "the installed graft command runs with the modules beside it, no LUA_PATH")
T.done()
