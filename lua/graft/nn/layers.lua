--- The built-in layers: PyTorch's parameter names, shapes, defaults and initialisations.
-- @module graft.nn
local core = require "graft.core"
local A = require "graft.autograd"
local F = require "graft.functional"
local Module = require "graft.nn.module"
local checker = require "graft.options"

local T = core.Tensor
local L = {}

-- U(-bound, bound), as PyTorch's kaiming_uniform_(a = sqrt(5)) and bias init give for a
-- layer with fan_in inputs: bound = 1 / sqrt(fan_in).
local function uniform_(t, bound) return A.no_grad(T.uniform_, t, -bound, bound) end

-- options(name, opts, spec, defaults): the layer's options checked (unknown names and wrong
-- types are errors) and laid over its defaults.
local options = checker.with_defaults

local function pair(v) return type(v) == "table" and {v[1], v[2]} or {v, v} end

-- Conv2d(in_channels, out_channels, kernel_size [, {stride, padding, dilation, groups, bias}])
local Conv2d = Module:extend "nn.Conv2d"
function Conv2d:init(cin, cout, k, opts)
  local o = options("nn.Conv2d", opts, checker.merge(F.OPTIONS.conv2d, {bias = "boolean"}),
                    {stride = 1, padding = 0, dilation = 1, groups = 1, bias = true})
  if cin % o.groups ~= 0 or cout % o.groups ~= 0 then
    error(("nn.Conv2d: %d in and %d out channels must both divide into %d groups"):format(cin, cout, o.groups), 3)
  end
  local kh, kw = table.unpack(pair(k))
  rawset(self, "in_channels", cin); rawset(self, "out_channels", cout)
  rawset(self, "kernel_size", {kh, kw})
  rawset(self, "opts", {stride = o.stride, padding = o.padding, dilation = o.dilation, groups = o.groups})
  self.weight = core.empty{cout, cin // o.groups, kh, kw}:requires_grad_()
  if o.bias then self.bias = core.empty{cout}:requires_grad_() end
  self:reset_parameters()
end
function Conv2d:reset_parameters()
  local fan_in = T.numel(self.weight) // T.size(self.weight, 1)
  uniform_(self.weight, 1 / math.sqrt(fan_in))
  if self.bias then uniform_(self.bias, 1 / math.sqrt(fan_in)) end
end
-- BatchNorm folding. A BatchNorm that reads exactly a convolution's output is folded into
-- it (w * s, (b - mean) * s + beta) only where the calling code proves that data flow:
-- nn.conv_bn(conv, bn, x), called by a block in place of bn(conv(x)), and a Sequential's
-- own Conv2d -> BatchNorm2d neighbours (containers.lua). Nothing is inferred from names.
-- It folds when the BatchNorm normalizes with running statistics (eval mode, or frozen)
-- and nothing here needs a gradient: inference, and the frozen trunk of a fine-tuning run.
local BatchNorm
local function no_grad_for(t) return t == nil or not t.requires_grad end
local function foldable(conv, bn, x)
  -- a BatchNorm subclass with a forward of its own, fold_bn = false, no running statistics,
  -- or an input BatchNorm2d would refuse: the plain path decides
  if bn.forward ~= BatchNorm.forward or rawget(bn, "_no_fold") or not bn.running_mean or not bn._dims[4]
     or T.dim(x) ~= 4 or T.size(conv.weight, 1) ~= bn.num_features then
    return false
  end
  if bn.training and not rawget(bn, "_frozen_stats") then return false end
  if not A.is_enabled() then return true end
  return no_grad_for(x) and no_grad_for(conv.weight) and no_grad_for(conv.bias) and no_grad_for(bn.weight)
         and no_grad_for(bn.bias)
end

-- w * s and (b - mean) * s + beta, with s = gamma / sqrt(var + eps): exact algebra.
local function fold(conv, bn)
  local s = T.rsqrt(bn.running_var + bn.eps)
  if bn.weight then s = s * bn.weight end
  local b = ((conv.bias or 0) - bn.running_mean) * s
  if bn.bias then b = b + bn.bias end
  return conv.weight * T.reshape(s, {T.size(s, 1), 1, 1, 1}), b
end

-- What an unchanging layer derives from its weights (the folded weight and bias, the
-- kernel's Winograd transform or packed weight) is kept until a tensor it came from is
-- replaced or written in place (Tensor:version counts writes), so inference and frozen
-- trunks pay for it once.
local function kept(conv, bn)
  local src = {conv.weight, conv.bias or false, bn and bn.weight or false, bn and bn.bias or false,
               bn and bn.running_mean or false, bn and bn.running_var or false}
  local keep = rawget(conv, "_kept")
  if keep and keep.bn == bn and keep.eps == (bn and bn.eps) then
    local same = true
    for i, t in ipairs(src) do
      if keep.src[i] ~= t or (t and keep.version[i] ~= T.version(t)) then same = false; break end
    end
    if same then return keep end
  end
  local version = {}
  for i, t in ipairs(src) do version[i] = t and T.version(t) or 0 end
  keep = {bn = bn, eps = bn and bn.eps, src = src, version = version}
  if bn then keep.weight, keep.bias = fold(conv, bn) else keep.weight, keep.bias = conv.weight, conv.bias end
  rawset(conv, "_kept", keep)
  return keep
end

function Conv2d:forward(x)
  if not A.is_enabled() or no_grad_for(self.weight) then
    return F.conv2d(x, self.weight, self.bias, self.opts, kept(self, nil))
  end
  rawset(self, "_kept", nil)   -- training: the weights change every step
  return F.conv2d(x, self.weight, self.bias, self.opts)
end
-- bn(self(x)), the BatchNorm folded in where it can be (see foldable). Called through
-- nn.conv_bn, which has checked that neither module has forward hooks. A subclass with a
-- forward of its own gets the plain path: what it computes is not known here.
function Conv2d:forward_bn(x, bn)
  if self.forward ~= Conv2d.forward or not foldable(self, bn, x) then return bn(self(x)) end
  local keep = kept(self, bn)
  return F.conv2d(x, keep.weight, keep.bias, self.opts, keep)
end

local function hooked(m) return rawget(m, "_forward_hooks") ~= nil end
--- conv_bn(conv, bn, x): bn(conv(x)) as one call, for blocks whose code reads so; in eval
-- mode (or with the BatchNorm frozen) and when nothing needs gradients, the BatchNorm is
-- folded into the convolution's weights (kept between calls, made afresh when any of the
-- tensors changes). conv is an nn.Conv2d, or a module that ends in one and says so with a
-- forward_bn(x, bn) method; otherwise, or when either module has forward hooks, it runs
-- conv then bn. A Sequential folds its own Conv2d -> BatchNorm2d neighbours the same way.
-- @tparam Module conv
-- @tparam Module bn
-- @tparam Tensor x
-- @function conv_bn
function L.conv_bn(conv, bn, x)
  if conv.forward_bn and not hooked(conv) and not hooked(bn) then
    return conv:__call_as(conv.forward_bn, x, bn)
  end
  return bn(conv(x))
end

function Conv2d:extra_repr()
  return ("%d, %d, kernel_size={%d, %d}, stride=%s, groups=%d"):format(self.in_channels, self.out_channels,
    self.kernel_size[1], self.kernel_size[2], tostring(type(self.opts.stride) == "table" and self.opts.stride[1] or self.opts.stride), self.opts.groups)
end
--- 2-D convolution over {N, C, H, W} inputs, with PyTorch's weight {cout, cin/groups, kh, kw}, bias
-- and initialisation.
-- @int in_channels
-- @int out_channels
-- @tparam int|{int,int} kernel_size
-- @tparam[opt] table opts `{stride = 1, padding = 0, dilation = 1, groups = 1, bias = true}`
-- @function Conv2d
L.Conv2d = Conv2d

-- Linear(in_features, out_features [, {bias}])
local Linear = Module:extend "nn.Linear"
function Linear:init(cin, cout, opts)
  local o = options("nn.Linear", opts, {bias = "boolean"}, {bias = true})
  rawset(self, "in_features", cin); rawset(self, "out_features", cout)
  self.weight = core.empty{cout, cin}:requires_grad_()
  if o.bias then self.bias = core.empty{cout}:requires_grad_() end
  self:reset_parameters()
end
function Linear:reset_parameters()
  uniform_(self.weight, 1 / math.sqrt(math.max(self.in_features, 1)))
  if self.bias then uniform_(self.bias, 1 / math.sqrt(math.max(self.in_features, 1))) end
end
function Linear:forward(x) return F.linear(x, self.weight, self.bias) end
function Linear:extra_repr() return ("in_features=%d, out_features=%d"):format(self.in_features, self.out_features) end
--- y = x W^T + b over the last dim; weight {out, in}.
-- @int in_features
-- @int out_features
-- @tparam[opt] table opts `{bias = true}`
-- @function Linear
L.Linear = Linear

-- BatchNorm1d / BatchNorm2d(num_features [, {eps, momentum, affine, track_running_stats}])
BatchNorm = Module:extend "nn.BatchNorm"
function BatchNorm:init(c, opts)
  local o = options(self.__name, opts, {eps = "number", momentum = "number", affine = "boolean", track_running_stats = "boolean"},
                    {eps = 1e-5, momentum = 0.1, affine = true, track_running_stats = true})
  rawset(self, "num_features", c); rawset(self, "eps", o.eps); rawset(self, "momentum", o.momentum)
  rawset(self, "_is_batch_norm", true)
  if o.affine then
    self.weight = core.ones{c}:requires_grad_()
    self.bias = core.zeros{c}:requires_grad_()
  end
  if o.track_running_stats then
    self:register_buffer("running_mean", core.zeros{c})
    self:register_buffer("running_var", core.ones{c})
    self:register_buffer("num_batches_tracked", core.tensor(0, "i64"))
  end
end
function BatchNorm:reset_parameters()
  A.no_grad(function()
    if self.weight then T.fill_(self.weight, 1); T.zero_(self.bias) end
    if self.running_mean then T.zero_(self.running_mean); T.fill_(self.running_var, 1); T.zero_(self.num_batches_tracked) end
  end)
end
function BatchNorm:forward(x)
  local dims = self._dims
  local nd = T.dim(x)
  if not dims[nd] then
    error(("%s: expected a %s input, got %d-D"):format(self.__name, self._dims_text, nd), 2)
  end
  -- Batch statistics in train() mode, unless the layer is frozen (see Module:freeze), and
  -- always without running statistics (as PyTorch's track_running_stats = false).
  local batch = (self.training and not rawget(self, "_frozen_stats")) or self.running_mean == nil
  if batch and self.running_mean then
    A.no_grad(function() T.add_(self.num_batches_tracked, 1) end)
  end
  return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, batch, self.momentum, self.eps)
end
function BatchNorm:extra_repr() return ("%d, eps=%g, momentum=%g"):format(self.num_features, self.eps, self.momentum) end

local BatchNorm2d = BatchNorm:extend "nn.BatchNorm2d"
BatchNorm2d._dims, BatchNorm2d._dims_text = {[4] = true}, "4-D (N, C, H, W)"
--- Batch normalisation over {N, C, H, W}: batch statistics in training (running mean and
-- variance updated with momentum), running statistics in eval mode and when frozen.
-- @int num_features C
-- @tparam[opt] table opts `{eps = 1e-5, momentum = 0.1, affine = true, track_running_stats = true}`
-- @function BatchNorm2d
L.BatchNorm2d = BatchNorm2d
local BatchNorm1d = BatchNorm:extend "nn.BatchNorm1d"
BatchNorm1d._dims, BatchNorm1d._dims_text = {[2] = true, [3] = true}, "2-D (N, C) or 3-D (N, C, L)"
--- Batch normalisation over {N, C} or {N, C, L}, as BatchNorm2d.
-- @int num_features C
-- @tparam[opt] table opts as BatchNorm2d
-- @function BatchNorm1d
L.BatchNorm1d = BatchNorm1d

-- LayerNorm(normalized_shape [, {eps, elementwise_affine}])
local LayerNorm = Module:extend "nn.LayerNorm"
function LayerNorm:init(shape, opts)
  local o = options("nn.LayerNorm", opts, {eps = "number", elementwise_affine = "boolean"},
                    {eps = 1e-5, elementwise_affine = true})
  shape = type(shape) == "table" and shape or {shape}
  rawset(self, "normalized_shape", shape); rawset(self, "eps", o.eps)
  if o.elementwise_affine then
    self.weight = core.ones(shape):requires_grad_()
    self.bias = core.zeros(shape):requires_grad_()
  end
end
function LayerNorm:reset_parameters()
  if self.weight then A.no_grad(function() T.fill_(self.weight, 1); T.zero_(self.bias) end) end
end
function LayerNorm:forward(x) return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps) end
--- Layer normalisation over the last dims, with weight and bias.
-- @tparam int|{int,...} normalized_shape
-- @tparam[opt] table opts `{eps = 1e-5, elementwise_affine = true}`
-- @function LayerNorm
L.LayerNorm = LayerNorm

