#!/usr/bin/env lua5.4
-- tests/slow/910-memcheck.t — Valgrind's memcheck on the core subset of the Lua suite
-- (tensors, views, reductions, safetensors and the hostile files, autograd, the nn ops,
-- images, data loading with worker threads): no invalid read or write, no use of
-- uninitialised memory, and no block definitely lost once the test's Lua state is closed
-- (tap.lua's done() closes it, so every tensor is finalized).
local T = require "tap"

if os.execute("valgrind --version >/dev/null 2>&1") ~= true then
  T.skip("valgrind is not installed", 1)
  T.done()
end
local subset = {"010-tensor", "020-views", "040-reduce", "080-safetensors", "085-safetensors-bad", "095-bad-files",
                "200-autograd", "310-nn-ops", "700-image", "720-data"}
for _, name in ipairs(subset) do
  local log = os.tmpname()
  local p = assert(io.popen(("valgrind --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite "
    .. "--error-exitcode=9 --log-file=%s lua5.4 tests/%s.t"):format(log, name)))
  local out = p:read("a")
  local ok = p:close()
  local f = assert(io.open(log))
  local report = f:read("a")
  f:close()
  os.remove(log)
  local errors = tonumber(report:match("ERROR SUMMARY: (%d+) errors")) or -1
  local lost = report:match("definitely lost: ([%d,]+) bytes") or "0"
  local failed = select(2, out:gsub("\nnot ok", ""))
  T.ok(ok and errors == 0 and failed == 0, ("%s under memcheck: %d errors, %s bytes definitely lost, %d failed tests"):format(
    name, errors, lost, failed))
  if errors ~= 0 then T.diag(report:sub(1, 3000)) end
end
T.done()
