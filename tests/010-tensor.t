#!/usr/bin/env lua5.4
-- tests/010-tensor.t — constructors, shape queries, element access, tables, dtypes
local T, graft = require "tap", require "graft"

local a = graft.tensor{{1, 2, 3}, {4, 5, 6}}
T.is_deeply(a:shape(), {2, 3}, "tensor: shape from a nested table")
T.is(a:dim(), 2, "dim")
T.is(a:size(1), 2, "size(1)")
T.is(a:size(-1), 3, "size(-1) counts from the end")
T.is_deeply(a:size(), {2, 3}, "size() is the shape")
T.is(a:numel(), 6, "numel")
T.is(a:dtype(), "f32", "default dtype is f32")
T.is(#a, 2, "#t is the first dim")
T.is_deeply(a:totable(), {{1, 2, 3}, {4, 5, 6}}, "totable round-trips")
T.is(a:get(2, 3), 6.0, "get is 1-based")
T.is(a:get(-1, -3), 4.0, "get with negative indices")
a:set(1, 2, 20)
T.is(a:get(1, 2), 20.0, "set writes one element")
T.error_like(function() a:get(3, 1) end, "get: index 3 is out of range for dim 1 of size 2", "get out of range")
T.error_like(function() a:get(1) end, "get: expected 2 indices, got 1", "get needs one index per dim")

local s = graft.tensor(3.5)
T.is(s:dim(), 0, "a number makes a 0-dim tensor")
T.is(s:item(), 3.5, "item of a 0-dim tensor")
T.is_deeply(s:shape(), {}, "0-dim shape is empty")
T.error_like(function() return graft.tensor{1, 2}:item() end, "item: the tensor {2} has 2 elements, not one", "item needs one element")

local i = graft.tensor({{1, -2}, {3, 4}}, "i64")
T.is(i:dtype(), "i64", "explicit dtype")
T.is(math.type(i:get(1, 2)), "integer", "i64 elements come back as Lua integers")
T.is(graft.tensor({true, false, true}, "u8"):totable()[3], 1, "booleans become 1 and 0")
T.is(graft.tensor(2^62 + 1, "i64"):item(), 2^62 + 1 | 0, "i64 holds integers beyond 2^53 exactly")
T.error_like(function() graft.tensor{{1, 2}, {3}} end, "ragged nested table", "ragged tables are refused")
T.error_like(function() graft.tensor{1, "x"} end, "elements must be numbers or booleans", "strings are refused")
T.error_like(function() graft.tensor({1}, "f16") end, 'unknown dtype "f16"', "unknown dtypes are refused")

T.is_deeply(graft.zeros{2, 2}:totable(), {{0, 0}, {0, 0}}, "zeros")
T.is_deeply(graft.ones(2, 3):shape(), {2, 3}, "sizes may be given as arguments")
T.is_deeply(graft.ones({3}, "u8"):totable(), {1, 1, 1}, "ones with a dtype")
T.is_deeply(graft.full({2}, 7, "i64"):totable(), {7, 7}, "full")
T.is(graft.full({1}, 2^62 + 3, "i64"):get(1), 2^62 + 3 | 0, "full writes integers exactly")
T.is_deeply(graft.empty{0, 3}:shape(), {0, 3}, "empty with a zero-size dim")
T.is_deeply(graft.zeros{}:shape(), {}, "zeros{} is 0-dim")

local r = graft.arange(5)
T.is_deeply(r:totable(), {0, 1, 2, 3, 4}, "arange(5) is 0..4, as PyTorch")
T.is(r:dtype(), "i64", "integer arange is i64")
T.is_deeply(graft.arange(2, 8, 3):totable(), {2, 5}, "arange with a step")
T.is_deeply(graft.arange(5, 0, -2):totable(), {5, 3, 1}, "arange with a negative step")
T.is_deeply(graft.arange(0, 1, 0.25):totable(), {0, 0.25, 0.5, 0.75}, "float arange is f32")
T.is(graft.arange(0, 1, 0.25):dtype(), "f32", "float arange dtype")
T.is(graft.arange(3, "f32"):dtype(), "f32", "arange with an explicit dtype")
T.error_like(function() graft.arange(0, 1, 0) end, "arange: the step must be nonzero", "zero step refused")

T.error_like(function() graft.zeros{-1} end, "zeros: invalid size {-1}", "negative sizes are refused")
T.error_like(function() graft.zeros{2^40, 2^40} end, "zeros: invalid size", "sizes whose product overflows are refused")
T.error_like(function() graft.zeros{1, 2, 3, 4, 5, 6, 7, 8, 9} end, "at most 8 dims", "too many dims")
T.error_like(function() graft.zeros{1.5} end, "shape entries must be integers", "fractional sizes are refused")

local c = a:clone()
c:set(1, 1, 100)
T.is(a:get(1, 1), 1.0, "clone does not share storage")
T.ok(not c:shares_storage(a), "clone has its own storage")
T.ok(a:contiguous():shares_storage(a), "contiguous() of a contiguous tensor is itself")
T.ok(a:to("f32") == a, "to() the same dtype returns the tensor")

-- Lua fields on a tensor live with that tensor.
local f = graft.zeros{1}
f.tag = "x"
T.is(f.tag, "x", "tensors carry Lua fields")
T.is(graft.zeros{1}.tag, nil, "fields are per tensor")
T.is(f.shape, graft.Tensor.shape, "methods are found before fields")
T.ok(graft.is_tensor(f) and not graft.is_tensor({}), "is_tensor")

-- printing
local text = tostring(graft.tensor{{1, 2}, {3, 4}})
T.ok(text:find("{{1.0000, 2.0000},", 1, true) and text:find("f32, {2, 2}", 1, true), "tostring shows values, dtype and shape")
T.ok(tostring(graft.arange(100000)):find("...", 1, true), "tostring elides large tensors")

-- close: releases storage now; the tensor stays valid but empty
do
  local big <close> = graft.zeros{1000}
  T.is(big:numel(), 1000, "a <close> tensor is usable in its scope")
end
T.done()
