#!/usr/bin/env lua5.4
-- tests/065-integers.t — Lua numbers written into integer tensors: exact (never through
-- f32), a whole float as the value it holds, a fraction an error naming the function and
-- the value (API.md, "Options and errors"), and comparisons of integer tensors with
-- numbers decided on the integers themselves.
local T, graft = require "tap", require "graft"

local big = 1 << 60   -- a Lua integer far beyond 2^53

-- tensor(): whole floats above 2^24 went through f32 and lost their low bits
T.is(graft.tensor({16777217.0}, "i64"):item(), 16777217, "tensor{16777217.0} i64 is exact")
T.is(graft.tensor({2 ^ 40 + 7}, "i64"):item(), (1 << 40) + 7, "tensor{2^40 + 7} i64 is exact")
T.is(graft.tensor({2 ^ 53}, "i64"):item(), 1 << 53, "2^53 as a float")
T.is(graft.tensor({2 ^ 53 + 2}, "i64"):item(), (1 << 53) + 2, "2^53 + 2 as a float")
T.is(graft.tensor({2.0 ^ 62}, "i64"):item(), 1 << 62, "a float beyond 2^53 is the integer it holds")
T.is(graft.tensor({-2.0 ^ 63}, "i64"):item(), math.mininteger, "-2^63 as a float")
T.is(graft.tensor({big + 1, math.maxinteger, math.mininteger}, "i64"):totable()[1], big + 1, "Lua integers exactly")
T.is_deeply(graft.tensor({{3.0, -4.0}, {9007199254740991.0, 0.0}}, "i64"):totable(),
  {{3, -4}, {9007199254740991, 0}}, "nested whole floats")
T.is(graft.tensor(16777219.0, "i64"):item(), 16777219, "a 0-dim tensor from a float")

-- a fraction where an integer is needed is an error naming the function and the value
T.error_like(function() graft.tensor({1.5}, "i64") end, "tensor: 1.5 is not an integer", "tensor{1.5} i64 is an error")
T.error_like(function() graft.tensor({{1, 2}, {3, 0.25}}, "i64") end, "0.25 is not an integer", "a nested fraction")
T.error_like(function() graft.tensor({2.5}, "u8") end, "tensor: 2.5 is not an integer", "u8 needs integers too")
-- u8 takes what PyTorch's tensor/full/fill_ take: -255..255, negatives wrapping; 300 overflows
T.error_like(function() graft.tensor({300}, "u8") end, "tensor: 300 is outside the range of a u8 element", "tensor: 300 into u8 is an error")
T.error_like(function() graft.full({1}, 300, "u8") end, "outside the range of a u8 element", "full: 300 into u8 is an error")
T.error_like(function() graft.zeros({1}, "u8"):fill_(256) end, "outside the range of a u8 element", "fill_: 256 into u8 is an error")
T.error_like(function() graft.zeros({1}, "u8"):set(1, -256) end, "outside the range of a u8 element", "set: -256 into u8 is an error")
T.is(graft.tensor({-1}, "u8"):item(), 255, "tensor: -1 into u8 wraps to 255, as PyTorch's")
T.is((graft.zeros({1}, "u8") + 300):item(), 44, "u8 + 300 wraps, as PyTorch's arithmetic")
T.error_like(function() graft.tensor({0 / 0}, "i64") end, "is not an integer", "NaN into i64")
T.error_like(function() graft.tensor({math.huge}, "i64") end, "outside the range of an i64", "inf into i64")
T.error_like(function() graft.tensor({2 ^ 63}, "i64") end, "outside the range of an i64", "2^63 into i64")

-- full, fill_, set
T.is(graft.full({2}, 16777217.0, "i64"):get(2), 16777217, "full with a whole float")
T.is(graft.full({2}, big + 1, "i64"):get(1), big + 1, "full with an integer beyond 2^53")
T.error_like(function() graft.full({2}, 0.5, "i64") end, "full: 0.5 is not an integer", "full with a fraction")
local t = graft.zeros({2, 3}, "i64")
t:fill_(big + 3)
T.is_deeply(t:totable(), {{big + 3, big + 3, big + 3}, {big + 3, big + 3, big + 3}}, "fill_ beyond 2^53")
local col = graft.zeros({3, 2}, "i64"):transpose(1, 2)
col:fill_(2 ^ 40 + 1)
T.is(col:get(2, 3), (1 << 40) + 1, "fill_ of a strided view with a whole float")
T.error_like(function() t:fill_(0.5) end, "fill_: 0.5 is not an integer", "fill_ with a fraction")
t:set(1, 2, 16777217.0)
T.is(t:get(1, 2), 16777217, "set with a whole float")
t:set(2, 1, big - 1)
T.is(t:get(2, 1), big - 1, "set with an integer beyond 2^53")
T.error_like(function() t:set(1, 1, 3.25) end, "set: 3.25 is not an integer", "set with a fraction")

