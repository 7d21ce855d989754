#!/usr/bin/env lua5.4
-- tests/090-memory.t — tensor memory is visible to Lua's GC, allocation failures and the
-- memory limit are Lua errors, and big temporaries in a loop do not pile up.
local T, graft = require "tap", require "graft"

local MB = 1024 * 1024
local function rss()
  local f = io.open("/proc/self/statm")
  if not f then return 0 end
  local pages = f:read("a"):match("^%d+%s+(%d+)")
  f:close()
  return tonumber(pages) * 4096
end
-- Tensors of many sizes at once, as in a training step: the process holds no more than
-- the most its live tensors ever needed (freed pages are reused for other sizes or given
-- back; a malloc heap kept 135 MB here for a 73 MB peak).
collectgarbage()
local rss0 = rss()
local live0, grew = graft.memory().allocated, 0
math.randomseed(1)
local kept = {}
for i = 1, 400 do
  local t = graft.ones{math.random(64 * 1024, 1536 * 1024)}
  kept[i % 7 + 1] = t * 2
  if i % 50 == 0 then collectgarbage() end
  grew = math.max(grew, rss() - rss0)
end
local needed = graft.memory().peak - live0
-- AddressSanitizer adds its shadow (an eighth of what it tracks) and a quarantine of freed
-- small blocks (measured: 90 MB for the same 73 MB peak).
local slack = os.getenv("GRAFT_SANITIZE") and needed // 8 + 16 * MB or 8 * MB
T.ok(grew <= needed + slack, ("tensors of 400 sizes: resident size grew %d MB for a peak of %d MB"):format(grew // MB, needed // MB))
kept = nil

collectgarbage()
local start = graft.memory().allocated

-- 1000 temporaries of 100 MB each: without GC pressure from graft they would pile up
-- (Lua only sees small userdata headers).
local worst = 0
for _ = 1, 1000 do
  local t = graft.empty{25 * MB}      -- 100 MB of f32, untouched
  worst = math.max(worst, graft.memory().allocated)
  t = nil
end
T.ok(worst - start < 1200 * MB, ("1000 x 100 MB temporaries: at most %d MB alive at once"):format((worst - start) // MB))

-- The same with memory that is really touched: resident size stays bounded too.
rss0 = rss()
local peak = rss0
for _ = 1, 40 do
  local t = graft.ones{25 * MB}
  local s = t:sum()
  peak = math.max(peak, rss())
  t, s = nil, nil
end
T.ok(peak - rss0 < 1200 * MB, ("40 x 100 MB touched temporaries: resident size grew by at most %d MB"):format((peak - rss0) // MB))

-- A steady inference loop touches no fresh pages: its buffers come back from the cache
-- although dead activations wait for the collector (before the cache's slack, a resnet18
-- forward at batch 1 faulted in 900 fresh pages, 1,300 with malloc's share).
local function minor_faults()
  local f = io.open("/proc/self/stat")
  if not f then return nil end
  local fields = {}
  for w in f:read("a"):match("%) (.*)$"):gmatch("%S+") do fields[#fields + 1] = w end
  f:close()
  return tonumber(fields[8])   -- minflt, the 10th field of stat
end
if minor_faults() and not os.getenv("GRAFT_SANITIZE") then
  local model = graft.models.resnet18():eval()
  local image = graft.randn{1, 3, 224, 224}
  for _ = 1, 8 do graft.no_grad(model, image) end
  local f0 = minor_faults()
  for _ = 1, 16 do graft.no_grad(model, image) end
  local per = (minor_faults() - f0) / 16
  T.ok(per < 50, ("resnet18 forwards at batch 1 fault in %.1f fresh pages each"):format(per))
  model = nil
else
  T.skip("no /proc/self/stat, or AddressSanitizer's allocator")
end

-- Accounting follows storage, not userdata: views share it.
collectgarbage()
local before = graft.memory().allocated
local x = graft.zeros{MB}
local v1, v2 = x:view(-1), x:t()
T.is(graft.memory().allocated - before, 4 * MB, "a tensor and its views count once")
x, v1, v2 = nil, nil, nil
collectgarbage()
T.is(graft.memory().allocated, before, "storage is freed when the last view is collected")

-- An allocation that cannot succeed is a Lua error, after a collection and a retry.
T.error_like(function() graft.empty{2 ^ 40} end, "empty: out of memory allocating 4398046511104 bytes", "a 4 TB tensor is a clean error")
T.error_like(function() graft.zeros{2 ^ 31, 2 ^ 31, 4} end, "zeros: invalid size {2147483648,2147483648,4}", "a size overflow is caught before allocating")

-- The memory limit for hosts.
graft.set_memory_limit(graft.memory().allocated + 10 * MB)
local ok = pcall(graft.zeros, {MB})
T.ok(ok, "allocations under the limit succeed")
T.error_like(function() graft.zeros{8 * MB} end, "zeros: memory limit: 33554432 more bytes would exceed the cap", "the limit turns an allocation into a Lua error")
T.error_like(function() return graft.ones{2 * MB} + graft.ones{2 * MB} + graft.ones{2 * MB} end, "memory limit", "ops raise at the limit too")
T.is(graft.memory().limit ~= nil, true, "memory() reports the limit")
graft.set_memory_limit(nil)
T.ok(pcall(graft.zeros, {8 * MB}), "removing the limit allows the allocation again")
T.ok(graft.memory().peak >= 100 * MB, "memory() reports the peak")
T.done()