-- Embedding(num_embeddings, embedding_dim [, {padding_idx}]): ids are 1-based.
local Embedding = Module:extend "nn.Embedding"
function Embedding:init(n, d, opts)
  local o = options("nn.Embedding", opts, {padding_idx = "integer"}, {padding_idx = false})
  rawset(self, "num_embeddings", n); rawset(self, "embedding_dim", d)
  rawset(self, "padding_idx", o.padding_idx or nil)
  self.weight = core.empty{n, d}:requires_grad_()
  self:reset_parameters()
end
function Embedding:reset_parameters()
  A.no_grad(function()
    T.normal_(self.weight, 0, 1)
    if self.padding_idx then T.zero_(T.select(self.weight, 1, self.padding_idx)) end
  end)
end
function Embedding:forward(ids) return F.embedding(ids, self.weight, {padding_idx = self.padding_idx}) end
--- A table of n vectors of size d, looked up by 1-based i64 ids.
-- @int n
-- @int d
-- @tparam[opt] table opts `{padding_idx}`: that id maps to zeros and gets no gradient
-- @function Embedding
L.Embedding = Embedding

-- Layers without parameters: activations, pooling, dropout, flatten, identity.
local function stateless(name, forward, init)
  local class = Module:extend("nn." .. name)
  class.init = init or function() end
  class.forward = forward
  class.reset_parameters = function() end
  L[name] = class
  return class
