--- graft: transfer learning for Lua 5.4 on a C core.
-- This file is the module `graft`: the C core (graft.core) plus the parts written in Lua.
-- The submodules are graft.nn, graft.F, graft.optim, graft.models, graft.data,
-- graft.transfer, graft.image, graft.text and graft.json; `graft.fit`, `graft.extract`,
-- `graft.evaluate` and `graft.predict` are graft.transfer's. Most tensor methods are also
-- module functions: `graft.exp(t)` is `t:exp()`.
-- @module graft
local core = require "graft.core"
local autograd = require "graft.autograd"
require "graft.grad_ops"   -- makes the tensor methods record themselves for autograd

local graft = {}
-- graft.core's helpers for graft's own Lua files (file listing, decoding, worker pools) stay
-- there; everything else in the core is graft's API.
local CORE_ONLY = {image_load = true, image_probe = true, image_save = true, listdir = true, stat = true,
                   read_idx = true, read_raw = true, pool = true, rng = true, transform = true,
                   isatty = true, fingerprint = true, runtime_facts = true}
for k, v in pairs(core) do
  if not CORE_ONLY[k] then graft[k] = v end
end

local Tensor = core.Tensor
graft.Tensor = Tensor
local tensor_mt = getmetatable(core.empty(0))

-- Module-level forms of tensor functions, as torch.exp(t) beside t:exp().
for _, name in ipairs {
  "add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge",
  "neg", "abs", "sign", "relu", "exp", "log", "sqrt", "rsqrt", "sigmoid", "tanh", "floor",
  "ceil", "round", "reciprocal", "clamp", "sum", "mean", "prod", "max", "min", "argmax",
  "argmin", "topk", "index_select", "gather", "transpose", "permute", "reshape", "flatten",
  "squeeze", "unsqueeze", "narrow", "select", "clone",
} do
  graft[name] = Tensor[name]
end

graft.F = require "graft.functional"
graft.nn = require "graft.nn"
graft.optim = require "graft.optim"
graft.image = require "graft.image"
graft.data = require "graft.data"
graft.models = require "graft.models"
graft.json = require "graft.json"
graft.text = require "graft.text"
graft.transfer = require "graft.transfer"
require "graft.transfer.fit"
require "graft.transfer.dann"
graft.fit, graft.extract = graft.transfer.fit, graft.transfer.extract
graft.evaluate, graft.predict = graft.transfer.evaluate, graft.transfer.predict
do
  local model_io = require "graft.model_io"
  graft.save_model, graft.load_model = model_io.save_model, model_io.load_model
end
graft.where = core.Tensor.where
graft.matmul = core.Tensor.matmul
graft.no_grad = autograd.no_grad
graft.enable_grad = autograd.enable_grad
graft.grad_enabled = autograd.is_enabled
graft.set_grad_enabled = autograd.set_enabled
do
  local runtime = require "graft.runtime"
  graft.info, graft.warn, graft.set_warn = runtime.info, runtime.warn, runtime.set_warn
  -- Internal, for tests: the BLAS-core check that runs once below, with facts to check.
  graft._check_blas = runtime.check_blas
  runtime.check_blas()
end

--- The transfer verbs
-- @section verbs

--- Trains a model on a loader: graft.transfer.fit (options, checkpoints, resuming there).
-- @function fit

--- Features of a model over a loader: graft.transfer.extract.
-- @function extract

--- Loss, accuracy, top-5, per-class accuracy and the confusion matrix: graft.transfer.evaluate.
-- @function evaluate

--- Top classes of image files or tensors: graft.transfer.predict.
-- @function predict

--- Autograd
-- @section autograd

--- Runs fn(...) with gradient recording off (as `with torch.no_grad()`), and returns its results.
-- @func fn
-- @param ... its arguments
-- @function no_grad

--- Runs fn(...) with gradient recording on, inside a no_grad region too.
-- @func fn
-- @param ... its arguments
-- @function enable_grad

--- Sets gradient recording on or off for what follows; returns the previous setting.
-- @bool on
-- @treturn boolean
-- @function set_grad_enabled

--- True while gradients are recorded.
-- @treturn boolean
-- @function grad_enabled

