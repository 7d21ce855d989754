#!/usr/bin/env lua5.4
-- tests/040-reduce.t — reductions over every dim with keepdim, several dims, NaN, empty
-- dims, non-contiguous inputs; topk, index_select and gather: against PyTorch.
local T, graft, oracle = require "tap", require "graft", require "oracle"
graft.manual_seed(T.seed())

local x = graft.randn{3, 4, 5}
local xt = x:transpose(1, 3)                      -- non-contiguous {5, 4, 3}
local xn = graft.tensor{{1, 0 / 0, 3}, {4, 5, 6}}  -- a NaN in row 1
local xi = graft.randint(-50, 50, {4, 6})
local xu = graft.randint(0, 256, {300}):to("u8")
local gidx = graft.randint(0, 5, {3, 4, 2})         -- 0-based, for torch
local want = oracle.run([[
x, xt, xn, xi, xu = inp["x"], inp["x"].transpose(0, 2), inp["xn"], inp["xi"], inp["xu"]
for name, t in [("x", x), ("xt", xt), ("xi", xi)]:
    out[name + "_sum"] = t.sum()
    out[name + "_max"] = t.max()
    out[name + "_argmax"] = t.argmax()
    for d in range(t.dim()):
        for kd in (False, True):
            tag = "%s_%d_%d" % (name, d, kd)
            out[tag + "_sum"] = t.sum(d, keepdim=kd)
            out[tag + "_prod"] = t.prod(d, keepdim=kd)
            v, i = t.max(d, keepdim=kd)
            out[tag + "_max"], out[tag + "_maxi"] = v, i
            v, i = t.min(d, keepdim=kd)
            out[tag + "_min"], out[tag + "_mini"] = v, i
            out[tag + "_argmin"] = t.argmin(d, keepdim=kd)
            if t.dtype == torch.float32:
                out[tag + "_mean"] = t.mean(d, keepdim=kd)
out["x_mean"] = x.mean()
out["x_sum02"] = x.sum((0, 2))
out["x_mean12k"] = x.mean((1, 2), keepdim=True)
out["xn_max1"], out["xn_max1i"] = xn.max(1)
out["xn_sum1"] = xn.sum(1)
out["xn_max"] = xn.max()
out["xu_sum"] = xu.sum()
out["xu_max"] = xu.max()
v, i = x.topk(3, 2)
out["topk_v"], out["topk_i"] = v, i
v, i = xt.topk(2, 1, largest=False)
out["topk_sv"], out["topk_si"] = v, i
out["isel"] = x.index_select(1, torch.tensor([3, 0, 0, 2]))
out["gather"] = x.gather(2, inp["gidx"])
]], {x = x, xn = xn, xi = xi, xu = xu, gidx = gidx})

for _, c in ipairs {{"x", x}, {"xt", xt}, {"xi", xi}} do
  local name, t = c[1], c[2]
  T.close(t:sum(), want[name .. "_sum"], name .. ": sum of all", 1e-5, 1e-4)
  T.close(t:max(), want[name .. "_max"], name .. ": max of all")
  T.equal(t:argmax(), want[name .. "_argmax"] + 1, name .. ": argmax of all (1-based flat position)")
  for d = 1, t:dim() do
    for _, kd in ipairs {false, true} do
      local tag = ("%s_%d_%d"):format(name, d - 1, kd and 1 or 0)
      local what = (" %s over dim %d%s"):format(name, d, kd and " keepdim" or "")
      T.close(t:sum(d, kd), want[tag .. "_sum"], "sum" .. what, 1e-5, 1e-5)
      T.close(t:prod(d, kd), want[tag .. "_prod"], "prod" .. what, 1e-5, 1e-6)
      local v, i = t:max(d, kd)
      T.close(v, want[tag .. "_max"], "max values" .. what)
      T.equal(i, want[tag .. "_maxi"] + 1, "max positions" .. what)
      v, i = t:min(d, kd)
      T.close(v, want[tag .. "_min"], "min values" .. what)
      T.equal(i, want[tag .. "_mini"] + 1, "min positions" .. what)
      T.equal(t:argmin(d, kd), want[tag .. "_argmin"] + 1, "argmin" .. what)
      if t:dtype() == "f32" then T.close(t:mean(d, kd), want[tag .. "_mean"], "mean" .. what, 1e-5, 1e-6) end
    end
  end
