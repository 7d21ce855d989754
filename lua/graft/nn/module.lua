--- nn.Module: parameter holders whose forward calls ops. Assigning a Module to a field
-- registers a child; assigning a tensor that requires grad registers a parameter; buffers
-- are registered with register_buffer. Names, order and state-dict keys are PyTorch's.
-- @module graft.nn
local core = require "graft.core"
local A = require "graft.autograd"
local options = require "graft.options"

local T = core.Tensor
local Module = {__name = "nn.Module"}

local tensor_mt = getmetatable(core.empty(0))
local function is_tensor(x) return getmetatable(x) == tensor_mt end
local function is_module(x) return type(x) == "table" and rawget(x, "_values") ~= nil end
Module.is_module = is_module

-- Every module is a table holding its registered names in order and their values apart, so
-- that every assignment passes through __newindex.
local instance_mts = setmetatable({}, {__mode = "k"})

local function full_path(m)
  local parts = {}
  while m and rawget(m, "_name") do
    table.insert(parts, 1, rawget(m, "_name"))
    m = rawget(m, "_parent")
  end
  return table.concat(parts, ".")
end

local function register(self, name, value)
  local kinds, values, order = rawget(self, "_kinds"), rawget(self, "_values"), rawget(self, "_order")
  if value == nil then
    if kinds[name] then
      for i, n in ipairs(order) do if n == name then table.remove(order, i) break end end
    end
    kinds[name], values[name] = nil, nil
    return
  end
  local kind = kinds[name]
  if is_module(value) then
    kind = "module"
    rawset(value, "_name", tostring(name))
    rawset(value, "_parent", self)
  elseif is_tensor(value) then
    if kind ~= "buffer" and kind ~= "param" then kind = value.requires_grad and "param" or "attr" end
  else
    kind = "attr"
  end
  if not kinds[name] then order[#order + 1] = name end
  kinds[name], values[name] = kind, value
end

local function instance_mt(class)
  local mt = instance_mts[class]
  if mt then return mt end
  mt = {
    __index = function(self, key)
      local v = rawget(self, "_values")[key]
      if v ~= nil then return v end
      return class[key]
    end,
    __newindex = register,
    __call = function(self, ...) return self:__call_forward(...) end,
    __tostring = function(self) return self:__repr() end,
    __len = function(self) return class.__len and class.__len(self) or 0 end,
    __name = class.__name,
  }
  instance_mts[class] = mt
  return mt
end

--- A new module class: Module:extend "MyBlock", then define init(...) and forward(...).
function Module:extend(name)
  local class = setmetatable({__name = name or "Module", super = self}, {
    __index = self,
    __call = function(c, ...) return c:new(...) end,
  })
  return class
end

--- Module(...) or a class's call: a new instance; runs init(...) (define it in a subclass, with
-- forward(...)).
-- @function Module:new
function Module:new(...)
  local obj = setmetatable({_values = {}, _kinds = {}, _order = {}, training = true}, instance_mt(self))
  rawset(obj, "_args", table.pack(...))   -- built-in layers are rebuilt from these (save_model)
  obj:init(...)
  return obj
end

function Module:init() end

function Module:forward()
  error(self.__name .. ": forward is not defined", 2)
end

-- Calls forward with the forward hooks, and puts the module's path in front of an error raised
-- inside it (once, by the innermost module).
function Module:__call_forward(...) return self:__call_as(self.forward, ...) end

