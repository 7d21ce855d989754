--- graft.F: the neural-network ops, each a C kernel pair (forward, gradient) recorded on the
-- autograd tape, and losses built from them. PyTorch's argument order and option names;
-- sizes are a number or {h, w}; labels and indices are 1-based.
-- @module graft.F
local core = require "graft.core"
local A = require "graft.autograd"
local options = require "graft.options"

local F = {}
local K = core.nn
local T = core.Tensor
local record, should_record = A.record, A.should_record

local tensor_mt = getmetatable(core.empty(0))
local function is_tensor(x) return getmetatable(x) == tensor_mt end
-- (x, w, b, opts) where b may be left out: (x, w, opts).
local function split_bias(b, opts)
  if opts == nil and type(b) == "table" then return nil, b end
  return b, opts
end

-- The options each op takes, checked in Lua before its C kernel runs (which reads only the
-- names it knows). Exported for the layers that hand their options on (nn.Conv2d, ...).
local PAIR = "integer|table"
F.OPTIONS = {
  conv2d = {stride = PAIR, padding = PAIR, dilation = PAIR, groups = "integer"},
  max_pool2d = {stride = PAIR, padding = PAIR, dilation = PAIR, ceil_mode = "boolean"},
  avg_pool2d = {stride = PAIR, padding = PAIR, ceil_mode = "boolean", count_include_pad = "boolean",
                divisor_override = "integer"},
  batch_norm = {weight = "tensor", bias = "tensor", training = "boolean", momentum = "number", eps = "number"},
  scaled_dot_product_attention = {mask = "tensor", scale = "number"},
  dropout = {p = "number", training = "boolean"},
  embedding = {padding_idx = "integer"},
  nll_loss = {weight = "tensor", reduction = "string", ignore_index = "integer"},
  cross_entropy = {weight = "tensor", reduction = "string", ignore_index = "integer", label_smoothing = "number"},
  mse_loss = {reduction = "string"},
  binary_cross_entropy_with_logits = {weight = "tensor|number", pos_weight = "tensor|number", reduction = "string"},
}
local check = options.check

--- conv2d(x, w [, b] [, {stride, padding, dilation, groups}])
-- keep (used by nn.Conv2d): a table in which the kernel leaves w's preparation (its
-- Winograd transform, or w packed for the GEMM), to reuse on the next call; the caller drops
-- it when w changes.
function F.conv2d(x, w, b, opts, keep)
  b, opts = split_bias(b, opts)
  check("conv2d", opts, F.OPTIONS.conv2d)
  local y, prepared = K.conv2d(x, w, b, opts, keep and (keep.prepared or true))
  if keep then keep.prepared = prepared end
  if should_record(x, w, b) then
    record(y, "conv2d", function(c, g, needs)
      return K.conv2d_grad(g, c.x, c.w, c.opts, needs[1], needs[2], needs[3])
    end, {x, w, b}, {x = x, w = w, opts = opts}, 3)
  end
  return y
end

--- linear(x, w [, b]): x W^T + b over the last dim.
function F.linear(x, w, b)
  local y = K.linear(x, w, b)
  if should_record(x, w, b) then
    record(y, "linear", function(c, g, needs)
      return K.linear_grad(g, c.x, c.w, needs[1], needs[2], needs[3])
    end, {x, w, b}, {x = x, w = w}, 3)
  end
  return y
end

-- Activations: relu relu6 sigmoid tanh silu gelu (erf form) hardswish hardsigmoid.
-- relu and relu6 pass the gradient exactly where their output is inside (0, top), so they
-- keep the output, which the next layer keeps anyway, and their input can be freed: the
-- memory PyTorch saves with in-place ReLU.
local FROM_OUTPUT = {relu = true, relu6 = true}
for _, name in ipairs {"relu", "relu6", "sigmoid", "tanh", "silu", "gelu", "hardswish", "hardsigmoid"} do
  local backward = function(c, g) return K.activation_grad(name, g, c.x) end
  F[name] = function(x)
    local y = K.activation(name, x)
    if should_record(x) then record(y, name, backward, {x}, {x = FROM_OUTPUT[name] and y or x}, 1) end
    return y
  end
