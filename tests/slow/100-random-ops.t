#!/usr/bin/env lua5.4
-- tests/slow/100-random-ops.t — randomized differential testing against PyTorch: random
-- shapes that broadcast, random strided views, random ops, in rounds of 150 cases until
-- SLOW_BUDGET seconds (default: 8 rounds) are used. Any mismatch prints the case and seed.
local T, graft, oracle = require "tap", require "graft", require "oracle"
local seed = T.seed()
graft.manual_seed(seed)
math.randomseed(seed)
local budget = tonumber(os.getenv("SLOW_BUDGET") or "")
local rounds = budget and math.huge or 8
local started = os.time()

local binops = {"add", "sub", "mul", "div", "maximum", "minimum", "lt", "ge", "eq"}
local unops = {"exp", "tanh", "sigmoid", "abs", "relu", "floor", "neg", "sqrt"}
local reds = {"sum", "mean", "amax", "amin", "prod"}

-- A random tensor of the given shape, possibly a non-contiguous view of a larger one.
local function random_view(shape)
  local r = math.random(3)
  if r == 1 or #shape < 2 then return graft.randn(shape) end
  if r == 2 then   -- a transposed tensor of the transposed shape
    local s = {table.unpack(shape)}
    s[1], s[#s] = s[#s], s[1]
    return graft.randn(s):transpose(1, #s)
  end
  local s = {table.unpack(shape)}   -- a narrowed slice of a wider tensor
  s[#s] = s[#s] + 2
  return graft.randn(s):narrow(#s, 2, shape[#shape])
end

local function random_shape(max_dims)
  local s = {}
  for i = 1, math.random(0, max_dims) do s[i] = math.random(0, 4) == 0 and 1 or math.random(1, 5) end
  return s
end

-- A shape b that broadcasts with a: drop leading dims, set some dims to 1.
local function broadcast_partner(a)
  local s = {}
  local drop = math.random(0, #a)
  for i = drop + 1, #a do s[#s + 1] = math.random(3) == 1 and 1 or a[i] end
  return s
end

local round, total, failures = 0, 0, 0
while round < rounds and (not budget or os.time() - started < budget - 30) do
  round = round + 1
  local cases, inputs, code = {}, {}, {"R = {}"}
  for i = 1, 150 do
    local kind = math.random(4)
    local c = {kind = kind}
    if kind == 1 then
      c.op = binops[math.random(#binops)]
      local sa = random_shape(4)
      c.a, c.b = random_view(sa), random_view(broadcast_partner(sa))
      if math.random(2) == 1 then c.a, c.b = c.b, c.a end
      code[#code + 1] = ("r = torch.%s(inp['a%d'], inp['b%d'])"):format(c.op, i, i)
    elseif kind == 2 then
      c.op = unops[math.random(#unops)]
      c.a = random_view(random_shape(4))
      code[#code + 1] = ("r = torch.%s(inp['a%d'])"):format(c.op, i)
    elseif kind == 3 then
      c.op = reds[math.random(#reds)]
      local s = random_shape(4)
      if #s == 0 then s = {3} end
      for d = 1, #s do if s[d] == 0 then s[d] = 1 end end
      c.a, c.dim, c.keep = random_view(s), math.random(#s), math.random(2) == 1
      code[#code + 1] = ("r = torch.%s(inp['a%d'], %d, keepdim=%s)"):format(
        c.op, i, c.dim - 1, c.keep and "True" or "False")
    else
      local n, k, m = math.random(1, 40), math.random(1, 40), math.random(1, 40)
      local batch = math.random(2) == 1 and {math.random(1, 3)} or {}
      local sa, sb = {table.unpack(batch)}, {table.unpack(batch)}
      sa[#sa + 1], sa[#sa + 2] = n, k
      sb[#sb + 1], sb[#sb + 2] = k, m
      c.op, c.a, c.b = "matmul", random_view(sa), random_view(sb)
      code[#code + 1] = ("r = torch.matmul(inp['a%d'], inp['b%d'])"):format(i, i)
    end
    code[#code + 1] = ("out['r%d'] = r.to(torch.uint8) if r.dtype == torch.bool else r"):format(i)
    inputs["a" .. i] = c.a
    if c.b then inputs["b" .. i] = c.b end
    cases[i] = c
  end
  local want = oracle.run(table.concat(code, "\n"), inputs)
  for i, c in ipairs(cases) do
    local got
    if c.kind == 1 then got = c.a[c.op](c.a, c.b)
    elseif c.kind == 2 then got = c.a[c.op](c.a)
    elseif c.kind == 3 then
      local op = c.op == "amax" and "max" or c.op == "amin" and "min" or c.op
      got = c.a[op](c.a, c.dim, c.keep)
    else got = c.a:matmul(c.b) end
    total = total + 1
    local tol = (c.kind == 4 or c.op == "prod" or c.op == "sum") and 1e-4 or 1e-5
    local ok = T.close(got, want["r" .. i], ("round %d case %d: %s %s%s"):format(round, i, c.op,
      T.render(c.a:shape()), c.b and (" " .. T.render(c.b:shape())) or ""), tol, tol)
    if not ok then failures = failures + 1 end
  end
end
T.diag(("%d random cases in %d rounds, %d failures, %d s"):format(total, round, failures, os.time() - started))
T.done()
