#!/usr/bin/env lua5.4
-- tests/slow/300-F-fuzz.t — the differential fuzzer of graft.F against PyTorch
-- (tests/lib/ffuzz.lua), slow tier: rounds of 500 random cases, each round seeded apart
-- (SEED + round), until SLOW_BUDGET seconds are nearly used (unset: 8 rounds, 4,000 cases).
-- Every disagreement prints its case and round; one test per round.
local T, graft, ffuzz = require "tap", require "graft", require "ffuzz"
local seed = T.seed()
local budget = tonumber(os.getenv("SLOW_BUDGET") or "")
local rounds = budget and math.huge or 8
local started = os.time()
local round, total, bad, refused, died = 0, 0, 0, 0, 0
-- a round takes about 20 s on two cores; another starts only if it fits the budget
while round < rounds and (not budget or os.time() - started < budget - 60) do
  round = round + 1
  math.randomseed(seed + round)
  graft.manual_seed(seed + round)
  local problems = {}
  local stats = ffuzz.run(500, 100, function(i, c, problem)
    if problem then problems[#problems + 1] = ("case %d: %s\n    %s"):format(i, ffuzz.describe(c), problem) end
  end)
  total, bad = total + stats.cases, bad + stats.bad
  refused, died = refused + stats.refused, died + stats.died
  if not T.ok(#problems == 0, ("round %d (seed %d): %d cases agree with PyTorch"):format(round, seed + round, stats.cases)) then
    for _, p in ipairs(problems) do T.diag(p) end
  end
end
T.diag(("%d cases in %d rounds (%d refused by both, %d where PyTorch crashed), %d disagreements, %d s"):format(
  total, round, refused, died, bad, os.time() - started))
T.done()
