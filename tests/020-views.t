#!/usr/bin/env lua5.4
-- tests/020-views.t — views share storage; views of views; strides; reshape rules
local T, graft = require "tap", require "graft"

local base = graft.arange(24):view(2, 3, 4)
T.is_deeply(base:stride(), {12, 4, 1}, "contiguous strides")

local t = base:transpose(1, 3)
T.is_deeply(t:shape(), {4, 3, 2}, "transpose shape")
T.is_deeply(t:stride(), {1, 4, 12}, "transpose swaps strides")
T.ok(t:shares_storage(base) and not t:is_contiguous(), "transpose is a non-contiguous view")
T.is(t:get(4, 3, 2), base:get(2, 3, 4), "transpose reads the same element")

local p = base:permute{3, 1, 2}
T.is_deeply(p:shape(), {4, 2, 3}, "permute shape")
T.is(p:get(2, 1, 3), base:get(1, 3, 2), "permute reads the same element")
T.error_like(function() base:permute{1, 1, 2} end, "permute: dims must be a permutation of 1..3", "permute checks its argument")

local n = base:narrow(2, 2, 2)
T.is_deeply(n:shape(), {2, 2, 4}, "narrow shape")
T.is(n:get(1, 1, 1), base:get(1, 2, 1), "narrow starts at its 1-based start")
T.error_like(function() base:narrow(2, 3, 2) end, "narrow: start 3 and length 2 do not fit in dim 2 of size 3", "narrow bounds")

local s = base:select(1, 2)
T.is_deeply(s:shape(), {3, 4}, "select drops the dim")
T.is(s:get(1, 1), 12, "select picks the 1-based position")
T.error_like(function() base:select(1, 3) end, "select: index 3 is out of range for dim 1 of size 2", "select bounds")

-- views of views write through to the base
local vv = base:transpose(1, 2):narrow(1, 2, 1):select(3, 4)
T.is_deeply(vv:shape(), {1, 2}, "a view of a view of a view")
vv:fill_(-1)
T.is(base:get(1, 2, 4), -1, "writing a view of views reaches the base (1)")
T.is(base:get(2, 2, 4), -1, "writing a view of views reaches the base (2)")
T.is(base:get(2, 2, 3), 18, "and nothing else")

local u = base:unsqueeze(2)
T.is_deeply(u:shape(), {2, 1, 3, 4}, "unsqueeze")
T.is_deeply(base:unsqueeze(-1):shape(), {2, 3, 4, 1}, "unsqueeze(-1) appends")
T.is_deeply(u:squeeze():shape(), {2, 3, 4}, "squeeze all")
T.is_deeply(graft.zeros{1, 2, 1}:squeeze(1):shape(), {2, 1}, "squeeze one dim")
T.is_deeply(graft.zeros{1, 2, 1}:squeeze(2):shape(), {1, 2, 1}, "squeeze of a dim that is not 1 keeps it")

T.is_deeply(base:view(6, -1):shape(), {6, 4}, "view infers -1")
T.is_deeply(base:view{-1}:shape(), {24}, "view to 1-D")
T.error_like(function() base:view(5, -1) end, "view: shape {5,-1} is invalid for 24 elements", "view with no exact -1")
T.error_like(function() base:view(-1, -1) end, "only one dim can be -1", "two -1s")
T.error_like(function() base:transpose(1, 2):view(24) end, "view: size {24} is not compatible with the strides", "view of a non-contiguous tensor")
-- a view that is legal on a non-contiguous tensor: splitting a dim keeps strides
T.is_deeply(base:transpose(1, 2):view(3, 2, 2, 2):stride(), {4, 12, 2, 1}, "view splits a dim of a transposed tensor")
local r = base:transpose(1, 2):reshape(24)
T.ok(not r:shares_storage(base), "reshape copies when a view is impossible")
T.is(r:get(5), base:get(2, 1, 1), "reshape copies in logical order")
T.ok(base:reshape(4, 6):shares_storage(base), "reshape is a view when it can be")

local e = graft.tensor{{1}, {2}}:expand(2, 3)
T.is_deeply(e:stride(), {1, 0}, "expand makes stride 0")
T.is_deeply(e:totable(), {{1, 1, 1}, {2, 2, 2}}, "expand repeats")
T.is_deeply(graft.tensor{1, 2}:expand(3, -1):shape(), {3, 2}, "expand with -1 keeps a dim")
T.error_like(function() graft.tensor{1, 2}:expand(3) end, "expand: cannot expand {2} to {3}", "expand checks sizes")

T.is_deeply(base:flatten():shape(), {24}, "flatten all")
T.is_deeply(base:flatten(2):shape(), {2, 12}, "flatten from dim 2")
T.is_deeply(base:flatten(1, 2):shape(), {6, 4}, "flatten dims 1..2")
T.is_deeply(graft.zeros{2, 5}:t():shape(), {5, 2}, "t() transposes a matrix")
T.error_like(function() base:t() end, "t: expects a tensor with at most 2 dims, got 3", "t() refuses 3-D")

-- ops on non-contiguous inputs
local x = graft.arange(6):view(2, 3):to("f32")
local xt = x:t()
T.close(xt + 1, {{1, 4}, {2, 5}, {3, 6}}, "add on a transposed view")
T.close(xt:contiguous(), {{0, 3}, {1, 4}, {2, 5}}, "contiguous copies in logical order")
T.ok(xt:contiguous():is_contiguous(), "and is contiguous")
T.close(x:narrow(2, 2, 2):sum(1), {5, 7}, "reduce a narrowed view")
T.close(x:select(2, 3) * x:select(2, 1), {0, 15}, "multiply two strided views")
local dst = graft.zeros{3, 2}
dst:copy_(x:t())
T.close(dst, {{0, 3}, {1, 4}, {2, 5}}, "copy_ from a transposed view")
local col = graft.zeros{2, 3}
col:narrow(2, 2, 1):copy_(graft.tensor{{7}, {8}})
T.close(col, {{0, 7, 0}, {0, 8, 0}}, "copy_ into a strided view")
T.error_like(function() graft.zeros{2, 2}:copy_(graft.zeros{3}) end, "copy_: source {3} does not broadcast to {2,2}", "copy_ checks shapes")
T.done()
