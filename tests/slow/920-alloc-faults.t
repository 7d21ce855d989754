#!/usr/bin/env lua5.4
-- tests/slow/920-alloc-faults.t — the allocation-failure sweep, as Lua's own memerr tests:
-- in the sanitizer build (AddressSanitizer + LeakSanitizer, and the allocation-fault hook
-- of csrc/core/alloc.h), the n-th allocation of the C core, io and ops fails, for
-- n = 1, 2, ... over a representative subset of the suite: tensor creation and ops,
-- conv2d forward and backward, safetensors save and load, PNG and JPEG decoding, and a
-- small model's forward, backward and optimizer step (tests/slow/alloc-faults.lua runs
-- each). Every run must end in a Lua error naming the lack of memory, or recover (the
-- binding collects garbage and retries once) with the unfaulted result; no run may crash,
-- and no process may leak. It prints the allocation sites reached and the runs made.
-- SLOW_BUDGET (seconds) bounds it: scenarios not started in time are skipped.
local T, graft, oracle = require "tap", require "graft", require "oracle"

local pwd = os.getenv("PWD")
local budget = tonumber(os.getenv("SLOW_BUDGET") or "")
local started = os.time()
local scenarios = {"tensors", "conv2d", "nn", "safetensors", "images", "idx", "model"}

-- The sanitizer build, with the hook (make SANITIZE=1 defines GRAFT_ALLOC_FAULTS).
local built = os.execute("make -s SANITIZE=1 all >/dev/null 2>&1")
local asan = io.popen("cc -print-file-name=libasan.so"):read("l")
if not built or not asan or not asan:find("/", 1, true) then
  T.skip("the sanitizer build (make SANITIZE=1) is not available", 2 * #scenarios + 1)
  T.done()
end
local env = table.concat({
  "LD_PRELOAD=" .. asan,
  "ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:allocator_may_return_null=1:fast_unwind_on_malloc=0",
  "LSAN_OPTIONS=suppressions=" .. pwd .. "/tests/lsan.supp:print_suppressions=0",
  "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1",
  "GRAFT_BUILD=" .. pwd .. "/build-asan",
  "LUA_CPATH='" .. pwd .. "/build-asan/?.so;;'",
}, " ")

-- The scenarios decode the PNG and JPEG seeds of tests/fuzz/corpus and write into dir.
local dir = oracle.tmpname()
assert(os.execute("mkdir -p " .. dir))

local total_runs, crashes, leaks, all_sites = 0, 0, 0, {}
local cases = {}
for _, mode in ipairs {"once", "sticky"} do
  for _, name in ipairs(scenarios) do cases[#cases + 1] = {name, mode} end
end
for _, case in ipairs(cases) do
  local name, mode = case[1], case[2]
  if budget and os.time() - started > budget then
    T.skip(name .. " (" .. mode .. "): over SLOW_BUDGET", 1)
  else
    local from, runs, wrong, crashed_at, leaked, done = 1, 0, {}, {}, 0, false
    while not done do
      local log = dir .. "/stderr"
      local p = assert(io.popen(("cd %s && %s lua5.4 tests/slow/alloc-faults.lua %s %d %s %s 2>%s"):format(
        pwd, env, name, from, dir, mode, log)))
      local last_start, finished = nil, false
      for line in p:lines() do
        local n = tonumber(line:match("^start (%d+)"))
        if n then last_start = n end
        local rn, what = line:match("^run (%d+) (%S+)")
        if rn and what ~= "unreached" then runs = runs + 1 end
        if what == "WRONG" then wrong[#wrong + 1] = line end
        local site = line:match("^site (.*)")
        if site then all_sites[site] = true end
        if line == "done" then finished = true end
      end
      p:close()
      local e = io.open(log)
      local err = e and e:read("a") or ""
      if e then e:close() end
      local _, nleaks = err:gsub("\n(%a+) leak of", "")
      leaked = leaked + nleaks
      if nleaks > 0 then T.diag(err:sub(1, 3000)) end
      if finished then
        done = true
      else   -- a crash (or a sanitizer's report) in run last_start: go on after it
        crashed_at[#crashed_at + 1] = last_start or 0
        T.diag(("%s: run %s died:\n%s"):format(name, tostring(last_start), err:sub(1, 3000)))
        if not last_start or #crashed_at > 20 then done = true else from = last_start + 1 end
      end
    end
    total_runs, crashes, leaks = total_runs + runs, crashes + #crashed_at, leaks + leaked
    T.ok(#wrong == 0 and #crashed_at == 0 and leaked == 0 and runs > 0,
      ("%s: %d runs, each failing %s: %d wrong, %d crashed, %d leaks"):format(
        name, runs, mode == "once" and "one allocation" or "one allocation and every later one", #wrong,
        #crashed_at, leaked))
    for _, w in ipairs(wrong) do T.diag(w) end
  end
end
local nsites = 0
for _ in pairs(all_sites) do nsites = nsites + 1 end
T.diag(("allocation sites reached: %d; runs: %d; crashes: %d; leaks: %d"):format(nsites, total_runs, crashes, leaks))
T.ok(nsites >= 10, ("the sweep reached %d allocation sites of the core, io and ops"):format(nsites))
T.done()
