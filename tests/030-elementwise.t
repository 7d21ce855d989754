#!/usr/bin/env lua5.4
-- tests/030-elementwise.t — arithmetic, comparisons, math functions and where against
-- PyTorch: a grid of broadcast shapes (0- and 1-size dims), non-contiguous operands, dtypes.
local T, graft, oracle = require "tap", require "graft", require "oracle"
graft.manual_seed(T.seed())

-- Shapes that broadcast, as {a, b}.
local shapes = {
  {{}, {}}, {{3}, {}}, {{}, {4}}, {{3}, {3}}, {{2, 3}, {3}}, {{2, 1}, {1, 3}}, {{2, 3}, {2, 1}},
  {{4, 1, 3}, {2, 1}}, {{1, 1, 1}, {5}}, {{0}, {1}}, {{2, 0}, {2, 1}}, {{0, 3}, {3}},
  {{3, 1, 2, 1}, {1, 4, 1, 5}}, {{1}, {7}},
}

local inputs, cases = {}, {}
for i, s in ipairs(shapes) do
  local a, b = graft.randn(s[1]), graft.randn(s[2]) + 0.5
  inputs["a" .. i], inputs["b" .. i] = a, b
  cases[#cases + 1] = {name = "f32 " .. T.render(s[1]) .. " " .. T.render(s[2]), a = a, b = b, key = tostring(i)}
end
-- non-contiguous operands: a transposed matrix and a strided column
local m = graft.randn{3, 4}
inputs.a_nc, inputs.b_nc = m:t():contiguous(), m:narrow(2, 2, 1):contiguous()
cases[#cases + 1] = {name = "transposed and narrowed views", a = m:t(), b = m:narrow(2, 2, 1):t(), key = "_nc"}
inputs.b_nc = m:narrow(2, 2, 1):t():contiguous()
-- integer and mixed dtypes
local ia, ib = graft.randint(-9, 10, {3, 4}), graft.randint(1, 6, {4})
inputs.a_i, inputs.b_i = ia, ib
cases[#cases + 1] = {name = "i64 with i64", a = ia, b = ib, key = "_i", int = true}
local ua, ub = graft.randint(0, 256, {5}):to("u8"), graft.randint(0, 256, {5}):to("u8")
inputs.a_u, inputs.b_u = ua, ub
cases[#cases + 1] = {name = "u8 with u8 (wraps)", a = ua, b = ub, key = "_u", int = true, unsigned = true}
local fa, lb = graft.randn{2, 3}, graft.randint(-3, 4, {3})
inputs.a_m, inputs.b_m = fa, lb
cases[#cases + 1] = {name = "f32 with i64 promotes to f32", a = fa, b = lb, key = "_m"}

local binops = {"add", "sub", "mul", "div", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge"}
local want = oracle.run([[
ops = ["add", "sub", "mul", "div", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge"]
for k in list(inp):
    if not k.startswith("a"):
        continue
    key = k[1:]
    a, b = inp["a" + key], inp["b" + key]
    for op in ops:
        r = getattr(torch, op)(a, b)
        out[op + key] = r.to(torch.uint8) if r.dtype == torch.bool else r
    if a.dtype == torch.float32:
        out["pow" + key] = torch.pow(a.abs(), b)
    elif a.dtype == torch.int64:
        out["pow" + key] = torch.pow(a, b.abs())
]], inputs)

for _, c in ipairs(cases) do
  for _, op in ipairs(binops) do
    local got = c.a[op](c.a, c.b)
    T.close(got, want[op .. c.key], op .. ": " .. c.name, 1e-6, 1e-6)
  end
  if not c.unsigned then
    local got = c.int and c.a:pow(c.b:abs()) or c.a:abs():pow(c.b)
    T.close(got, want["pow" .. c.key], "pow: " .. c.name, 1e-5, 1e-6)
  end
end
T.is(want.div_i:dtype(), "f32", "oracle agrees: integer division is true division")
T.is((ia / ib):dtype(), "f32", "integer / integer gives f32")
T.is((ua + ub):dtype(), "u8", "u8 + u8 stays u8")
T.is((ua + ia:narrow(2, 1, 1):view(-1):narrow(1, 1, 1)):dtype(), "i64", "u8 + i64 promotes to i64")

-- operators and scalars on either side
local x = graft.tensor{1, 2, 4}
T.close(x + 1, {2, 3, 5}, "tensor + number")
T.close(1 - x, {0, -1, -3}, "number - tensor")
T.close(x * x, {1, 4, 16}, "tensor * tensor")
T.close(2 / x, {2, 1, 0.5}, "number / tensor")
T.close(-x, {-1, -2, -4}, "unary minus")
T.close(x ^ 2, {1, 4, 16}, "tensor ^ number")
T.close(2 ^ x, {2, 4, 16}, "number ^ tensor")
local iv = graft.tensor({1, 2, 3}, "i64")
T.is((iv + 1):dtype(), "i64", "i64 + integer stays i64")
T.is((iv + 0.5):dtype(), "f32", "i64 + float gives f32")
T.is((iv * 2):get(3), 6, "integer arithmetic is exact")
T.is((graft.tensor({2^62}, "i64") * 4):get(1), 0, "i64 overflow wraps as in PyTorch")
T.error_like(function() return iv:pow(graft.tensor({-1}, "i64")) end,
             "pow: integers to negative integer powers are not allowed", "negative integer powers are refused")
T.error_like(function() return graft.zeros{2, 3} + graft.zeros{4} end,
             "add: shapes {2,3} and {4} cannot be broadcast (dim 2: 3 vs 4)", "broadcast error names both shapes")
T.error_like(function() return graft.zeros{2} + "x" end, "expected a tensor or a number", "strings are not operands")

-- math functions against torch, on special values
local special = graft.tensor{-3.5, -2.5, -1, -0.5, 0, 0.5, 1, 1.5, 2.5, 3.5, 30, -30, 100, -100,
                             math.huge, -math.huge, 0 / 0}
local ints = graft.tensor({-7, -1, 0, 1, 2, 9}, "i64")
local unops = {"neg", "abs", "sign", "relu", "exp", "log", "sqrt", "rsqrt", "sigmoid", "tanh",
               "floor", "ceil", "round", "reciprocal"}
local uw = oracle.run([[
x, i = inp["x"], inp["i"]
for op in ["neg", "abs", "sign", "relu", "exp", "log", "sqrt", "rsqrt", "sigmoid", "tanh",
           "floor", "ceil", "round", "reciprocal"]:
    out[op] = getattr(torch, op)(x)
for op in ["neg", "abs", "sign", "relu", "floor", "ceil", "round"]:
    out["i" + op] = getattr(torch, op)(i)
out["iexp"] = torch.exp(i)
out["clamp"] = torch.clamp(x, -1, 2)
out["clamp_lo"] = torch.clamp(x, min=0.5)
out["iclamp"] = torch.clamp(i, -2, 3)
out["pow3"] = torch.pow(x, 3)
out["powh"] = torch.pow(x, 0.5)
out["ipow"] = torch.pow(i, 2)
out["where"] = torch.where(x > 0, x, torch.tensor(-1.0))
out["where_b"] = torch.where(inp["m"] != 0, inp["p"], inp["q"])
]], {x = special, i = ints, m = graft.tensor({{1, 0, 1}}, "u8"), p = graft.tensor{{1}, {2}}, q = graft.tensor{5, 6, 7}})
for _, op in ipairs(unops) do
  T.close(special[op](special), uw[op], op .. " on special values", 1e-6, 1e-7)
end
for _, op in ipairs {"neg", "abs", "sign", "relu", "floor", "ceil", "round"} do
  local got = ints[op](ints)
  T.is(got:dtype(), "i64", op .. " keeps i64")
  T.equal(got, uw["i" .. op], op .. " on i64")
end
T.close(ints:exp(), uw.iexp, "exp of i64 computes in f32")
T.close(special:clamp(-1, 2), uw.clamp, "clamp(min, max)")
T.close(special:clamp{min = 0.5}, uw.clamp_lo, "clamp{min = ...}")
T.equal(ints:clamp(-2, 3), uw.iclamp, "clamp on i64")
T.close(special:pow(3), uw.pow3, "pow(3)", 1e-6)
T.close(special:pow(0.5), uw.powh, "pow(0.5)", 1e-6)
T.equal(ints:pow(2), uw.ipow, "pow on i64 stays exact")
T.close(graft.where(special:gt(0), special, -1), uw.where, "where with a number")
T.close(graft.where(graft.tensor({{1, 0, 1}}, "u8"), graft.tensor{{1}, {2}}, graft.tensor{5, 6, 7}), uw.where_b,
        "where broadcasts mask and both branches")

-- in place
local y = graft.tensor{1, 2, 3}
y:add_(graft.tensor{10, 10, 10}):mul_(2)
T.close(y, {22, 24, 26}, "add_ then mul_ chain and write in place")
y:add_(graft.tensor{1, 1, 1}, -2)
T.close(y, {20, 22, 24}, "add_(b, alpha)")
y:sub_(1):div_(2)
T.close(y, {9.5, 10.5, 11.5}, "sub_ and div_ with numbers")
y:zero_()
T.close(y, {0, 0, 0}, "zero_")
y:fill_(3)
T.close(y, {3, 3, 3}, "fill_")
local row = graft.zeros{2, 3}
row:add_(graft.tensor{1, 2, 3})
T.close(row, {{1, 2, 3}, {1, 2, 3}}, "add_ broadcasts the other operand")
T.error_like(function() graft.zeros{3}:add_(graft.zeros{2, 3}) end,
             "add_: the result shape {2,3} does not match the output {3}", "in-place ops cannot grow the tensor")
-- a number operand without alpha (1 hid a squared operand: add_(2) added 4)
T.close(graft.zeros{3}:add_(2), {2, 2, 2}, "add_(number)")
T.close(graft.tensor{1, 2}:sub_(0.5), {0.5, 1.5}, "sub_(number)")
T.close(graft.zeros{2}:add_(2, 3), {6, 6}, "add_(number, alpha)")
T.is(graft.zeros({1}, "i64"):add_(7):item(), 7, "add_(number) on i64")
T.error_like(function() graft.zeros({3}, "i64"):div_(2) end,
             "div_: result type f32 cannot be stored in a i64 tensor", "in-place ops keep the dtype")
T.done()