end

local function softmax(x, dim, log)
  if dim == nil then error((log and "log_softmax" or "softmax") .. ": dim is required", 3) end
  local y = K.softmax(x, dim, log)
  if should_record(x) then
    record(y, log and "log_softmax" or "softmax", function(c, g)
      return K.softmax_grad(g, c.y, c.dim, log)
    end, {x}, {y = y, dim = dim}, 1)
  end
  return y
end
--- softmax(x, dim): exp(x) / sum(exp(x)) along dim, computed without overflow.
function F.softmax(x, dim) return softmax(x, dim, false) end
--- log_softmax(x, dim): x - logsumexp(x) along dim.
function F.log_softmax(x, dim) return softmax(x, dim, true) end

--- The activations, each on a tensor with its gradient: `relu`, `relu6`, `sigmoid`, `tanh`,
-- `silu`, `gelu` (erf form), `hardswish`, `hardsigmoid`.
-- @tparam Tensor x
-- @treturn Tensor
-- @function relu

--- max_pool2d(x, kernel [, {stride, padding, dilation, ceil_mode}])
function F.max_pool2d(x, kernel, opts)
  check("max_pool2d", opts, F.OPTIONS.max_pool2d)
  local rec = should_record(x)
  local y, idx = K.max_pool2d(x, kernel, opts, rec)
  if rec then
    record(y, "max_pool2d", function(c, g) return K.max_pool2d_grad(g, c.idx, c.x) end,
           {x}, {x = x, idx = idx}, 1)
  end
  return y
end

--- avg_pool2d(x, kernel [, {stride, padding, ceil_mode, count_include_pad, divisor_override}])
function F.avg_pool2d(x, kernel, opts)
  check("avg_pool2d", opts, F.OPTIONS.avg_pool2d)
  -- the kernel reads 0 as "no override"; PyTorch refuses a zero divisor
  if type(opts) == "table" and opts.divisor_override == 0 then error("avg_pool2d: divisor_override must not be 0", 2) end
  local y = K.avg_pool2d(x, kernel, opts)
  if should_record(x) then
    record(y, "avg_pool2d", function(c, g) return K.avg_pool2d_grad(g, c.x, kernel, opts) end,
           {x}, {x = x}, 1)
  end
  return y
end

--- adaptive_avg_pool2d(x, size): size a number or {h, w}.
function F.adaptive_avg_pool2d(x, size)
  local y = K.adaptive_avg_pool2d(x, size)
  if should_record(x) then
    record(y, "adaptive_avg_pool2d", function(c, g) return K.adaptive_avg_pool2d_grad(g, c.x) end,
           {x}, {x = x}, 1)
  end
  return y
end

--- batch_norm(x, running_mean, running_var [, weight, bias, training, momentum, eps]) or with
-- an options table {weight, bias, training, momentum, eps} after the running statistics.
-- In training the running statistics (if given) are updated in place.
function F.batch_norm(x, rm, rv, w, b, training, momentum, eps)
  if type(w) == "table" and not is_tensor(w) then
    local o = check("batch_norm", w, F.OPTIONS.batch_norm)
    w, b, training, momentum, eps = o.weight, o.bias, o.training, o.momentum, o.eps
  end
  momentum, eps = momentum or 0.1, eps or 1e-5
  if not training and (rm == nil or rv == nil) then   -- as PyTorch: nothing to normalize with
    error("batch_norm: running_mean and running_var are needed when training is false", 2)
  end
  local y, mean, invstd = K.batch_norm(x, rm, rv, w, b, training, momentum, eps)
  if should_record(x, w, b) then
    local batch_stats = training
    record(y, "batch_norm", function(c, g, needs)
      return K.batch_norm_grad(g, c.x, c.w, c.mean, c.invstd, batch_stats, needs[1], needs[2], needs[3])
    end, {x, w, b}, {x = x, w = w, mean = mean, invstd = invstd}, 3)
  end
  return y
end