--- Marks an f32 leaf tensor as needing gradients (`t.requires_grad` reads it); ops on it are
-- then recorded, and `backward` fills its `.grad`.
-- @bool[opt=true] on
-- @treturn Tensor the tensor
-- @function Tensor:requires_grad_

--- Gradients of this tensor with respect to every leaf that requires grad, added into their
-- `.grad`. The graph is freed afterwards unless `retain_graph` is set.
-- @tparam[opt] Tensor grad the gradient of the result (needed unless it has one element)
-- @tparam[opt] table opts `{retain_graph = false}`
-- @function Tensor:backward

--- Helpers
-- @section helpers

--- True when x is a graft tensor.
function graft.is_tensor(x)
  return getmetatable(x) == tensor_mt
end

--- allclose(a, b [, rtol [, atol]]): |a - b| <= atol + rtol * |b| everywhere (broadcast),
-- with equal infinities close and NaN never close, as torch.allclose.
function graft.allclose(a, b, rtol, atol)
  rtol, atol = rtol or 1e-5, atol or 1e-8
  a = graft.is_tensor(a) and a:to("f32") or graft.tensor(a)
  b = graft.is_tensor(b) and b:to("f32") or graft.tensor(b)
  local near = (a - b):abs():le(b:abs() * rtol + atol)
  local ok = near:maximum(a:eq(b))
  if ok:numel() == 0 then return true end
  return ok:min():item() == 1
end

Tensor.allclose = graft.allclose

--- check_finite(t [, name]) -> t: an error when any element is NaN or infinite, naming
-- `name` (default "tensor"), the shape, how many of each, and the first one's 1-based flat
-- position; t itself when all are finite (so it can wrap an expression).
function graft.check_finite(t, name)
  if not graft.is_tensor(t) then error("check_finite: expected a tensor", 2) end
  if t:dtype() ~= "f32" or t:numel() == 0 then return t end
  local nan, inf = t:ne(t), t:abs():eq(math.huge)
  local nnan, ninf = nan:sum():item(), inf:sum():item()
  if nnan + ninf == 0 then return t end
  local first = nan:maximum(inf):flatten():to("f32"):argmax():item()
  error(("check_finite: %s {%s} has %d NaN and %d infinite values (the first at flat position %d)"):format(
    name or "tensor", table.concat(t:shape(), ","), nnan, ninf, first), 2)
end

--- load(path): a safetensors file, a sharded checkpoint's index (model.safetensors.index.json)
-- whose shards load as one state dict, or a torch.save'd .pth state dict (read safely).
function graft.load(path)
  if type(path) == "string" and path:match("%.json$") then
    return require("graft.io").load_sharded(path, graft.load)
  end
  local kind = type(path) == "string" and require("graft.pth").kind(path)
  if kind == "zip" then return require("graft.pth").load(path) end
  if kind == "legacy" then
    error(("graft.load: %s: a .pth in PyTorch's format from before 1.6, which graft does not read; "
           .. "re-save it with torch.save in PyTorch 1.6 or later, or as safetensors"):format(path), 2)
  end
  local tensors, metadata = core.load(path)
  return tensors, metadata
end

-- Printing ------------------------------------------------------------------------------

local function format_number(v, dtype)
  if dtype ~= "f32" then return string.format("%d", v) end
  if v ~= v then return "nan" end
  if v == math.huge then return "inf" end
  if v == -math.huge then return "-inf" end
  return string.format("%.4f", v)
end

-- Nested braces, eliding the middle of dims longer than 6 when the tensor is large.
local function render(t, dtype, elide, indent)
  if t:dim() == 0 then return format_number(t:item(), dtype) end
  local n, parts = t:size(1), {}
  local function add(i) parts[#parts + 1] = render(t:select(1, i), dtype, elide, indent .. " ") end
  if elide and n > 6 then
    for i = 1, 3 do add(i) end
    parts[#parts + 1] = "..."
    for i = n - 2, n do add(i) end
  else
    for i = 1, n do add(i) end
  end
  local sep = t:dim() > 1 and (",\n" .. indent .. " ") or ", "
  return "{" .. table.concat(parts, sep) .. "}"
end

tensor_mt.__tostring = function(t)
  local shape = table.concat(t:shape(), ", ")
  return string.format("tensor(%s, %s, {%s})", render(t, t:dtype(), t:numel() > 1000, "       "),
                       t:dtype(), shape)
end

return graft