-- The same for another method standing in for forward (nn.conv_bn's fused forward_bn).
function Module:__call_as(fn, ...)
  local res = table.pack(pcall(fn, self, ...))
  if not res[1] then
    local err, pos = res[2], nil
    if type(err) == "string" then
      -- the position goes in front of the module path; one inside graft's own Lua files
      -- tells the user nothing (graft's C errors already name the user's line)
      local at, msg = err:match("^([^:\n]+:%d+: )(.*)$")
      if at then err, pos = msg, not at:match("graft/[%w_/]+%.lua:%d+: $") and at or nil end
    end
    local path = full_path(self)
    if type(err) == "string" and path ~= "" then
      local parent = rawget(self, "_parent") and full_path(rawget(self, "_parent")) or ""
      local annotated = err:sub(1, #path + 1) == path .. ":" or err:sub(1, #path + 1) == path .. "."
      if not annotated and (parent == "" or err:sub(1, #parent + 1) ~= parent .. ".") then
        err = path .. ": " .. err
      end
    end
    error(pos and pos .. err or err, 0)
  end
  local hooks = rawget(self, "_forward_hooks")
  if hooks then
    for _, h in ipairs(hooks) do
      local r = h(self, {...}, res[2])
      if r ~= nil then res[2] = r end
    end
  end
  return table.unpack(res, 2, res.n)
end

--- register_forward_hook(fn): fn(module, inputs, output) after each forward; returning a value
-- replaces the output. Returns a handle with :remove().
function Module:register_forward_hook(fn)
  local hooks = rawget(self, "_forward_hooks")
  if not hooks then
    hooks = {}
    rawset(self, "_forward_hooks", hooks)
  end
  hooks[#hooks + 1] = fn
  local module = self
  return {remove = function()
    for i, h in ipairs(hooks) do if h == fn then table.remove(hooks, i) break end end
    if #hooks == 0 then rawset(module, "_forward_hooks", nil) end
  end}
end

--- register_parameter(name, t): t becomes a parameter under name (as assigning a tensor that
-- requires grad does).
function Module:register_parameter(name, t)
  rawget(self, "_kinds")[name] = nil
  register(self, name, t)
  if t ~= nil then rawget(self, "_kinds")[name] = "param" end
end

--- register_buffer(name, t): t is saved in the state dict but not trained (running statistics).
function Module:register_buffer(name, t)
  register(self, name, t)
  if t ~= nil then rawget(self, "_kinds")[name] = "buffer" end
end

-- Own entries of one kind, in registration order.
local function own(self, kind)
  local out = {}
  local kinds, values = rawget(self, "_kinds"), rawget(self, "_values")
  for _, name in ipairs(rawget(self, "_order")) do
    if kinds[name] == kind then out[#out + 1] = {name, values[name]} end
  end
  return out
end

--- named_children(): array of {name, module}.
function Module:named_children() return own(self, "module") end

--- named_modules(): array of {path, module}, this module first (path "").
function Module:named_modules(prefix, out)
  out, prefix = out or {}, prefix or ""
  out[#out + 1] = {prefix, self}
  for _, c in ipairs(own(self, "module")) do
    c[2]:named_modules(prefix == "" and tostring(c[1]) or prefix .. "." .. c[1], out)
  end
  return out
end

local function join(prefix, name) return prefix == "" and tostring(name) or prefix .. "." .. name end

--- named_parameters(): array of {name, tensor}: each module's own, then its children's.
function Module:named_parameters()
  local out = {}
  for _, m in ipairs(self:named_modules()) do
    for _, p in ipairs(own(m[2], "param")) do out[#out + 1] = {join(m[1], p[1]), p[2]} end
  end
  return out
end

--- parameters(): every parameter tensor, in named_parameters' order.
function Module:parameters()
  local out = {}
  for _, p in ipairs(self:named_parameters()) do out[#out + 1] = p[2] end
  return out
end

--- named_buffers(): array of {name, tensor} for every buffer.
function Module:named_buffers()
  local out = {}
  for _, m in ipairs(self:named_modules()) do
    for _, b in ipairs(own(m[2], "buffer")) do out[#out + 1] = {join(m[1], b[1]), b[2]} end
  end
  return out
end

--- trainable_parameters(): the parameters that require grad (for an optimizer).
function Module:trainable_parameters()
  local out = {}
  for _, p in ipairs(self:named_parameters()) do
    if p[2].requires_grad then out[#out + 1] = p[2] end
  end
  return out
end

--- state_dict_keys(): the keys of state_dict() in PyTorch's order.
function Module:state_dict_keys()
  local keys = {}
  local function walk(m, prefix)
    for _, p in ipairs(own(m, "param")) do keys[#keys + 1] = join(prefix, p[1]) end
    for _, b in ipairs(own(m, "buffer")) do keys[#keys + 1] = join(prefix, b[1]) end
    for _, c in ipairs(own(m, "module")) do walk(c[2], join(prefix, c[1])) end
  end
  walk(self, "")
  return keys
end

--- state_dict(): {key = tensor} for parameters and buffers (detached views, no copies).
function Module:state_dict()
  local sd = {}
  local function walk(m, prefix)
    for _, p in ipairs(own(m, "param")) do sd[join(prefix, p[1])] = T.detach(p[2]) end
    for _, b in ipairs(own(m, "buffer")) do sd[join(prefix, b[1])] = T.detach(b[2]) end
    for _, c in ipairs(own(m, "module")) do walk(c[2], join(prefix, c[1])) end
  end
  walk(self, "")
  return sd
end

local function shape_text(t) return "{" .. table.concat(T.shape(t), ",") .. "}" end

--- load_state_dict(sd [, {strict = true, prefix}]) -> missing, unexpected. Shapes must
-- match (an error names the key and both shapes); with strict, so must the keys. A missing
-- num_batches_tracked (older PyTorch files) is not an error.
function Module:load_state_dict(sd, opts)
  opts = options.check("load_state_dict", opts, {strict = "boolean", prefix = "string"})
  local strict = opts.strict ~= false
  local prefix = opts.prefix
  local incoming = {}
  for k, v in pairs(sd) do
    if prefix and k:sub(1, #prefix) == prefix then k = k:sub(#prefix + 1) end
    incoming[k] = v
  end
  local targets = {}
  local function walk(m, pre)
    for _, p in ipairs(own(m, "param")) do targets[join(pre, p[1])] = p[2] end
    for _, b in ipairs(own(m, "buffer")) do targets[join(pre, b[1])] = b[2] end
    for _, c in ipairs(own(m, "module")) do walk(c[2], join(pre, c[1])) end
  end
  walk(self, "")
  local missing, unexpected = {}, {}
  for _, key in ipairs(self:state_dict_keys()) do
    local src, dst = incoming[key], targets[key]
    if src == nil then
      if not key:match("num_batches_tracked$") then missing[#missing + 1] = key end
    elseif not is_tensor(src) then
      error(("load_state_dict: %q is a %s, not a tensor"):format(key, type(src)), 2)
    elseif shape_text(src) ~= shape_text(dst) then
      error(("load_state_dict: size mismatch for %s: the checkpoint has %s, the model %s"):format(
        key, shape_text(src), shape_text(dst)), 2)
    end
  end
  for k in pairs(incoming) do
    if targets[k] == nil then unexpected[#unexpected + 1] = k end
  end
  table.sort(unexpected)
  if strict and (#missing > 0 or #unexpected > 0) then
    -- A whole architecture's keys would bury the message: the first few, and how many more.
    local function some(keys)
      local shown = table.concat(keys, ", ", 1, math.min(#keys, 8))
      return #keys > 8 and ("%s, ... (%d in all)"):format(shown, #keys) or shown
    end
    local parts = {}
    if #missing > 0 then parts[#parts + 1] = "missing keys: " .. some(missing) end
    if #unexpected > 0 then parts[#parts + 1] = "unexpected keys: " .. some(unexpected) end
    error("load_state_dict: " .. table.concat(parts, "; ") .. " (pass {strict = false} to load the rest)", 2)
  end
  A.no_grad(function()
    for key, dst in pairs(targets) do
      local src = incoming[key]
      if src ~= nil then T.copy_(dst, src) end
    end
  end)
  return missing, unexpected
end

--- train([mode = true]): training mode for this module and its children (dropout on, batch
-- statistics in BatchNorm unless frozen); returns the module.
function Module:train(mode)
  if mode == nil then mode = true end
  for _, m in ipairs(self:named_modules()) do rawset(m[2], "training", mode) end
  return self
end

--- eval(): evaluation mode, as train(false); returns the module.
function Module:eval() return self:train(false) end

--- zero_grad(): drops every parameter's .grad (as PyTorch's set_to_none).
function Module:zero_grad()
  for _, p in ipairs(self:parameters()) do p.grad = nil end
end

-- The set of parameter names that pattern matches: a pattern that does not compile, or
-- matches no parameter, is an error naming it (a typo would otherwise freeze nothing).
local function matching(named, pattern, fn)
  local names = {}
  for i, p in ipairs(named) do names[i] = p[1] end
  local set = {}
  for _, name in ipairs(options.check_pattern(fn, pattern, names)) do set[name] = true end
  return set
end

-- BatchNorm modules note whether they are frozen (see BatchNorm:forward). Only the
-- BatchNorms a call touches change: those with a parameter the pattern matched, or, with no
-- parameters (affine = false), whose path prefix ("features.1.") it matches; no pattern
-- touches all. Re-deciding every BatchNorm on each call would let freeze("^layer4%.") undo
-- an earlier freeze(nil, {bn = "train"}) elsewhere. frozen: the call froze (true) or
-- unfroze (false); a touched BatchNorm is frozen when all its parameters are.
local function update_touched_bn(self, pattern, hit, frozen, mode)
  for _, m in ipairs(self:named_modules()) do
    local path, bn = m[1], m[2]
    if rawget(bn, "_is_batch_norm") then
      local params, touched, all = own(bn, "param"), not pattern, true
      local prefix = path == "" and "" or path .. "."
      for _, p in ipairs(params) do
        all = all and not p[2].requires_grad
        if pattern and hit[prefix .. p[1]] then touched = true end
      end
      if #params == 0 then
        touched = touched or prefix:match(pattern) ~= nil
        all = frozen
      end
      if touched then rawset(bn, "_frozen_stats", frozen and all and mode ~= "train") end
    end
  end
end

--- freeze([pattern] [, {bn = "eval" | "train"}]): parameters whose names match the Lua
-- pattern (all without one) stop requiring grad. A BatchNorm whose parameters are all frozen
-- then normalizes with its running statistics and leaves them unchanged, even in train()
-- mode (bn = "eval", the default, as Keras does); bn = "train" keeps batch statistics. The
-- mode applies to the BatchNorms this call froze and stays until they are unfrozen or
-- frozen again; a BatchNorm without parameters (affine = false) is frozen when the pattern
-- matches its path with a trailing dot ("features.1.").
function Module:freeze(pattern, opts)
  if type(pattern) == "table" then pattern, opts = nil, pattern end
  local mode = options.check("freeze", opts, {bn = "string"}).bn or "eval"
  if mode ~= "eval" and mode ~= "train" then error('freeze: bn must be "eval" or "train"', 2) end
  local named = self:named_parameters()
  local hit = pattern and matching(named, pattern, "freeze")
  for _, p in ipairs(named) do
    if not pattern or hit[p[1]] then p[2].requires_grad = false end
  end
  update_touched_bn(self, pattern, hit, true, mode)
  return self
end

--- unfreeze([pattern]): parameters whose names match (all without one) require grad again;
-- the BatchNorms among them (or, without parameters, matched by their path with a trailing
-- dot) use batch statistics in train() mode again. Other BatchNorms keep their mode.
function Module:unfreeze(pattern)
  local named = self:named_parameters()
  local hit = pattern and matching(named, pattern, "unfreeze")
  for _, p in ipairs(named) do
    if not pattern or hit[p[1]] then p[2].requires_grad = true end
  end
  update_touched_bn(self, pattern, hit, false)
  return self
end

--- get(path): the submodule at a state-dict prefix such as "layer4" or "features.0".
function Module:get(path)
  local m = self
  for part in tostring(path):gmatch("[^.]+") do
    local child = is_module(m) and rawget(m, "_values")[part] or nil
    if child == nil and is_module(m) then child = rawget(m, "_values")[tonumber(part)] end
    if not is_module(child) then error(("get: no module at %q (stopped at %q)"):format(path, part), 2) end
    m = child
  end
  return m
end

--- set(path, module): puts module at path, replacing what is there.
function Module:set(path, module)
  local parent_path, last = tostring(path):match("^(.*)%.([^.]+)$")
  local parent = parent_path and self:get(parent_path) or self
  last = last or tostring(path)
  local key = last
  if rawget(parent, "_values")[last] == nil and rawget(parent, "_values")[tonumber(last)] ~= nil then
    key = tonumber(last)
  end
  parent[key] = module
  return self
end

--- reset_parameters(): every layer re-initialised as when built.
function Module:reset_parameters()
  for _, c in ipairs(own(self, "module")) do c[2]:reset_parameters() end
end

function Module:__repr()
  local lines = {self.__name .. "("}
  for _, c in ipairs(own(self, "module")) do
    lines[#lines + 1] = ("  (%s): %s"):format(c[1], tostring(c[2]):gsub("\n", "\n  "))
  end
  if #lines == 1 then return self.__name .. "(" .. (self.extra_repr and self:extra_repr() or "") .. ")" end
  lines[#lines + 1] = ")"
  return table.concat(lines, "\n")
end

--- summary([input_shape]): a table of layers with their output shapes (when an input shape,
-- batch dim included, is given), parameter counts and how many of them train.
function Module:summary(input_shape)
  local shapes, handles = {}, {}
  if input_shape then
    for _, m in ipairs(self:named_modules()) do
      local mod = m[2]
      handles[#handles + 1] = mod:register_forward_hook(function(_, _, out)
        if is_tensor(out) then shapes[mod] = "{" .. table.concat(T.shape(out), ", ") .. "}" end
      end)
    end
    local was = self.training
    self:eval()
    local ok, err = pcall(A.no_grad, function() return self(core.zeros(input_shape)) end)
    self:train(was)
    for _, h in ipairs(handles) do h.remove() end
    if not ok then error("summary: " .. tostring(err), 2) end
  end
  local rows = {{"layer", "type", "output", "params", "trainable"}}
  local total, trainable = 0, 0
  for _, m in ipairs(self:named_modules()) do
    local n, t = 0, 0
    for _, p in ipairs(own(m[2], "param")) do
      n = n + T.numel(p[2])
      if p[2].requires_grad then t = t + T.numel(p[2]) end
    end
    total, trainable = total + n, trainable + t
    if m[1] ~= "" then rows[#rows + 1] = {m[1], m[2].__name, shapes[m[2]] or "", tostring(n), tostring(t)} end
  end
  local widths = {}
  for _, r in ipairs(rows) do
    for i, cell in ipairs(r) do widths[i] = math.max(widths[i] or 0, #cell) end
  end
  local out = {}
  for _, r in ipairs(rows) do
    local cells = {}
    for i, cell in ipairs(r) do cells[i] = i >= 4 and (" "):rep(widths[i] - #cell) .. cell or cell .. (" "):rep(widths[i] - #cell) end
    out[#out + 1] = table.concat(cells, "  ")
  end
  out[#out + 1] = ("total parameters: %d, trainable: %d, frozen: %d"):format(total, trainable, total - trainable)
  if input_shape and shapes[self] then out[#out + 1] = "output: " .. shapes[self] end
  return table.concat(out, "\n")
end

return Module
