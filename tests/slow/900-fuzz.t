#!/usr/bin/env lua5.4
-- tests/slow/900-fuzz.t — `make fuzz`: each libFuzzer target (safetensors, PNG, JPEG, IDX,
-- .pth, model config, state dict, convolution and pooling shapes) runs FUZZ_SECONDS (default
-- 60) from its seed corpus under ASan and UBSan, and finds nothing. A finding fails the test;
-- its input is left in build-fuzz/findings/ and belongs in tests/bad/ with the error it must
-- give (or, for shapes, in tests/305-edge-shapes.t).
local T = require "tap"

if os.execute("command -v clang-14 >/dev/null 2>&1") ~= true then
  os.execute("scripts/deps --fuzz >/dev/null 2>&1")
end
local seconds = tonumber(os.getenv("FUZZ_SECONDS")) or 60
-- A fixed libFuzzer seed (FUZZ_SEED, default 1) so that CI repeats the exploration run here;
-- `make fuzz` alone draws fresh seeds.
local seed = tonumber(os.getenv("FUZZ_SEED")) or 1
local p = assert(io.popen(("make -s fuzz FUZZ_SECONDS=%d FUZZ_SEED=%d 2>&1"):format(seconds, seed)))
local out = p:read("a")
local ok = p:close()
-- Each target prints "== fuzz NAME (N s)", libFuzzer's last status line, then its count of inputs.
local runs, corpus = 0, nil
for line in out:gmatch("[^\n]+") do
  corpus = line:match("^== fuzz (%S+)") or corpus
  local units = tonumber(line:match("^stat::number_of_executed_units: (%d+)"))
  if units then
    T.ok(units > 0, ("%s: %d inputs in %d s, no finding"):format(corpus, units, seconds))
    runs = runs + 1
  end
end
T.ok(ok and runs == 8, ("make fuzz ran all 8 targets cleanly (%d reported)"):format(runs))
if not ok then T.diag(out:sub(-3000)) end
T.done()