end
--- max(x, 0).
-- @function ReLU
stateless("ReLU", function(_, x) return F.relu(x) end)
--- min(max(x, 0), 6).
-- @function ReLU6
stateless("ReLU6", function(_, x) return F.relu6(x) end)
--- x * sigmoid(x) (swish).
-- @function SiLU
stateless("SiLU", function(_, x) return F.silu(x) end)
--- x * Phi(x), the erf form.
-- @function GELU
stateless("GELU", function(_, x) return F.gelu(x) end)
--- 1 / (1 + e^-x).
-- @function Sigmoid
stateless("Sigmoid", function(_, x) return F.sigmoid(x) end)
--- tanh(x).
-- @function Tanh
stateless("Tanh", function(_, x) return F.tanh(x) end)
--- x * relu6(x + 3) / 6.
-- @function Hardswish
stateless("Hardswish", function(_, x) return F.hardswish(x) end)
--- relu6(x + 3) / 6.
-- @function Hardsigmoid
stateless("Hardsigmoid", function(_, x) return F.hardsigmoid(x) end)
--- Its input, unchanged (a removed head: `reset_classifier(0)`).
-- @function Identity
stateless("Identity", function(_, x) return x end)
--- Max pooling.
-- @tparam int|{int,int} kernel_size
-- @tparam[opt] table opts `{stride = kernel_size, padding = 0, dilation = 1, ceil_mode = false}`
-- @function MaxPool2d
stateless("MaxPool2d", function(self, x) return F.max_pool2d(x, self.kernel_size, self.opts) end,
  function(self, k, opts)
    rawset(self, "kernel_size", k)
    rawset(self, "opts", options("nn.MaxPool2d", opts, F.OPTIONS.max_pool2d,
                                 {stride = false, padding = 0, dilation = 1, ceil_mode = false}))
    if not self.opts.stride then self.opts.stride = nil end
  end)