--- layer_norm(x, normalized_shape [, weight, bias, eps]): over the last dims of x.
function F.layer_norm(x, shape, w, b, eps)
  local ndims = type(shape) == "table" and #shape or 1
  -- the sizes must be x's last ones, as PyTorch checks (not just their count)
  local want, xs = type(shape) == "table" and shape or {shape}, T.shape(x)
  for i = 1, ndims do
    if xs[#xs - ndims + i] ~= want[i] then
      error(("layer_norm: normalized_shape {%s} is not the input's last dims (input {%s})"):format(
        table.concat(want, ","), table.concat(xs, ",")), 2)
    end
  end
  local y, mean, rstd = K.layer_norm(x, ndims, w, b, eps or 1e-5)
  if should_record(x, w, b) then
    record(y, "layer_norm", function(c, g, needs)
      local gx, gw, gb = K.layer_norm_grad(g, c.x, ndims, c.w, c.mean, c.rstd, needs[1], needs[2], needs[3])
      if gw then gw = gw:view(T.shape(c.w)) end
      if gb then gb = gb:view(T.shape(c.w)) end
      return gx, gw, gb
    end, {x, w, b}, {x = x, w = w, mean = mean, rstd = rstd}, 3)
  end
  return y
end

--- scaled_dot_product_attention(q, k, v [, {mask, scale}]): softmax(q k^T * scale) v per
-- batch and head, for q {B, H, Tq, D}, k {B, H, Tk, D}, v {B, H, Tk, Dv}. `mask` is Hugging
-- Face's attention_mask, {B, Tk} (or {B, 1, 1, Tk}): 1 for keys to attend, 0 for padding
-- (not PyTorch's additive float mask). `scale` defaults to 1 / sqrt(D). The result is
-- {B, H, Tq, Dv}, stored so that `:transpose(2, 3):reshape(B, Tq, H * Dv)` copies nothing.
function F.scaled_dot_product_attention(q, k, v, opts)
  opts = check("scaled_dot_product_attention", opts, F.OPTIONS.scaled_dot_product_attention)
  local mask = opts.mask
  if mask and T.dim(mask) == 4 then mask = T.reshape(mask, T.size(mask, 1), T.size(mask, 4)) end
  local scale = opts.scale or 1 / math.sqrt(T.size(q, -1))
  local y, probs = K.attention(q, k, v, mask, scale)
  if should_record(q, k, v) then
    record(y, "scaled_dot_product_attention", function(c, g, needs)
      return K.attention_grad(g, c.probs, c.q, c.k, c.v, c.scale, needs[1], needs[2], needs[3])
    end, {q, k, v}, {q = q, k = k, v = v, probs = probs, scale = scale}, 3)
  end
  return y
end

--- dropout(x [, p [, training]]) or dropout(x, {p, training}): zeroes elements with
-- probability p and scales the rest by 1/(1-p), drawing from the state's generator.
function F.dropout(x, p, training)
  if type(p) == "table" then
    check("dropout", p, F.OPTIONS.dropout)
    p, training = p.p, p.training
  end
  options.check_value("dropout", "p", p, "number")
  options.check_value("dropout", "training", training, "boolean")
  p = p or 0.5
  if training == nil then training = true end
  if p < 0 or p > 1 then error("dropout: p must be in [0, 1], not " .. p, 2) end
  if not training or p == 0 then return x end
  if p == 1 then return x * 0 end
  local keep = core.rand(T.shape(x)):ge(p) * (1 / (1 - p))
  return x * keep
end

--- gradient_reversal(x [, lambda = 1]): x forward; backward multiplies the gradient by
-- -lambda (Ganin & Lempitsky 2015: the features learn to fool a domain classifier).
function F.gradient_reversal(x, lambda)
  lambda = lambda or 1
  local y = A.no_grad(T.clone, x)
  if should_record(x) then
    record(y, "gradient_reversal", function(c, g) return g * (-c.lambda) end, {x}, {lambda = lambda}, 1)
  end
  return y
end

--- cat({a, b, ...}, dim): joins tensors along dim (all other sizes equal).
function F.cat(list, dim)
  dim = dim or 1
  if #list == 0 then error("cat: expects a non-empty array of tensors", 2) end
  local first = list[1]
  local nd = T.dim(first)
  local d = dim < 0 and dim + nd + 1 or dim
  if d < 1 or d > nd then error(("cat: dim %d is out of range for %d dims"):format(dim, nd), 2) end
  local shape, total, dtype = T.shape(first), 0, T.dtype(first)
  for i, t in ipairs(list) do
    local s = T.shape(t)
    if #s ~= nd then error(("cat: tensor %d has %d dims, tensor 1 has %d"):format(i, #s, nd), 2) end
    for k = 1, nd do
      if k ~= d and s[k] ~= shape[k] then
        error(("cat: tensor %d has size %d in dim %d, tensor 1 has %d"):format(i, s[k], k, shape[k]), 2)
      end
    end
    total = total + s[d]
    if T.dtype(t) == "f32" then dtype = "f32" elseif T.dtype(t) == "i64" and dtype == "u8" then dtype = "i64" end
  end
  shape[d] = total
  local out = core.empty(shape, dtype)
  local at, starts = 1, {}
  for i, t in ipairs(list) do
    local n = T.size(t, d)
    starts[i] = at
    T.copy_(T.narrow(out, d, at, n), t)
    at = at + n
  end
  local any = false
  for _, t in ipairs(list) do any = any or A.wants(t) end
  if any and A.is_enabled() then
    record(out, "cat", function(c, g, needs)
      local grads = {}
      for i = 1, #list do
        if needs[i] then grads[i] = T.narrow(g, d, starts[i], T.size(list[i], d)) end
      end
      return table.unpack(grads, 1, #list)
    end, list, {}, #list)
  end
  return out
end

--- flatten(x [, start [, end]]): as torch.flatten (default: every dim).
function F.flatten(x, s, e) return x:flatten(s, e) end

--- embedding(ids, weight [, {padding_idx}]): rows of weight for 1-based ids; the padding
-- row gets no gradient.
function F.embedding(ids, weight, opts)
  check("embedding", opts, F.OPTIONS.embedding)
  local n = T.size(weight, 1)
  if T.numel(ids) > 0 then
    local lo, hi = T.min(ids):item(), T.max(ids):item()
    if lo < 1 or hi > n then
      error(("embedding: id %d is out of range for %d rows (ids are 1-based)"):format(lo < 1 and lo or hi, n), 2)
    end
  end
  local flat = T.reshape(ids, {-1})
  local shape = T.shape(ids)
  shape[#shape + 1] = T.size(weight, 2)
  local y = T.reshape(A.no_grad(T.index_select, weight, 1, flat), shape)
  local pad = opts and opts.padding_idx
  if should_record(weight) then
    record(y, "embedding", function(c, g)
      local gw = core.zeros(T.shape(c.w))
      T.index_add_(gw, 1, c.flat, T.reshape(g, {-1, T.size(c.w, 2)}))
      if pad then T.zero_(T.select(gw, 1, pad)) end
      return gw
    end, {weight}, {w = weight, flat = flat}, 1)
  end
  return y
end

-- ---- losses ---------------------------------------------------------------------------------

local function reduce(loss, reduction, what)
  reduction = reduction or "mean"
  if reduction == "mean" then return loss:mean() end
  if reduction == "sum" then return loss:sum() end
  if reduction == "none" then return loss end
  error(what .. ': reduction must be "mean", "sum" or "none", not ' .. tostring(reduction), 3)
end

-- Class scores (N, C, ...) or (C) and their labels (N, ...) or (): the class dim.
local function class_dim(x, what)
  local nd = T.dim(x)
  if nd < 1 then error(what .. ": expects scores of shape (N, C, ...) or (C)", 3) end
  return nd == 1 and 1 or 2
end

-- loss:sum() / total, PyTorch's mean over the labels that count; when none counts (all
-- ignored) it is NaN, as PyTorch's, but no gradient flows (PyTorch's are 0, not NaN).
local function mean_over(loss, total)
  if total:item() == 0 then return loss:sum() * 0 + 0 / 0 end
  return loss:sum() / total
end

--- nll_loss(log_probs, labels [, {weight, reduction, ignore_index}]): labels are 1-based.
function F.nll_loss(logp, labels, opts)
  opts = check("nll_loss", opts, F.OPTIONS.nll_loss)
  local cd = class_dim(logp, "nll_loss")
  local classes = T.size(logp, cd)
  local ignore = opts.ignore_index or -100
  if T.dtype(labels) ~= "i64" then error("nll_loss: labels must be i64, not " .. T.dtype(labels), 2) end
  local valid = labels:ne(ignore)
  local y = core.where(valid, labels, 1)
  if T.numel(y) > 0 then
    local lo, hi = T.min(y):item(), T.max(y):item()
    if lo < 1 or hi > classes then
      error(("nll_loss: label %d is out of range for %d classes (labels are 1-based)"):format(lo < 1 and lo or hi, classes), 2)
    end
  end
  local picked = logp:gather(cd, y:unsqueeze(cd)):squeeze(cd)
  local w = valid:to("f32")
  if opts.weight then w = w * T.reshape(T.index_select(opts.weight, 1, T.reshape(y, {-1})), T.shape(y)) end
  local losses = -picked * w
  local r = opts.reduction or "mean"
  if r == "mean" then return mean_over(losses, w:sum()) end
  return reduce(losses, r, "nll_loss")
end

--- cross_entropy(logits, labels [, {weight, reduction, ignore_index, label_smoothing}])
-- as PyTorch computes it, with 1-based labels.
function F.cross_entropy(x, labels, opts)
  opts = check("cross_entropy", opts, F.OPTIONS.cross_entropy)
  local cd = class_dim(x, "cross_entropy")
  local logp = F.log_softmax(x, cd)
  local nll = F.nll_loss(logp, labels, {weight = opts.weight, reduction = opts.reduction, ignore_index = opts.ignore_index})
  local eps = opts.label_smoothing or 0
  if eps == 0 then return nll end
  if eps < 0 or eps > 1 then error("cross_entropy: label_smoothing must be in [0, 1]", 2) end
  local classes = T.size(x, cd)
  local valid = labels:ne(opts.ignore_index or -100):to("f32")
  local weighted = logp
  if opts.weight then
    local s = {}
    for i = 1, T.dim(x) do s[i] = 1 end
    s[cd] = classes
    weighted = logp * T.reshape(opts.weight, s)
  end
  local smooth = -weighted:sum(cd) * valid
  local r = opts.reduction or "mean"
  if r == "mean" then   -- over the labels not ignored (PyTorch's true_mask), or their weights
    if opts.weight then
      local y = core.where(labels:ne(opts.ignore_index or -100), labels, 1)
      local wy = T.reshape(T.index_select(opts.weight, 1, T.reshape(y, {-1})), T.shape(y)) * valid
      smooth = mean_over(smooth, wy:sum())
    else
      smooth = mean_over(smooth, valid:sum())
    end
  else
    smooth = reduce(smooth, r, "cross_entropy")
  end
  return nll * (1 - eps) + smooth * (eps / classes)
end

--- mse_loss(input, target [, {reduction}])
function F.mse_loss(a, b, opts)
  check("mse_loss", opts, F.OPTIONS.mse_loss)
  local d = a - b
  return reduce(d * d, opts and opts.reduction, "mse_loss")
end

--- binary_cross_entropy_with_logits(x, target [, {weight, pos_weight, reduction}])
function F.binary_cross_entropy_with_logits(x, t, opts)
  opts = check("binary_cross_entropy_with_logits", opts, F.OPTIONS.binary_cross_entropy_with_logits)
  local m = (-x):clamp{min = 0}
  local softplus = ((-m):exp() + (-x - m):exp()):log() + m
  local loss
  if opts.pos_weight then
    loss = (1 - t) * x + ((opts.pos_weight - 1) * t + 1) * softplus
  else
    loss = (1 - t) * x + softplus
  end
  if opts.weight then loss = loss * opts.weight end
  return reduce(loss, opts.reduction, "binary_cross_entropy_with_logits")
end

return F
