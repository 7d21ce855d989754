-- Gradients of the tensor methods: each differentiable method of graft.Tensor is wrapped so
-- that it records itself on the autograd tape; the C method does the work either way.
-- Broadcasting is undone in backward by summing a gradient down to its input's shape.
local core = require "graft.core"
local A = require "graft.autograd"

local T = core.Tensor
local mt = getmetatable(core.empty(0))
local raw = {}
for k, v in pairs(T) do raw[k] = v end

local record, should_record = A.record, A.should_record

local function shape_of(x) return type(x) == "userdata" and raw.shape(x) or nil end

--- Sums g down to `shape` (the inverse of broadcasting g's input up to g's shape).
local function sum_to(g, shape)
  local gs = raw.shape(g)
  local lead, dims = #gs - #shape, {}
  for i = 1, #gs do
    if i <= lead or (shape[i - lead] == 1 and gs[i] ~= 1) then dims[#dims + 1] = i end
  end
  if #dims == 0 and lead == 0 then return g end
  local r = #dims > 0 and raw.sum(g, dims, true) or g
  return raw.reshape(r, shape)
end
A.sum_to = sum_to

-- Wraps raw[name] as a differentiable function of its first `n` arguments.
-- grad(ctx, g, needs) returns their gradients; save(args..., out) builds ctx.
local function differentiable(name, n, save, grad)
  local f = raw[name]
  local wrapped = function(...)
    local out = f(...)   -- the arguments exactly as given: C functions count them
    local a, b, c = ...
    if should_record(a, n >= 2 and b or nil, n >= 3 and c or nil) then
      record(out, name, grad, {a, b, c}, save(out, ...), n)
    end
    return out
  end
  T[name] = wrapped
  return wrapped
end

-- ---- elementwise, two operands ----------------------------------------------------------

-- Each op keeps only what its gradient reads: whatever it keeps stays alive until backward.
local function save_ab(_, a, b) return {a = a, b = b, sa = shape_of(a), sb = shape_of(b)} end
local function save_shapes(_, a, b) return {sa = shape_of(a), sb = shape_of(b)} end

differentiable("add", 2, save_shapes, function(c, g, needs)
  return needs[1] and sum_to(g, c.sa), needs[2] and sum_to(g, c.sb)
end)
differentiable("sub", 2, save_shapes, function(c, g, needs)
  return needs[1] and sum_to(g, c.sa), needs[2] and sum_to(-g, c.sb)
end)
differentiable("mul", 2, save_ab, function(c, g, needs)
  return needs[1] and sum_to(g * c.b, c.sa), needs[2] and sum_to(g * c.a, c.sb)
end)
differentiable("div", 2, save_ab, function(c, g, needs)
  return needs[1] and sum_to(g / c.b, c.sa), needs[2] and sum_to(-g * c.a / (c.b * c.b), c.sb)
end)

-- maximum/minimum: ties split the gradient in half, as PyTorch does.
local function extreme_grad(first_wins)
  return function(c, g, needs)
    local half = raw.eq(c.a, c.b)
    local share = g * (1 - half * 0.5)
    local ga, gb
    if needs[1] then ga = sum_to(share * first_wins(c.a, c.b), c.sa) end
    if needs[2] then gb = sum_to(share * first_wins(c.b, c.a), c.sb) end
    return ga, gb
  end
end
differentiable("maximum", 2, save_ab, extreme_grad(function(x, y) return raw.ge(x, y) end))
differentiable("minimum", 2, save_ab, extreme_grad(function(x, y) return raw.le(x, y) end))

-- pow: a number exponent, a tensor exponent, or a number base.
do
  local f = raw.pow
  T.pow = function(a, b)
    local out = f(a, b)
    if should_record(a, b) then
      record(out, "pow", function(c, g, needs)
        local ga, gb
        if needs[1] then
          if type(c.b) == "number" then
            ga = c.b == 0 and g * 0 or g * c.b * f(c.a, c.b - 1)
          else
            ga = sum_to(g * c.b * f(c.a, c.b - 1), c.sa)
          end
        end
        if needs[2] then
          local loga = type(c.a) == "number" and math.log(c.a) or raw.log(c.a)
          gb = sum_to(g * c.out * loga, c.sb)
        end
        return ga, gb
      end, {a, b}, {a = a, b = b, sa = shape_of(a), sb = shape_of(b), out = out}, 2)
    end
    return out
  end
end

-- ---- elementwise, one operand -------------------------------------------------------------

-- keep: "x" or "out", the one tensor the gradient reads (relu reads its output: out > 0
-- exactly where x > 0), or nil
local function unary(name, grad, keep)
  differentiable(name, 1, function(out, x) return {x = keep == "x" and x or nil, out = keep == "out" and out or nil} end,
                 grad)
end

unary("neg", function(_, g) return -g end)
unary("abs", function(c, g) return g * raw.sign(c.x) end, "x")
unary("relu", function(c, g) return g * raw.gt(c.out, 0) end, "out")
unary("exp", function(c, g) return g * c.out end, "out")
unary("log", function(c, g) return g / c.x end, "x")
unary("sqrt", function(c, g) return g / (c.out * 2) end, "out")
unary("rsqrt", function(c, g) return g * raw.pow(c.out, 3) * -0.5 end, "out")
unary("sigmoid", function(c, g) return g * c.out * (1 - c.out) end, "out")
unary("tanh", function(c, g) return g * (1 - c.out * c.out) end, "out")
unary("reciprocal", function(c, g) return -g * c.out * c.out end, "out")
for _, name in ipairs {"sign", "floor", "ceil", "round"} do   -- flat almost everywhere
  unary(name, function(_, g) return g * 0 end)
end

differentiable("clamp", 1, function(out, x, lo, hi)
  if type(lo) == "table" then lo, hi = lo.min, lo.max end
  return {x = x, lo = lo, hi = hi}
end, function(c, g)
  local keep = g
  if c.lo then keep = keep * raw.ge(c.x, c.lo) end
  if c.hi then keep = keep * raw.le(c.x, c.hi) end
  return keep
end)

-- where(mask, a, b): the mask takes no gradient.
do
  local f = core.where
  local where = function(mask, a, b)
    local out = f(mask, a, b)
    if should_record(nil, a, b) then
      record(out, "where", function(c, g, needs)
        return nil, needs[2] and sum_to(f(c.mask, g, 0), c.sa), needs[3] and sum_to(f(c.mask, 0, g), c.sb)
      end, {mask, a, b}, {mask = mask, sa = shape_of(a), sb = shape_of(b)}, 3)
    end
    return out
  end
  T.where = where
end

-- ---- reductions -----------------------------------------------------------------------------

-- The dims a reduction removed, as a sorted array (all dims when dim is nil).
local function reduced_dims(shape, dim)
  local dims = {}
  if dim == nil then
    for i = 1, #shape do dims[i] = i end
  else
    for _, d in ipairs(type(dim) == "table" and dim or {dim}) do
      dims[#dims + 1] = d < 0 and d + #shape + 1 or d
    end
    table.sort(dims)
  end
  return dims
end

-- g as shaped by a keepdim reduction of `shape` over dims (re-inserting removed dims).
local function keepdim_view(g, shape, dims, keepdim)
  if keepdim then return g end
  local s = {}
  for i = 1, #shape do s[i] = shape[i] end
  for _, d in ipairs(dims) do s[d] = 1 end
  return raw.reshape(g, s)
end

local function save_reduce(out, x, dim, keepdim)
  local shape = raw.shape(x)
  return {shape = shape, dims = reduced_dims(shape, dim), keepdim = keepdim}
end

differentiable("sum", 1, save_reduce, function(c, g)
  return raw.expand(keepdim_view(g, c.shape, c.dims, c.keepdim), c.shape)
end)
differentiable("mean", 1, save_reduce, function(c, g)
  local count = 1
  for _, d in ipairs(c.dims) do count = count * c.shape[d] end
  return raw.expand(keepdim_view(g, c.shape, c.dims, c.keepdim) / count, c.shape)
end)

-- max/min over a dim (values, positions) or over everything (the value).
local function extreme_reduce(name)
  local f = raw[name]
  T[name] = function(x, dim, keepdim)
    if type(dim) == "userdata" then return T[name == "max" and "maximum" or "minimum"](x, dim) end
    local v, i = f(x, dim, keepdim)
    if should_record(x) then
      local shape = raw.shape(x)
      if dim == nil then   -- ties share the gradient evenly, as PyTorch's max()
        record(v, name, function(c, g)
          local mask = raw.eq(c.x, c.v)
          return mask * (g / raw.sum(mask))
        end, {x}, {x = x, v = v}, 1)
      else
        record(v, name, function(c, g)
          local d = reduced_dims(c.shape, c.dim)
          local gi, ii = keepdim_view(g, c.shape, d, c.keepdim), keepdim_view(c.i, c.shape, d, c.keepdim)
          return raw.scatter_add_(core.zeros(c.shape), d[1], ii, gi)
        end, {x}, {shape = shape, dim = dim, keepdim = keepdim, i = i}, 1)
      end
    end
    return v, i
  end
end
extreme_reduce("max")
extreme_reduce("min")

differentiable("prod", 1, function(out, x) return {} end, function()
  error("prod: backward is not implemented", 0)
end)

do
  local f = raw.topk
  local options = require "graft.options"
  T.topk = function(x, k, dim, opts)
    if opts ~= nil then options.check("topk", opts, {largest = "boolean"}) end
    local v, i = f(x, k, dim, opts)
    if should_record(x) then
      record(v, "topk", function(c, g)
        local d = c.dim or #c.shape
        if d < 0 then d = d + #c.shape + 1 end
        if #c.shape == 0 then return g end
        return raw.scatter_add_(core.zeros(c.shape), d, c.i, g)
      end, {x}, {shape = raw.shape(x), dim = dim, i = i}, 1)
    end
    return v, i
  end
end

-- ---- matmul -------------------------------------------------------------------------------

differentiable("matmul", 2, save_ab, function(c, g, needs)
  -- Work on at least 2-D operands (a vector a is a row, a vector b a column), as forward did.
  local a, b = c.a, c.b
  local va, vb = #c.sa == 1, #c.sb == 1
  local a2 = va and raw.unsqueeze(a, 1) or a
  local b2 = vb and raw.unsqueeze(b, -1) or b
  local g2 = g   -- restore the dims the vectors dropped: the column first (g may be 0-dim)
  if vb then g2 = raw.unsqueeze(g2, -1) end
  if va then g2 = raw.unsqueeze(g2, -2) end
  local ga, gb
  if needs[1] then
    ga = raw.matmul(g2, raw.transpose(b2, -1, -2))
    ga = raw.reshape(sum_to(ga, va and {1, c.sa[1]} or c.sa), c.sa)
  end
  if needs[2] then
    gb = raw.matmul(raw.transpose(a2, -1, -2), g2)
    gb = raw.reshape(sum_to(gb, vb and {c.sb[1], 1} or c.sb), c.sb)
  end
  return ga, gb
end)

-- ---- views and copies -----------------------------------------------------------------------

local function save_shape(out, x) return {shape = raw.shape(x)} end
local function back_to_shape(c, g) return raw.reshape(g, c.shape) end
for _, name in ipairs {"view", "reshape", "flatten", "unsqueeze", "squeeze"} do
  differentiable(name, 1, save_shape, back_to_shape)
end
differentiable("expand", 1, save_shape, function(c, g) return sum_to(g, c.shape) end)
differentiable("contiguous", 1, save_shape, function(_, g) return g end)
differentiable("clone", 1, save_shape, function(_, g) return g end)
differentiable("transpose", 1, function(out, x, d1, d2) return {d1 = d1, d2 = d2} end,
  function(c, g) return raw.transpose(g, c.d1, c.d2) end)
differentiable("t", 1, save_shape, function(_, g) return raw.t(g) end)
differentiable("permute", 1, function(out, x, ...)
  local p = select("#", ...) == 1 and type(...) == "table" and ... or {...}
  local inv, n = {}, #p
  for i = 1, n do
    local d = p[i] < 0 and p[i] + n + 1 or p[i]
    inv[d] = i
  end
  return {inv = inv}
end, function(c, g) return raw.permute(g, c.inv) end)
differentiable("narrow", 1, function(out, x, d, start, len)
  return {shape = raw.shape(x), d = d, start = start, len = len}
end, function(c, g)
  local z = core.zeros(c.shape)
  raw.copy_(raw.narrow(z, c.d, c.start, c.len), g)
  return z
end)
differentiable("select", 1, function(out, x, d, i) return {shape = raw.shape(x), d = d, i = i} end,
  function(c, g)
    local z = core.zeros(c.shape)
    raw.copy_(raw.select(z, c.d, c.i), g)
    return z
  end)
differentiable("index_select", 1, function(out, x, d, idx)
  return {shape = raw.shape(x), d = d, idx = idx}
end, function(c, g) return raw.index_add_(core.zeros(c.shape), c.d, c.idx, raw.contiguous(g)) end)
differentiable("gather", 1, function(out, x, d, idx) return {shape = raw.shape(x), d = d, idx = idx} end,
  function(c, g) return raw.scatter_add_(core.zeros(c.shape), c.d, c.idx, g) end)

do   -- to(): differentiable only from f32 to f32 (where it is the identity)
  local f = raw.to
  T.to = function(x, dtype)
    if dtype ~= nil and dtype ~= "f32" and x.requires_grad and A.is_enabled() then
      return f(raw.detach(x), dtype)
    end
    return f(x, dtype)
  end
end

-- ---- operators, in-place rules, and the autograd methods ------------------------------------

mt.__add, mt.__sub, mt.__mul, mt.__div, mt.__pow = T.add, T.sub, T.mul, T.div, T.pow
mt.__unm = function(x) return T.neg(x) end

-- In-place updates would corrupt what the tape saved: refuse them on tensors that take part
-- in autograd while grad mode is on (optimizers run under no_grad).
for _, name in ipairs {"add_", "sub_", "mul_", "div_", "fill_", "zero_", "copy_", "index_add_",
                       "scatter_add_", "uniform_", "normal_"} do
  local f = raw[name]
  T[name] = function(x, ...)
    if A.is_enabled() and x.requires_grad then
      error(name .. ": in-place update of a tensor that requires grad "
            .. "(use graft.no_grad, or detach())", 2)
    end
    return f(x, ...)
  end
end

core.tensor_field_defaults.requires_grad = false

--- requires_grad_([on]): marks an f32 leaf tensor as needing gradients (default true).
function T.requires_grad_(x, on)
  if on == nil then on = true end
  if on and raw.dtype(x) ~= "f32" then
    error("requires_grad_: only f32 tensors can require gradients, not " .. raw.dtype(x), 2)
  end
  if not on and x.grad_fn then
    error("requires_grad_: a tensor computed by recorded ops cannot stop requiring grad; use detach()", 2)
  end
  x.requires_grad = on
  return x
end

T.backward = A.backward

return {raw = raw, sum_to = sum_to}