--- Average pooling.
-- @tparam int|{int,int} kernel_size
-- @tparam[opt] table opts `{stride = kernel_size, padding = 0, ceil_mode = false, count_include_pad = true, divisor_override}`
-- @function AvgPool2d
stateless("AvgPool2d", function(self, x) return F.avg_pool2d(x, self.kernel_size, self.opts) end,
  function(self, k, opts)
    rawset(self, "kernel_size", k)
    rawset(self, "opts", options("nn.AvgPool2d", opts, F.OPTIONS.avg_pool2d,
                                 {stride = false, padding = 0, ceil_mode = false, count_include_pad = true,
                                  divisor_override = false}))
    if not self.opts.stride then self.opts.stride = nil end
    if not self.opts.divisor_override then self.opts.divisor_override = nil end
  end)
--- Average pooling to a given output size.
-- @tparam int|{int,int} output_size
-- @function AdaptiveAvgPool2d
stateless("AdaptiveAvgPool2d", function(self, x) return F.adaptive_avg_pool2d(x, self.output_size) end,
  function(self, size) rawset(self, "output_size", size) end)
--- Zeroes elements with probability p in training and scales the rest by 1/(1-p).
-- @tparam[opt=0.5] number|table p the probability, or `{p = 0.5}`
-- @function Dropout
stateless("Dropout", function(self, x) return F.dropout(x, self.p, self.training) end,
  function(self, p)
    if type(p) == "table" then p = checker.check("nn.Dropout", p, {p = "number"}).p end
    checker.check_value("nn.Dropout", "p", p, "number")
    rawset(self, "p", p or 0.5)
  end)
--- The identity forward; backward multiplies the gradient by -lambda. Set m.lambda as
-- training goes (DANN's schedule: graft.transfer.dann).
-- @number[opt=1] lambda
-- @function GradientReversal
stateless("GradientReversal", function(self, x) return F.gradient_reversal(x, self.lambda) end,
  function(self, lambda) rawset(self, "lambda", lambda or 1) end)
--- Dims start_dim..end_dim merged into one (1-based; the default keeps the batch dim).
-- @int[opt=2] start_dim
-- @int[opt=-1] end_dim
-- @function Flatten
stateless("Flatten", function(self, x) return x:flatten(self.start_dim, self.end_dim) end,
  function(self, s, e) rawset(self, "start_dim", s or 2); rawset(self, "end_dim", e or -1) end)

return L
