#!/usr/bin/env lua5.4
-- tests/slow/870-embed-helgrind.t — Helgrind finds no data race in graft's own code when
-- examples/embed/host runs two lua_States in two threads. Reports whose racing access is
-- inside OpenBLAS, libgomp or cJSON's error-position global are suppressed by
-- tests/helgrind.supp, which says why each is not graft's.
local T, graft, oracle = require "tap", require "graft", require "oracle"

if os.execute("valgrind --version >/dev/null 2>&1") ~= true then
  T.skip("valgrind is not installed", 2)
  T.done()
end
local host = (os.getenv("GRAFT_BUILD") or "build") .. "/examples/embed/host"
local pwd = os.getenv("PWD")
local dir = oracle.tmpname()
assert(os.execute("mkdir -p " .. dir))
local test = graft.data.FashionMNIST("test")
local images = {}
for i = 1, 4 do
  images[i] = ("%s/%d.png"):format(dir, i)
  graft.image.save(images[i], test:get(i))
end
local args = ("--threads 2 %s/models/resnet20_fmnist_a.safetensors %s"):format(pwd, table.concat(images, " "))

local function run(prefix)
  local p = assert(io.popen(("env -u LUA_PATH -u LUA_CPATH %s %s %s 2>%s/stderr"):format(prefix, host, args, dir)))
  local out = p:read("a")
  local ok = p:close()
  local f = assert(io.open(dir .. "/stderr"))
  local err = f:read("a")
  f:close()
  return out, ok, err
end

local plain = run("")
local out, ok, err = run(("valgrind --tool=helgrind --suppressions=%s/tests/helgrind.supp --error-exitcode=9"):format(pwd))
local errors = tonumber(err:match("ERROR SUMMARY: (%d+) errors"))
T.ok(ok and errors == 0, ("Helgrind: %s errors (%s suppressed inside OpenBLAS, libgomp and cJSON)"):format(
  tostring(errors), err:match("suppressed: (%d+)") or "?"))
if errors ~= 0 then
  for line in err:gmatch("[^\n]+") do
    if line:find("Possible data race") or line:find("   at ") then T.diag(line) end
  end
end
T.is(out, plain, "the host's output under Helgrind is its output without it")
T.done()