-- arange counts and steps in integers
local r = graft.arange(big, big + 3)
T.is_deeply(r:totable(), {big, big + 1, big + 2}, "arange beyond 2^53")
T.is_deeply(graft.arange(big + 2, big - 1, -1):totable(), {big + 2, big + 1, big}, "arange down")
T.is_deeply(graft.arange(math.mininteger, math.mininteger + 2):totable(), {math.mininteger, math.mininteger + 1},
  "arange from the smallest integer")
T.is_deeply(graft.arange(0.0, 3.0, "i64"):totable(), {0, 1, 2}, "arange of whole floats as i64")
T.is_deeply(graft.arange(16777216.0, 16777219.0, "i64"):totable(), {16777216, 16777217, 16777218},
  "arange of whole floats above 2^24")
T.error_like(function() graft.arange(0, 3, 0.5, "i64") end, "arange: 0.5 is not an integer", "arange with a fractional step")
T.is_deeply(graft.arange(0, 10, 3):totable(), {0, 3, 6, 9}, "arange(0, 10, 3)")
T.is_deeply(graft.arange(10, 0, -3):totable(), {10, 7, 4, 1}, "arange(10, 0, -3)")

-- scalar arithmetic with integer tensors stays exact
local x = graft.tensor({big, 16777217}, "i64")
T.is_deeply((x + 1):totable(), {big + 1, 16777218}, "i64 + integer")
T.is((x * 2):dtype(), "i64", "i64 * integer stays i64")
T.is_deeply((x - big):totable(), {0, 16777217 - big}, "i64 - a large integer")

-- comparisons with numbers are decided on the integers
local c = graft.tensor({16777217, big + 1, -5}, "i64")
T.is_deeply(c:eq(16777216.0):totable(), {0, 0, 0}, "16777217 == 16777216.0 is false")
T.is_deeply(c:eq(16777217.0):totable(), {1, 0, 0}, "16777217 == 16777217.0")
T.is_deeply(c:eq(big + 1):totable(), {0, 1, 0}, "== an integer beyond 2^53")
T.is_deeply(c:ne(big):totable(), {1, 1, 1}, "~= an integer beyond 2^53")
T.is_deeply(c:lt(16777217.5):totable(), {1, 0, 1}, "< a fraction")
T.is_deeply(c:le(16777216.5):totable(), {0, 0, 1}, "<= a fraction")
T.is_deeply(c:gt(16777216.5):totable(), {1, 1, 0}, "> a fraction")
T.is_deeply(c:ge(-5.5):totable(), {1, 1, 1}, ">= a negative fraction")
T.is_deeply(c:eq(-5.5):totable(), {0, 0, 0}, "== a fraction is false everywhere")
T.is_deeply(c:ne(-5.5):totable(), {1, 1, 1}, "~= a fraction is true everywhere")
T.is_deeply(c:lt(1e30):totable(), {1, 1, 1}, "< a number beyond int64")
T.is_deeply(c:gt(-1e30):totable(), {1, 1, 1}, "> a number below int64")
T.is_deeply(c:ge(0 / 0):totable(), {0, 0, 0}, ">= NaN is false")
T.is_deeply(c:ne(0 / 0):totable(), {1, 1, 1}, "~= NaN is true")
T.is_deeply(graft.lt(16777216.5, c):totable(), {1, 1, 0},
  "a number on the left")
local u = graft.tensor({5, 200}, "u8")
T.is_deeply(u:lt(300):totable(), {1, 1}, "u8 < 300 (not 300 wrapped to 44)")
T.is_deeply(u:gt(-1):totable(), {1, 1}, "u8 > -1")
T.is_deeply(u:eq(200.0):totable(), {0, 1}, "u8 == a whole float")
T.is_deeply(u:le(199.5):totable(), {1, 0}, "u8 <= a fraction")
T.done()
