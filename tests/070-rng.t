#!/usr/bin/env lua5.4
-- tests/070-rng.t — seeded generation: reproducible, restorable, well distributed
local T, graft = require "tap", require "graft"

graft.manual_seed(42)
local a = graft.randn{1000}
graft.manual_seed(42)
local b = graft.randn{1000}
T.equal(a, b, "the same seed gives the same normals")
graft.manual_seed(43)
T.ok(not graft.allclose(graft.randn{1000}, a), "another seed gives other numbers")

local state = graft.get_rng_state()
T.is(state:dtype(), "u8", "the RNG state is a u8 tensor (as torch.get_rng_state)")
local r1 = graft.rand{5}
graft.set_rng_state(state)
T.equal(graft.rand{5}, r1, "set_rng_state replays the stream")
T.error_like(function() graft.set_rng_state(graft.zeros({32}, "u8")) end, "an all-zero RNG state is invalid", "a zero state is refused")
T.error_like(function() graft.set_rng_state(graft.zeros{4}) end, "expected the u8 tensor of 32 bytes", "a wrong state is refused")

graft.manual_seed(7)
local u = graft.rand{200000}
local lo, hi = u:min():item(), u:max():item()
T.ok(lo >= 0 and hi < 1, "rand is in [0, 1)")
T.ok(math.abs(u:mean():item() - 0.5) < 0.005, "rand has mean 1/2")
T.ok(math.abs((u - 0.5):pow(2):mean():item() - 1 / 12) < 0.002, "rand has variance 1/12")
local z = graft.randn{200000}
T.ok(math.abs(z:mean():item()) < 0.01, "randn has mean 0")
T.ok(math.abs(z:pow(2):mean():item() - 1) < 0.02, "randn has variance 1")
T.ok(math.abs(z:abs():lt(1):to("f32"):mean():item() - 0.6827) < 0.005, "randn: 68% within one sigma")

local ri = graft.randint(-3, 4, {10000})
T.is(ri:dtype(), "i64", "randint is i64")
T.ok(ri:min():item() == -3 and ri:max():item() == 3, "randint covers [low, high)")
local p = graft.randperm(50)
local seen = {}
for _, v in ipairs(p:totable()) do seen[v] = (seen[v] or 0) + 1 end
local perm_ok = true
for i = 1, 50 do perm_ok = perm_ok and seen[i] == 1 end
T.ok(perm_ok, "randperm(n) is a permutation of 1..n")
T.ok(graft.randperm(0):numel() == 0, "randperm(0) is empty")
T.error_like(function() graft.randint(3, 3, {1}) end, "randint: low (3) must be below high (3)", "randint bounds")
T.error_like(function() graft.rand({2}, "i64") end, "rand: random tensors are f32, not i64", "rand is f32")

-- Large fills run in parallel chunks with their own streams: the numbers do not depend on
-- the thread count.
local n0 = graft.get_num_threads()
graft.manual_seed(9); graft.set_num_threads(1)
local one = graft.randn{300001}
graft.manual_seed(9); graft.set_num_threads(2)
local two = graft.randn{300001}
graft.set_num_threads(n0)
T.equal(one, two, "randn gives the same numbers on 1 and 2 threads")
local t = graft.zeros{200000}:normal_(2, 3)
T.ok(math.abs(t:mean():item() - 2) < 0.03 and math.abs((t - 2):pow(2):mean():item() ^ 0.5 - 3) < 0.03, "normal_(mean, std) in place")
local u = graft.zeros{200000}:uniform_(-1, 1)
T.ok(u:min():item() >= -1 and u:max():item() < 1 and math.abs(u:mean():item()) < 0.01, "uniform_(a, b) in place")

-- A script that never seeds still repeats itself, as in PyTorch (fixed default seed).
local cmd = [[lua5.4 -e 'print(require("graft").rand{3}:sum():item())']]
local first, second = io.popen(cmd):read("a"), io.popen(cmd):read("a")
T.ok(first ~= "" and first == second, "two fresh processes draw the same numbers")
T.done()
