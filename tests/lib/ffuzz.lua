-- A differential fuzzer of graft.F against PyTorch, shared by tests/315-F-fuzz.t (a few
-- hundred cases) and tests/slow/300-F-fuzz.t (thousands). Each case is an op with random
-- shapes and options drawn towards the edges: kernels larger than the input, padding up to
-- half the kernel and past it, strides larger than kernels, dilation reaching past the input,
-- groups and depthwise, 1x1 maps, empty batches, non-contiguous views, ceil mode. PyTorch
-- decides what is valid: where it returns, graft must return the same values and gradients
-- (of every input) within tolerance of PyTorch's float64 result; where it raises, graft must
-- raise a Lua error. Cases go to PyTorch in batches, one Python process per batch
-- (tests/lib/oracle.lua).
local graft, oracle = require "graft", require "oracle"
local F = graft.F

local M = {}
local R = math.random

local function pick(list) return list[R(#list)] end
local function chance(p) return R() < p end

-- Python literals
local function pybool(b) return b and "True" or "False" end
local function pypair(v) return type(v) == "table" and ("(%d, %d)"):format(v[1], v[2]) or tostring(v) end
local function pylist(t)
  local parts = {}
  for i, v in ipairs(t) do parts[i] = tostring(v) end
  return "[" .. table.concat(parts, ", ") .. (#t == 1 and "," or "") .. "]"
end

-- Lua literal for case descriptions
local function show(v)
  if type(v) == "table" then
    local parts = {}
    for i = 1, #v do parts[#parts + 1] = show(v[i]) end
    local keys = {}
    for k in pairs(v) do if math.type(k) ~= "integer" then keys[#keys + 1] = k end end
    table.sort(keys)
    for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. show(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  if type(v) == "userdata" then return "T" .. show(v:shape()) .. (v:is_contiguous() and "" or "nc") end
  return tostring(v)
end
M.show = show

-- A random f32 tensor of `shape`, sometimes a non-contiguous view (the last two dims
-- transposed, or a narrowed slice of a wider tensor) holding the same kind of values.
local function tensor(shape, nc_chance)
  local nd = #shape
  local r = chance(nc_chance or 0.25) and R(2) or 0
  if r == 1 and nd >= 2 then
    local s = {table.unpack(shape)}
    s[nd - 1], s[nd] = s[nd], s[nd - 1]
    return graft.randn(s):transpose(nd - 1, nd)
  elseif r == 2 and nd >= 1 then
    local s = {table.unpack(shape)}
    s[nd] = s[nd] + 3
    return graft.randn(s):narrow(nd, 2, shape[nd])
  end
  return graft.randn(shape)
end

local function size_or_pair(lo, hi, pair_chance)
  if chance(pair_chance or 0.3) then return {R(lo, hi), R(lo, hi)} end
  return R(lo, hi)
end
local function first(v) return type(v) == "table" and v[1] or v end
local function second(v) return type(v) == "table" and v[2] or v end

-- A case: op, inputs (name -> tensor), grad (names of f32 inputs whose gradients are
-- compared), py (Python statements leaving the result in y), run (graft: inputs -> y),
-- and optionally infer (graft's inference path, compared with the same result) and
-- no_backward (PyTorch's own backward is unsafe there).
local gen = {}

function gen.conv2d()
  local c = {op = "conv2d"}
  local g = chance(0.5) and 1 or pick {2, 3}
  local cin, cout = g * R(1, 3), g * R(1, 3)
  local depthwise = chance(0.2)
  if depthwise then cin = g * 1; cout = g * pick {1, 2} end
  local n = chance(0.1) and 0 or R(1, 3)
  local kh, kw = R(1, 8), R(1, 8)
  local h, w = R(1, 10), R(1, 10)
  local o = {}
  if chance(0.6) then o.stride = size_or_pair(1, 5) end
  if chance(0.7) then o.padding = size_or_pair(0, chance(0.2) and 8 or 4) end
  if chance(0.3) then o.dilation = size_or_pair(1, 3) end
  if g > 1 then o.groups = g end
  if chance(0.12) then   -- a Winograd-sized one: 3x3 stride 1, 16+ channels
    cin, cout, kh, kw, g, o = pick {16, 17}, 16, 3, 3, 1, {padding = R(0, 2)}
    h, w, n = R(4, 10), R(4, 10), R(1, 3)
  end
  if chance(0.03) then cin = cin + 1 end                        -- channels that do not match
  if chance(0.02) then o.padding = -1 end                      -- refused by both
  if chance(0.02) then o.stride = 0 end
  c.inputs = {x = tensor {n, cin, h, w}, w = tensor({cout, math.max(math.floor(cin / g), 0), kh, kw}, 0.1) * 0.3}
  c.grad = {"x", "w"}
  local bias = chance(0.6)
  if bias then c.inputs.b = graft.randn{cout}; c.grad[3] = "b" end
  c.opts = o
  c.py = ("y = F.conv2d(x, w, %s, stride=%s, padding=%s, dilation=%s, groups=%d)"):format(bias and "b" or "None",
    pypair(o.stride or 1), pypair(o.padding or 0), pypair(o.dilation or 1), o.groups or 1)
  c.run = function(t) return F.conv2d(t.x, t.w, t.b, o) end
  -- inference as nn.Conv2d runs it: weights kept (packed or transformed) between calls
  c.infer = function(t)
    local keep = {}
    graft.no_grad(F.conv2d, t.x, t.w, t.b, o, keep)
    return graft.no_grad(F.conv2d, t.x, t.w, t.b, o, keep)
  end
  return c
end

function gen.linear()
  local c = {op = "linear"}
  local batch = {}
  for i = 1, R(0, 2) do batch[i] = chance(0.1) and 0 or R(1, 4) end
  local cin, cout = R(1, 7), R(1, 6)
  local xs = {table.unpack(batch)}
  xs[#xs + 1] = cin + (chance(0.03) and 1 or 0)
  c.inputs = {x = tensor(xs), w = tensor {cout, cin}}
  c.grad = {"x", "w"}
  local bias = chance(0.6)
  if bias then c.inputs.b = graft.randn{cout}; c.grad[3] = "b" end
  c.py = ("y = F.linear(x, w, %s)"):format(bias and "b" or "None")
  c.run = function(t) return F.linear(t.x, t.w, t.b) end
  return c
end

local function random_shape(lo_dims, hi_dims, hi)
  local s = {}
  for i = 1, R(lo_dims, hi_dims) do s[i] = chance(0.08) and 0 or R(1, hi or 5) end
  return s
end

local ACTS = {relu = "F.relu", relu6 = "F.relu6", sigmoid = "torch.sigmoid", tanh = "torch.tanh", silu = "F.silu",
              gelu = "F.gelu", hardswish = "F.hardswish", hardsigmoid = "F.hardsigmoid"}
local ACT_NAMES = {"relu", "relu6", "sigmoid", "tanh", "silu", "gelu", "hardswish", "hardsigmoid"}
function gen.activation()
  local name = pick(ACT_NAMES)
  local c = {op = name}
  c.inputs = {x = tensor(random_shape(0, 4)) * 4}
  c.grad = {"x"}
  c.py = ("y = %s(x)"):format(ACTS[name])
  c.run = function(t) return F[name](t.x) end
  return c
end

-- graft's 1-based (negative from the end) dim as PyTorch's 0-based one
local function pydim(d) return d > 0 and d - 1 or d end

function gen.softmax()
  local log = chance(0.5)
  local c = {op = log and "log_softmax" or "softmax"}
  local s = random_shape(chance(0.05) and 0 or 1, 4)
  local nd = #s
  local d = R(-nd, nd)
  if d == 0 then d = chance(0.1) and nd + 1 or (nd == 0 and -1 or 1) end   -- nd + 1: out of range
  c.opts = {dim = d}
  c.inputs = {x = tensor(s) * 3}
  c.grad = {"x"}
  c.py = ("y = F.%s(x, %d)"):format(c.op, pydim(d))
  c.run = function(t) return F[c.op](t.x, d) end
  return c
end

-- Whether some window of a (dilated) pooling takes no input element at all along a dim.
local function empty_window(size, k, s, p, d, out)
  for i = 0, out - 1 do
    local any = false
    for j = 0, k - 1 do
      local at = i * s - p + j * d
      if at >= 0 and at < size then any = true end
    end
    if not any then return true end
  end
  return false
end
-- PyTorch's pooled size (pooling_output_shape), for the case above
local function pooled(size, k, s, p, d, ceil)
  local span = size + 2 * p - d * (k - 1) - 1 + (ceil and s - 1 or 0)
  local out = math.floor(span / s) + 1
  if ceil and (out - 1) * s >= size + p then out = out - 1 end
  return out
end

local function pool_case(kind)
  local c = {op = kind}
  local n = chance(0.1) and 0 or R(1, 2)
  local ch = chance(0.04) and 0 or R(1, 3)
  local h, w = R(1, 8), R(1, 8)
  local shape = chance(0.2) and {ch, h, w} or {n, ch, h, w}
  local k = size_or_pair(1, 6)
  local o = {}
  if chance(0.6) then o.stride = size_or_pair(1, 4) end
  if chance(0.02) then o.stride = 0 end        -- refused by both
  if chance(0.02) then k = {0, 2} end
  if chance(0.6) then   -- up to half the kernel, sometimes past it (refused by both)
    o.padding = chance(0.1) and math.floor(first(k) / 2) + 1 or R(0, math.floor(math.min(first(k), second(k)) / 2))
  end
  if kind == "max_pool2d" and chance(0.3) then o.dilation = size_or_pair(1, 4) end
  if chance(0.4) then o.ceil_mode = true end
  if kind == "avg_pool2d" then
    if chance(0.3) then o.count_include_pad = false end
    if chance(0.1) then o.divisor_override = R(0, 5) end   -- 0: refused by PyTorch
  end
  c.inputs = {x = tensor(shape)}
  c.grad = {"x"}
  c.kernel, c.opts = k, o
  local st = o.stride or k
  local extra = kind == "max_pool2d" and (", dilation=%s"):format(pypair(o.dilation or 1))
    or (", count_include_pad=%s, divisor_override=%s"):format(pybool(o.count_include_pad ~= false),
      o.divisor_override and tostring(o.divisor_override) or "None")
  c.py = ("y = F.%s(x, %s, stride=%s, padding=%s, ceil_mode=%s%s)"):format(kind, pypair(k), pypair(st),
    pypair(o.padding or 0), pybool(o.ceil_mode), extra)
  c.run = function(t) return F[kind](t.x, k, o) end
  c.infer = function(t) return graft.no_grad(F[kind], t.x, k, o) end
  -- PyTorch 1.13's max-pool backward writes outside its buffer for a window that takes no
  -- input element (position -1): only the forward is compared there (graft's backward of
  -- such a window is checked in tests/305-edge-shapes.t).
  if kind == "max_pool2d" and first(st) >= 1 and second(st) >= 1 and first(k) >= 1 then
    local p, d = o.padding or 0, o.dilation or 1
    local oh = pooled(h, first(k), first(st), p, first(d), o.ceil_mode)
    local ow = pooled(w, second(k), second(st), p, second(d), o.ceil_mode)
    if oh >= 1 and ow >= 1 and (empty_window(h, first(k), first(st), p, first(d), oh) or
                                empty_window(w, second(k), second(st), p, second(d), ow)) then
      c.no_backward = true
    end
  end
  return c
end
function gen.max_pool2d() return pool_case("max_pool2d") end
function gen.avg_pool2d() return pool_case("avg_pool2d") end

function gen.adaptive_avg_pool2d()
  local c = {op = "adaptive_avg_pool2d"}
  local h, w = R(1, 9), R(1, 9)
  local ch = chance(0.05) and 0 or R(1, 3)
  local shape = chance(0.2) and {ch, h, w} or {chance(0.1) and 0 or R(1, 2), ch, h, w}
  local size = size_or_pair(chance(0.05) and 0 or 1, 6, 0.5)
  c.inputs = {x = tensor(shape)}
  c.grad = {"x"}
  c.opts = {size = size}
  c.py = ("y = F.adaptive_avg_pool2d(x, %s)"):format(pypair(size))
  c.run = function(t) return F.adaptive_avg_pool2d(t.x, size) end
  return c
end

function gen.batch_norm()
  local c = {op = "batch_norm"}
  local ch = R(1, 4)
  local shape = pick {{R(1, 4), ch}, {R(1, 3), ch, R(1, 4)}, {R(1, 3), ch, R(1, 4), R(1, 4)}}
  if chance(0.05) then shape[1] = 0 end
  local training = chance(0.5)
  -- eval without running statistics: PyTorch's F.batch_norm refuses it, graft's uses the
  -- batch's (what nn.BatchNorm2d without running statistics relies on); not drawn
  local stats = not training or chance(0.7)
  local affine = chance(0.7)
  local momentum, eps = pick {0.1, 0.5, 1.0}, pick {1e-5, 1e-3}
  c.inputs = {x = tensor(shape) * 2 + 1}
  c.grad = {"x"}
  if stats then c.inputs.rm = graft.randn{ch} * 0.1; c.inputs.rv = graft.rand{ch} + 0.5 end
  if affine then
    c.inputs.w = graft.rand{ch} + 0.5
    c.inputs.b = graft.randn{ch}
    c.grad[2], c.grad[3] = "w", "b"
  end
  c.opts = {training = training, stats = stats, affine = affine, momentum = momentum, eps = eps}
  c.py = ("y = F.batch_norm(x, %s, %s, %s, %s, training=%s, momentum=%s, eps=%s)"):format(
    stats and "rm" or "None", stats and "rv" or "None", affine and "w" or "None", affine and "b" or "None",
    pybool(training), momentum, eps)
  -- the running statistics, updated in place in training, are compared too
  if stats then c.after = {"rm", "rv"} end
  c.run = function(t)
    return F.batch_norm(t.x, t.rm, t.rv, {weight = t.w, bias = t.b, training = training, momentum = momentum, eps = eps})
  end
  return c
end

function gen.layer_norm()
  local c = {op = "layer_norm"}
  local s = random_shape(1, 4)
  local k = R(1, #s)
  local ns = {}
  for i = #s - k + 1, #s do ns[#ns + 1] = s[i] end
  if chance(0.03) then ns[#ns] = ns[#ns] + 1 end   -- not the input's last dims: refused by both
  local affine, eps = chance(0.7), pick {1e-5, 1e-3}
  c.inputs = {x = tensor(s) * 2}
  c.grad = {"x"}
  if affine then
    c.inputs.w = graft.rand(ns) + 0.5
    c.inputs.b = graft.randn(ns)
    c.grad[2], c.grad[3] = "w", "b"
  end
  c.opts = {normalized_shape = ns, affine = affine, eps = eps}
  c.py = ("y = F.layer_norm(x, %s, %s, %s, eps=%s)"):format(pylist(ns), affine and "w" or "None",
    affine and "b" or "None", eps)
  c.run = function(t) return F.layer_norm(t.x, ns, t.w, t.b, eps) end
  return c
end

function gen.scaled_dot_product_attention()
  local c = {op = "scaled_dot_product_attention"}
  local b, h, tq, tk, d, dv = R(1, 2), R(1, 3), R(1, 5), R(1, 5), R(1, 6), R(1, 6)
  c.inputs = {q = tensor {b, h, tq, d}, k = tensor {b, h, tk, d}, v = tensor {b, h, tk, dv}}
  c.grad = {"q", "k", "v"}
  local o = {}
  if chance(0.3) then o.scale = pick {0.5, 1.0, 0.1} end
  local masked = chance(0.4)
  if masked then   -- Hugging Face's attention mask: 1 attends, 0 pads; every row keeps a key
    local m = graft.rand{b, tk}:ge(0.3):to("f32")
    m:narrow(2, 1, 1):fill_(1)
    c.inputs.mask = m
  end
  c.opts = o
  c.py = ("s = torch.matmul(q, k.transpose(-1, -2)) * %s\n"):format(o.scale and tostring(o.scale) or "(1 / math.sqrt(q.shape[-1]))")
    .. (masked and "s = s.masked_fill(mask[:, None, None, :] == 0, float('-inf'))\n" or "")
    .. "y = torch.matmul(torch.softmax(s, -1), v)"
  c.run = function(t) return F.scaled_dot_product_attention(t.q, t.k, t.v, {mask = t.mask, scale = o.scale}) end
  return c
end

function gen.dropout()
  local c = {op = "dropout"}
  c.inputs = {x = tensor(random_shape(0, 3))}
  c.grad = {"x"}
  local eval = chance(0.5)
  local p = eval and pick {0, 0.3, 0.9} or 0
  if chance(0.03) then p = pick {-0.1, 1.5} end   -- refused by both
  c.opts = {p = p, training = not eval}
  c.py = ("y = F.dropout(x, %s, training=%s)"):format(p, pybool(not eval))
  c.run = function(t) return F.dropout(t.x, {p = p, training = not eval}) end
  return c
end

function gen.cat()
  local c = {op = "cat"}
  local s = random_shape(1, 3, 4)
  local nd = #s
  local d = R(-nd, nd)
  if d == 0 then d = 1 end
  local dd = d > 0 and d or d + nd + 1
  local count = R(1, 3)
  c.inputs, c.grad = {}, {}
  local names = {}
  for i = 1, count do
    local si = {table.unpack(s)}
    si[dd] = R(0, 3)
    if chance(0.04) then si[(dd % nd) + 1] = si[(dd % nd) + 1] + 1 end   -- a mismatch elsewhere
    local name = "t" .. i
    c.inputs[name] = tensor(si)
    c.grad[i], names[i] = name, name
  end
  c.opts = {dim = d}
  c.py = ("y = torch.cat([%s], %d)"):format(table.concat(names, ", "), pydim(d))
  c.run = function(t)
    local list = {}
    for i, name in ipairs(names) do list[i] = t[name] end
    return F.cat(list, d)
  end
  return c
end

function gen.flatten()
  local c = {op = "flatten"}
  local s = random_shape(chance(0.05) and 0 or 1, 4)
  local nd = #s
  local a, b = R(-nd, nd), R(-nd, nd)
  if a == 0 then a = nd == 0 and -1 or 1 end
  if b == 0 then b = nd == 0 and -1 or nd end
  c.inputs = {x = tensor(s)}
  c.grad = {"x"}
  c.opts = {start = a, stop = b}
  c.py = ("y = torch.flatten(x, %d, %d)"):format(pydim(a), pydim(b))
  c.run = function(t) return F.flatten(t.x, a, b) end
  return c
end

function gen.embedding()
  local c = {op = "embedding"}
  local rows, dim = R(1, 6), R(1, 5)
  local ids_shape = random_shape(1, 2, 4)
  local ids = (graft.rand(ids_shape) * rows):floor():to("i64") + 1
  if chance(0.05) then ids = ids + rows end   -- out of range (when not empty)
  local pad = chance(0.3) and R(1, rows) or nil
  c.inputs = {ids = ids, w = tensor {rows, dim}}
  c.grad = {"w"}
  c.opts = {padding_idx = pad}
  c.py = ("y = F.embedding(ids - 1, w, padding_idx=%s)"):format(pad and tostring(pad - 1) or "None")
  c.run = function(t) return F.embedding(t.ids, t.w, {padding_idx = pad}) end
  return c
end

-- Class scores and 1-based labels; ignored labels hold the ignore index itself.
local function class_case(op)
  local c = {op = op}
  local classes = R(1, 5)
  local form = R(3)
  local xs, ls
  if form == 1 then xs, ls = {classes}, {}
  elseif form == 2 then local n = chance(0.08) and 0 or R(1, 5); xs, ls = {n, classes}, {n}
  else local n, d = R(1, 3), R(1, 3); xs, ls = {n, classes, d}, {n, d} end
  local labels = (graft.rand(ls) * classes):floor():to("i64") + 1
  local o = {}
  if chance(0.3) then o.reduction = pick {"sum", "none", "mean"} end
  if chance(0.3) then o.weight = graft.rand{classes} + 0.2 end
  if chance(0.3) then
    o.ignore_index = pick {1, classes, -100}
    if labels:numel() > 0 and chance(0.7) then labels:view(-1):narrow(1, 1, 1):fill_(o.ignore_index) end
  end
  if op == "cross_entropy" and chance(0.4) then o.label_smoothing = pick {0.1, 0.5, 1.0} end
  if chance(0.03) and labels:numel() > 0 then labels:view(-1):narrow(1, 1, 1):fill_(classes + 1) end
  c.inputs = {x = tensor(xs) * 2, labels = labels}
  if o.weight then c.inputs.cw = o.weight end
  c.grad = {"x"}
  c.opts = o
  local ign = o.ignore_index or -100
  local py_ign = ign == -100 and -100 or ign - 1
  local pre = op == "nll_loss" and "F.log_softmax(x, 1 if x.dim() > 1 else 0)" or "x"
  c.py = ("lab = torch.where(labels == %d, torch.full_like(labels, %d), labels - 1)\n"):format(ign, py_ign)
    .. ("y = F.%s(%s, lab, weight=%s, ignore_index=%d, reduction=%q%s)"):format(op, pre, o.weight and "cw" or "None",
      py_ign, o.reduction or "mean", op == "cross_entropy" and (", label_smoothing=%s"):format(o.label_smoothing or 0) or "")
  c.run = function(t)
    local x = op == "nll_loss" and F.log_softmax(t.x, t.x:dim() > 1 and 2 or 1) or t.x
    return F[op](x, t.labels, {weight = t.cw, reduction = o.reduction, ignore_index = o.ignore_index,
                               label_smoothing = o.label_smoothing})
  end
  return c
end
function gen.cross_entropy() return class_case("cross_entropy") end
function gen.nll_loss() return class_case("nll_loss") end

function gen.mse_loss()
  local c = {op = "mse_loss"}
  local s = random_shape(0, 3)
  local sb = {table.unpack(s)}
  if chance(0.15) and #sb > 0 then sb[R(#sb)] = 1 end   -- broadcasting (PyTorch warns, and broadcasts)
  c.inputs = {a = tensor(s), b = tensor(sb)}
  c.grad = {"a", "b"}
  local r = chance(0.5) and pick {"sum", "none", "mean"} or nil
  c.opts = {reduction = r}
  c.py = ("y = F.mse_loss(a, b, reduction=%q)"):format(r or "mean")
  c.run = function(t) return F.mse_loss(t.a, t.b, {reduction = r}) end
  return c
end

function gen.binary_cross_entropy_with_logits()
  local c = {op = "binary_cross_entropy_with_logits"}
  local s = random_shape(1, 3)
  local last = s[#s]
  c.inputs = {x = tensor(s) * 3, t = graft.rand(s)}
  c.grad = {"x", "t"}
  local o = {}
  if chance(0.5) then o.reduction = pick {"sum", "none", "mean"} end
  if chance(0.3) then c.inputs.w = graft.rand(s) + 0.5; o.weight = true end
  if chance(0.3) then c.inputs.pw = graft.rand{last} + 0.5; o.pos_weight = true end
  c.opts = o
  c.py = ("y = F.binary_cross_entropy_with_logits(x, t, weight=%s, pos_weight=%s, reduction=%q)"):format(
    o.weight and "w" or "None", o.pos_weight and "pw" or "None", o.reduction or "mean")
  c.run = function(t)
    return F.binary_cross_entropy_with_logits(t.x, t.t, {weight = t.w, pos_weight = t.pw, reduction = o.reduction})
  end
  return c
end

-- The ops and how often each is drawn (the shape-heavy ones more).
M.ops = {{"conv2d", 6}, {"max_pool2d", 4}, {"avg_pool2d", 4}, {"adaptive_avg_pool2d", 2}, {"linear", 2},
         {"activation", 2}, {"softmax", 2}, {"batch_norm", 2}, {"layer_norm", 2},
         {"scaled_dot_product_attention", 1}, {"dropout", 1}, {"cat", 2}, {"flatten", 1}, {"embedding", 1},
         {"cross_entropy", 2}, {"nll_loss", 1}, {"mse_loss", 1}, {"binary_cross_entropy_with_logits", 1}}
local bag = {}
for _, e in ipairs(M.ops) do for _ = 1, e[2] do bag[#bag + 1] = e[1] end end

function M.case(op) return gen[op or pick(bag)]() end

-- ---- PyTorch side -------------------------------------------------------------------------

-- Python for case i: its inputs are inp["c<i>_<name>"]; it leaves y (or err), the cotangent
-- r it drew, and the gradients (g<i>_<name>), as out["..."].
local function python(i, c)
  local lines = {"try:"}
  local grad = {}
  for _, n in ipairs(c.grad) do grad[n] = true end
  local names = {}
  for n in pairs(c.inputs) do names[#names + 1] = n end
  table.sort(names)
  for _, n in ipairs(names) do
    -- in float64: the reference is the exact result, not another float32 rounding of it
    -- (a two-element layer_norm's gradient cancels: PyTorch's float32 one is off by 7e-4)
    local v = c.inputs[n]
    lines[#lines + 1] = ("    %s = inp[%q].clone()%s%s"):format(n, ("c%d_%s"):format(i, n),
      v:dtype() == "f32" and ".double()" or "", grad[n] and ".requires_grad_()" or "")
  end
  for line in c.py:gmatch("[^\n]+") do lines[#lines + 1] = "    " .. line end
  lines[#lines + 1] = ("    out['y%d'] = y.detach().float()"):format(i)
  if c.after then
    for _, n in ipairs(c.after) do lines[#lines + 1] = ("    out['a%d_%s'] = %s.float()"):format(i, n, n) end
  end
  lines[#lines + 1] = "except Exception as e:"
  lines[#lines + 1] = ("    out['err%d'] = torch.tensor(1)"):format(i)
  lines[#lines + 1] = "    y = None"
  if not c.no_backward then
    -- a backward PyTorch itself refuses (adaptive_avg_pool2d over no channels) is not compared
    lines[#lines + 1] = "if y is not None and y.requires_grad:"
    lines[#lines + 1] = "  try:"
    lines[#lines + 1] = ("    r = torch.randn(y.shape, generator=torch.Generator().manual_seed(%d))"):format(i)
    lines[#lines + 1] = "    (y * r.to(y.dtype)).sum().backward()"
    lines[#lines + 1] = ("    out['r%d'] = r"):format(i)
    for _, n in ipairs(c.grad) do
      lines[#lines + 1] = ("    out['g%d_%s'] = (%s.grad if %s.grad is not None else torch.zeros_like(%s)).float()"):format(
        i, n, n, n, n)
    end
    lines[#lines + 1] = "  except Exception as e:"
    lines[#lines + 1] = ("    out['berr%d'] = torch.tensor(1)"):format(i)
  end
  return table.concat(lines, "\n")
end

-- Runs cases through PyTorch; a batch whose Python process dies is split in halves until the
-- case that kills it is alone (it is then marked oracle_died and not judged).
local function run_oracle(cases, from, to, results)
  local inputs, code = {}, {}
  for i = from, to do
    local c = cases[i]
    for n, t in pairs(c.inputs) do inputs[("c%d_%s"):format(i, n)] = t end
    code[#code + 1] = python(i, c)
  end
  local ok, want = pcall(oracle.run, table.concat(code, "\n"), inputs, {quiet = true})
  if ok then
    for k, v in pairs(want) do results[k] = v end
    return 1
  end
  if from == to then
    cases[from].oracle_died = true
    return 1
  end
  local mid = math.floor((from + to) / 2)
  return 1 + run_oracle(cases, from, mid, results) + run_oracle(cases, mid + 1, to, results)
end

-- ---- comparison ---------------------------------------------------------------------------

local function flat(x, out)
  if type(x) ~= "table" then out[#out + 1] = x return out end
  for i = 1, #x do flat(x[i], out) end
  return out
end

-- nil when got matches want, else what differs. Tolerance scales with the largest value.
local function differs(got, want, rtol)
  if got == nil then return "graft gave nothing" end
  local gs, ws = got:shape(), want:shape()
  if #gs ~= #ws then return ("shape %s, PyTorch %s"):format(show(gs), show(ws)) end
  for i = 1, #gs do if gs[i] ~= ws[i] then return ("shape %s, PyTorch %s"):format(show(gs), show(ws)) end end
  local g = flat(got:to("f32"):totable(), {})
  local w = flat(want:to("f32"):totable(), {})
  local scale = 0
  for i = 1, #w do
    local a = math.abs(w[i])
    if a == a and a ~= math.huge and a > scale then scale = a end
  end
  local atol = (rtol or 1e-4) * math.max(scale, 1)
  for i = 1, #w do
    local a, b = g[i], w[i]
    local bad
    if b ~= b then bad = a == a
    elseif a ~= a then bad = true
    elseif b == math.huge or b == -math.huge then bad = a ~= b
    else bad = math.abs(a - b) > atol + (rtol or 1e-4) * math.abs(b) end
    if bad then return ("at %d: graft %s, PyTorch %s (scale %.3g)"):format(i, tostring(a), tostring(b), scale) end
  end
  return nil
end

-- Fresh copies of a case's inputs (a view stays a view), the f32 ones that are compared
-- requiring gradients.
local function fresh(c, with_grad)
  local t = {}
  local grad = {}
  for _, n in ipairs(c.grad) do grad[n] = true end
  for n, v in pairs(c.inputs) do
    local copy
    if v:is_contiguous() then copy = v:clone()
    else   -- rebuild the same kind of view over a copy of its values
      copy = v:clone()
      local nd = v:dim()
      if nd >= 2 then copy = v:transpose(nd - 1, nd):contiguous():transpose(nd - 1, nd) end
    end
    if with_grad and grad[n] then copy:requires_grad_() end
    t[n] = copy
  end
  return t
end

-- Judges one case against PyTorch's results: nil when it agrees, else a description.
local function judge(i, c, want)
  local refused = want["err" .. i] ~= nil
  local t = fresh(c, not refused)
  local ok, y = pcall(c.run, t)
  if refused then
    if ok then return ("graft returned %s where PyTorch raises"):format(show(y)) end
    return nil
  end
  if not ok then return "graft raised where PyTorch returns: " .. tostring(y) end
  -- convolutions sum many products; a normalization over two or three elements cancels in
  -- its gradient (a two-element layer_norm's d/dx is eps / (var + eps) of its terms)
  local rtol = c.op == "conv2d" and 3e-4 or (c.op == "layer_norm" or c.op == "batch_norm") and 1e-3 or 1e-4
  local d = differs(y:detach(), want["y" .. i], rtol)
  if d then return "forward " .. d end
  if c.after then
    for _, n in ipairs(c.after) do
      d = differs(t[n], want[("a%d_%s"):format(i, n)], rtol)
      if d then return n .. " after the call " .. d end
    end
  end
  if c.infer then
    local ok2, yi = pcall(c.infer, fresh(c, false))
    if not ok2 then return "inference raised where PyTorch returns: " .. tostring(yi) end
    d = differs(yi, want["y" .. i], rtol)
    if d then return "inference forward " .. d end
  end
  local r = want["r" .. i]
  if r and not c.no_backward then
    local okb, e = pcall(function() (y * r):sum():backward() end)
    if not okb then return "backward raised: " .. tostring(e) end
    for _, n in ipairs(c.grad) do
      local g = t[n].grad
      if g == nil then g = graft.zeros(t[n]:shape()) end
      d = differs(g, want[("g%d_%s"):format(i, n)], rtol)
      if d then return ("d/d%s %s"):format(n, d) end
    end
  end
  return nil
end

-- Draws `count` cases, runs them through PyTorch in batches of `batch` and judges each.
-- report(i, case, problem or nil) is called per case; returns counts.
function M.run(count, batch, report, verbose)
  local cases = {}
  for i = 1, count do cases[i] = M.case() end
  local want, calls = {}, 0
  for from = 1, count, batch do
    calls = calls + run_oracle(cases, from, math.min(count, from + batch - 1), want)
  end
  local stats = {cases = count, oracle_calls = calls, refused = 0, died = 0, bad = 0, no_backward = 0}
  for i, c in ipairs(cases) do
    if verbose then io.stderr:write(("case %d: %s %s %s\n"):format(i, c.op, show(c.inputs), show(c.opts or {}))) end
    local problem
    if c.oracle_died then
      stats.died = stats.died + 1
    else
      if want["err" .. i] then stats.refused = stats.refused + 1 end
      if want["berr" .. i] or c.no_backward then stats.no_backward = stats.no_backward + 1 end
      problem = judge(i, c, want)
      if problem then stats.bad = stats.bad + 1 end
    end
    report(i, c, problem)
  end
  return stats
end

function M.describe(c)
  local k = c.kernel and (" kernel " .. show(c.kernel)) or ""
  return ("%s %s%s %s"):format(c.op, show(c.inputs), k, show(c.opts or {}))
end

return M
