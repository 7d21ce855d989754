#!/usr/bin/env lua5.4
-- tests/095-exit.t — a script that uses graft's threads and ends normally (closing its
-- state, which unloads C modules) exits cleanly. graft's core is linked -z nodelete: without
-- it libgomp is unloaded under its idle pool threads and most such runs crash at exit.
local T = require "tap"
T.plan(2)
local script = [[local g = require "graft"
local a = g.randn{300, 300}
local b = a:matmul(a)
local c = (b + 1):exp():sum()
g.nn.Conv2d(3, 8, 3)(g.randn{4, 3, 16, 16}):sum():backward()]]
local path = os.tmpname()
local f = assert(io.open(path, "w"))
f:write(script)
f:close()
local failures = 0
for _ = 1, 20 do
  local ok = os.execute("lua5.4 " .. path .. " >/dev/null 2>&1")
  if not ok then failures = failures + 1 end
end
os.remove(path)
T.is(failures, 0, "20 scripts that end normally all exit with status 0")
local ok = os.execute([[lua5.4 -e 'require("graft").zeros{1}' >/dev/null 2>&1]])
T.ok(ok, "lua5.4 -e with graft exits cleanly")
T.done()
