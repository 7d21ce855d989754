#!/usr/bin/env lua5.4
-- tests/060-dtype.t — every dtype conversion against PyTorch, including truncation toward
-- zero, wrap-around into u8, NaN and out-of-range floats.
local T, graft, oracle = require "tap", require "graft", require "oracle"

local f = graft.tensor{-300.7, -129.5, -1.9, -0.5, 0, 0.49, 0.5, 1.5, 2.99, 127.5, 255.9, 256.2, 1e6}
local i = graft.tensor({-2^40, -257, -256, -1, 0, 1, 255, 256, 511, 2^40}, "i64")
local u = graft.tensor({0, 1, 127, 128, 254, 255}, "u8")
local want = oracle.run([[
f, i, u = inp["f"], inp["i"], inp["u"]
out["f_i"], out["f_u"] = f.to(torch.int64), f.to(torch.uint8)
out["i_f"], out["i_u"] = i.to(torch.float32), i.to(torch.uint8)
out["u_f"], out["u_i"] = u.to(torch.float32), u.to(torch.int64)
]], {f = f, i = i, u = u})

T.equal(f:to("i64"), want.f_i, "f32 -> i64 truncates toward zero")
T.is(f:to("i64"):dtype(), "i64", "to(i64) dtype")
T.equal(f:to("u8"), want.f_u, "f32 -> u8 truncates, then wraps")
T.equal(i:to("f32"), want.i_f, "i64 -> f32")
T.equal(i:to("u8"), want.i_u, "i64 -> u8 wraps")
T.equal(u:to("f32"), want.u_f, "u8 -> f32")
T.equal(u:to("i64"), want.u_i, "u8 -> i64")
T.equal(u:to("u8"), u, "u8 -> u8")
T.ok(u:to("u8") == u, "to() of the same dtype is the tensor itself")
-- NaN and infinities have no integer value; graft gives INT64_MIN (as x86 PyTorch does)
-- without undefined behaviour in C.
T.is(graft.tensor{0 / 0}:to("i64"):item(), math.mininteger, "NaN -> i64 is INT64_MIN")
T.is(graft.tensor{math.huge}:to("i64"):item(), math.mininteger, "inf -> i64 is INT64_MIN")
-- mixed-dtype copy_ converts into the destination
local dst = graft.zeros({3}, "i64")
dst:copy_(graft.tensor{1.7, -1.7, 3})
T.equal(dst, {1, -1, 3}, "copy_ converts f32 into an i64 tensor")
local back = graft.tensor({5, 6}, "i64"):to("f32"):to("i64")
T.equal(back, {5, 6}, "round trip i64 -> f32 -> i64")
T.done()
