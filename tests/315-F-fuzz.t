#!/usr/bin/env lua5.4
-- tests/315-F-fuzz.t — the differential fuzzer of graft.F against PyTorch (tests/lib/ffuzz.lua),
-- fast tier: FUZZ_CASES (default 400) random cases of every graft.F op with a PyTorch
-- counterpart, forward and the gradient of every input, at edge shapes and options. PyTorch
-- decides validity: where it returns graft must agree, where it raises graft must raise a
-- Lua error. The seed is printed; SEED=n repeats a run, FUZZ_VERBOSE=1 names each case on
-- stderr before graft runs it (to find one that crashes). tests/slow/300-F-fuzz.t runs thousands.
local T, graft, ffuzz = require "tap", require "graft", require "ffuzz"
local seed = T.seed()
math.randomseed(seed)
graft.manual_seed(seed)
local count = tonumber(os.getenv("FUZZ_CASES")) or 400
local started = os.time()
local stats = ffuzz.run(count, 100, function(i, c, problem)
  if c.oracle_died then
    T.skip(("case %d: %s: PyTorch itself crashed"):format(i, ffuzz.describe(c)))
    return
  end
  if not T.ok(problem == nil, ("case %d: %s"):format(i, c.op)) then
    T.diag("  " .. ffuzz.describe(c))
    T.diag("  " .. problem)
  end
end, os.getenv("FUZZ_VERBOSE"))
T.diag(("%d cases (%d refused by both, %d forward only, %d where PyTorch crashed), %d disagreements, %d oracle calls, %d s"):format(
  stats.cases, stats.refused, stats.no_backward, stats.died, stats.bad, stats.oracle_calls, os.time() - started))
T.done()