end
T.is(xi:sum():dtype(), "i64", "sum of i64 is i64")
T.is(xi:mean():dtype(), "f32", "mean of integers is f32")
T.close(x:mean(), want.x_mean, "mean of all", 1e-5, 1e-6)
T.close(x:sum{1, 3}, want.x_sum02, "sum over two dims", 1e-5, 1e-5)
T.close(x:mean({2, 3}, true), want.x_mean12k, "mean over two dims with keepdim", 1e-5, 1e-6)
local v, i = xn:max(2)
T.close(v, want.xn_max1, "max propagates NaN")
T.equal(i, want.xn_max1i + 1, "max points at the NaN")
T.close(xn:sum(2), want.xn_sum1, "sum propagates NaN")
T.close(xn:max(), want.xn_max, "max of all is NaN when one is")
T.equal(xu:sum(), want.xu_sum, "sum of u8 does not wrap (i64)")
T.is(xu:sum():dtype(), "i64", "sum of u8 is i64")
T.equal(xu:max(), want.xu_max, "max of u8")

-- empty dims
T.close(graft.zeros{0, 3}:sum(1), {0, 0, 0}, "sum over an empty dim is 0")
T.ok(graft.zeros{0}:mean():item() ~= graft.zeros{0}:mean():item(), "mean over nothing is NaN")
T.error_like(function() graft.zeros{0, 3}:max(1) end, "max: cannot reduce over an empty dim", "max over an empty dim")
T.error_like(function() x:sum(4) end, "sum: dim 4 is out of range for a tensor with 3 dims", "bad dim")
T.error_like(function() x:sum{1, 1} end, "sum: dim 1 appears twice", "repeated dim")

-- topk, index_select, gather
local tv, ti = x:topk(3, 3)
T.close(tv, want.topk_v, "topk values")
T.equal(ti, want.topk_i + 1, "topk positions")
tv, ti = xt:topk(2, 2, {largest = false})
T.close(tv, want.topk_sv, "topk smallest on a non-contiguous tensor")
T.equal(ti, want.topk_si + 1, "topk smallest positions")
local lv, li = graft.tensor{3, 1, 2}:topk(2)
T.is_deeply({lv:totable(), li:totable()}, {{3, 2}, {1, 3}}, "topk of a vector")
T.error_like(function() x:topk(6, 3) end, "topk: k = 6 is out of range for a dim of size 5", "topk k too large")
T.close(x:index_select(2, graft.tensor({4, 1, 1, 3}, "i64")), want.isel, "index_select with an i64 tensor")
T.close(x:index_select(2, {4, 1, 1, 3}), want.isel, "index_select with a Lua array")
T.close(x:index_select(-2, {4, 1, 1, 3}), want.isel, "index_select with a negative dim")
T.error_like(function() x:index_select(2, {5}) end, "index_select: index 5 is out of range for dim 2 of size 4", "index_select bounds")
T.error_like(function() x:index_select(2, {0}) end, "index_select: index 0 is out of range", "positions are 1-based")
T.close(x:gather(3, gidx + 1), want.gather, "gather along the last dim")
T.close(x:gather(-1, gidx + 1), want.gather, "gather with a negative dim")
T.error_like(function() x:gather(3, graft.full({3, 4, 1}, 6, "i64")) end,
             "gather: index 6 is out of range for dim 3 of size 5", "gather bounds")
T.error_like(function() x:gather(3, graft.ones({3, 4}, "i64")) end, "gather: index {3,4} does not fit input {3,4,5}",
             "gather needs the input's rank")
T.error_like(function() x:gather(3, graft.ones{3, 4, 1}) end, "gather: indices must be i64, not f32", "gather needs i64")
T.done()
