#!/usr/bin/env lua5.4
-- tests/057-isa-paths.t — the parity tests against PyTorch pass on every instruction-set path
-- this CPU has: each listed test runs again in a child with GRAFT_ISA forced to avx512, avx2
-- and generic (a set the CPU lacks is skipped, after checking that forcing it is an error).
-- The default path is the one the rest of the suite runs.
local T = require "tap"
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "tests"
local TESTS = {"050-matmul.t", "300-conv2d.t", "320-attention.t", "330-bert.t", "620-zoo-train-step.t"}
-- Under the sanitizers (ten times slower) the kernels' own tests: the zoo's and BERT's
-- parity on every path is the plain run's.
if os.getenv("GRAFT_SANITIZE") then TESTS = {"050-matmul.t", "300-conv2d.t", "320-attention.t"} end
local ISAS = {"avx512", "avx2", "generic"}
T.plan(#ISAS * (#TESTS + 1))

local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  return ok, out
end

for _, isa in ipairs(ISAS) do
  local ok, out = run(("GRAFT_ISA=%s lua5.4 -e 'io.write(require(\"graft\").info().isa)'"):format(isa))
  if not ok then
    T.like(out, "GRAFT_ISA=" .. isa .. ", but this CPU has no", isa .. ": forcing a set the CPU lacks is an error")
    for _, t in ipairs(TESTS) do T.skip(isa .. ": not on this CPU: " .. t) end
  else
    T.is(out, isa, isa .. ": forced, and graft.info() says so")
    for _, t in ipairs(TESTS) do
      local passed, report = run(("GRAFT_ISA=%s lua5.4 %s/%s"):format(isa, here, t))
      local failed = {}
      for line in report:gmatch("[^\n]+") do
        if line:match("^not ok") then failed[#failed + 1] = line end
      end
      local planned = report:match("^1%.%.(%d+)") or report:match("\n1%.%.(%d+)")
      T.ok(passed and #failed == 0 and planned ~= nil, ("%s: %s passes (%s checks)"):format(isa, t, planned or "?"))
      if #failed > 0 then T.diag(table.concat(failed, "\n", 1, math.min(#failed, 5))) end
    end
  end
end
T.done()
