--- graft.optim: SGD, Adam and AdamW over parameter groups (discriminative learning rates),
-- their state dicts for resuming, and the learning-rate schedulers (graft.optim.lr_scheduler).
-- The updates are C kernels that follow torch.optim's formulas.
-- @module graft.optim
local core = require "graft.core"
local A = require "graft.autograd"
local options = require "graft.options"

local T = core.Tensor
local K = core.nn
local tensor_mt = getmetatable(core.empty(0))
local function is_tensor(x) return getmetatable(x) == tensor_mt end

local Optimizer = {}
Optimizer.__index = Optimizer

-- defaults: each option's default (false: required); spec: each option's type (graft.options).
local function class(name, defaults, update, spec)
  local c = setmetatable({__name = name, defaults = defaults, update = update, spec = spec}, {
    __index = Optimizer,
    __call = function(cls, params, opts) return Optimizer.new(cls, params, opts) end,
  })
  c.__index = c
  return c
end

function Optimizer.new(cls, params, opts)
  local name = cls.__name
  opts = options.check(name, opts, cls.spec)
  if type(params) ~= "table" or #params == 0 then error(name .. ": got an empty parameter list", 3) end
  local groups = is_tensor(params[1]) and {{params = params}} or params
  local self = setmetatable({param_groups = {}, state = {}}, cls)
  local seen = {}
  for gi, g in ipairs(groups) do
    if type(g) ~= "table" or type(g.params) ~= "table" then
      error(("%s: group %d needs a params array"):format(name, gi), 3)
    end
    local group = {params = {}}
    for k, v in pairs(cls.defaults) do
      local val = g[k]
      if val == nil then val = opts[k] end
      if val == nil then val = v end
      group[k] = val
    end
    -- A group's other fields are data (a name, a tag for the caller): kept as they are.
    for k, v in pairs(g) do
      if cls.spec[k] then options.check_value(("%s: group %d"):format(name, gi), k, v, cls.spec[k])
      elseif k ~= "params" then group[k] = v end
    end
    if group.lr == false then error(name .. ": lr is required", 3) end
    for i, p in ipairs(g.params) do
      if not is_tensor(p) or T.dtype(p) ~= "f32" then error(("%s: parameter %d of group %d is not an f32 tensor"):format(name, i, gi), 3) end
      if seen[p] then error(("%s: a parameter appears in more than one group"):format(name), 3) end
      seen[p] = true
      group.params[#group.params + 1] = p
    end
    if cls.validate then cls.validate(group, name) end
    self.param_groups[gi] = group
  end
  return self
end

--- zero_grad(): drops every parameter's .grad (as set_to_none in PyTorch).
function Optimizer:zero_grad()
  for _, g in ipairs(self.param_groups) do
    for _, p in ipairs(g.params) do p.grad = nil end
  end
end

--- step(): one update of every parameter that has a gradient.
function Optimizer:step()
  A.no_grad(function()
    for gi, group in ipairs(self.param_groups) do
      -- a rate set on the group after construction (by hand or a scheduler) is checked here,
      -- by name, before the C update sees it
      if type(group.lr) ~= "number" then
        if group.lr == nil then options.raise(("%s: group %d has no lr"):format(self.__name, gi)) end
        options.check_value(("%s: group %d"):format(self.__name, gi), "lr", group.lr, "number")
      end
      for _, p in ipairs(group.params) do
        local g = p.grad
        if g ~= nil then
          local st = self.state[p]
          if not st then
            st = {}
            self.state[p] = st
          end
          self.update(p, T.contiguous(g), group, st)
        end
      end
    end
  end)
end

local function all_params(self)
  local list = {}
  for _, g in ipairs(self.param_groups) do
    for _, p in ipairs(g.params) do list[#list + 1] = p end
  end
  return list
end

--- state_dict(): {state = {[i] = {...}}, param_groups = {{lr = ..., params = {i, ...}}}} with
-- parameters numbered 1.. in group order, as PyTorch numbers them from 0.
function Optimizer:state_dict()
  local index, state, groups = {}, {}, {}
  for i, p in ipairs(all_params(self)) do
    index[p] = i
    if self.state[p] then
      local s = {}
      for k, v in pairs(self.state[p]) do s[k] = is_tensor(v) and T.clone(v) or v end
      state[i] = s
    end
  end
  for gi, g in ipairs(self.param_groups) do
    local copy = {params = {}}
    for k, v in pairs(g) do if k ~= "params" then copy[k] = type(v) == "table" and {table.unpack(v)} or v end end
    for _, p in ipairs(g.params) do copy.params[#copy.params + 1] = index[p] end
    groups[gi] = copy
  end
  return {state = state, param_groups = groups}
end

--- load_state_dict(sd): restores the state and the groups' hyperparameters.
function Optimizer:load_state_dict(sd)
  local params = all_params(self)
  if #sd.param_groups ~= #self.param_groups then
    error(("%s.load_state_dict: %d groups in the state, %d here"):format(self.__name, #sd.param_groups, #self.param_groups), 2)
  end
  for gi, g in ipairs(sd.param_groups) do
    if #g.params ~= #self.param_groups[gi].params then
      error(("%s.load_state_dict: group %d has %d parameters in the state, %d here"):format(
        self.__name, gi, #g.params, #self.param_groups[gi].params), 2)
    end
    for k, v in pairs(g) do if k ~= "params" then self.param_groups[gi][k] = v end end
  end
  self.state = {}
  for i, s in pairs(sd.state) do
    local p = params[i]
    local copy = {}
    for k, v in pairs(s) do copy[k] = is_tensor(v) and T.clone(v) or v end
    self.state[p] = copy
  end
end

local optim = {Optimizer = Optimizer}

-- torch.optim's range checks, with its words: a negative rate or decay would train
-- silently in the wrong direction. "not (v >= 0)" also refuses NaN, as PyTorch does.
local function nonnegative(name, group, key, what)
  local v = group[key]
  if type(v) == "number" and not (v >= 0) then
    options.raise(("%s: Invalid %s: %s"):format(name, what, tostring(v)))
  end
end

--- SGD(params, {lr, momentum, dampening, weight_decay, nesterov})
-- @function SGD
optim.SGD = class("SGD", {lr = false, momentum = 0, dampening = 0, weight_decay = 0, nesterov = false},
  function(p, g, group, st)
    local buf = nil
    local first = false
    if group.momentum ~= 0 then
      buf = st.momentum_buffer
      if not buf then
        buf = core.zeros(T.shape(p))
        st.momentum_buffer = buf
        first = true
      end
    end
    K.sgd_update(p, g, buf, {lr = group.lr, momentum = group.momentum, dampening = group.dampening,
                             weight_decay = group.weight_decay, nesterov = group.nesterov, first = first})
  end, {lr = "number", momentum = "number", dampening = "number", weight_decay = "number", nesterov = "boolean"})
optim.SGD.validate = function(group, name)
  nonnegative(name, group, "lr", "learning rate")
  nonnegative(name, group, "momentum", "momentum value")
  nonnegative(name, group, "weight_decay", "weight_decay value")
  if group.nesterov and (group.momentum <= 0 or group.dampening ~= 0) then
    error(name .. ": nesterov needs a momentum and zero dampening", 4)
  end
end

local function adam(name, weight_decay, decoupled)
  local c = class(name, {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = weight_decay},
    function(p, g, group, st)
      if not st.exp_avg then
        st.step, st.exp_avg, st.exp_avg_sq = 0, core.zeros(T.shape(p)), core.zeros(T.shape(p))
      end
      st.step = st.step + 1
      K.adam_update(p, g, st.exp_avg, st.exp_avg_sq, {lr = group.lr, beta1 = group.betas[1], beta2 = group.betas[2],
                    eps = group.eps, weight_decay = group.weight_decay, step = st.step, decoupled = decoupled})
    end, {lr = "number", betas = "table", eps = "number", weight_decay = "number"})
  c.validate = function(group, n)
    nonnegative(n, group, "lr", "learning rate")
    nonnegative(n, group, "eps", "epsilon value")
    local b = group.betas
    if type(b) ~= "table" or type(b[1]) ~= "number" or type(b[2]) ~= "number" then
      error(n .. ": betas must be {beta1, beta2} in [0, 1)", 4)
    end
    for i = 1, 2 do
      if not (b[i] >= 0 and b[i] < 1) then
        options.raise(("%s: Invalid beta parameter at index %d: %s"):format(n, i - 1, tostring(b[i])))
      end
    end
    nonnegative(n, group, "weight_decay", "weight_decay value")
  end
  return c
end
--- Adam(params, {lr, betas, eps, weight_decay}) — weight decay added to the gradient.
-- @function Adam
optim.Adam = adam("Adam", 0, false)
--- AdamW(params, {lr, betas, eps, weight_decay = 0.01}) — decoupled weight decay.
-- @function AdamW
optim.AdamW = adam("AdamW", 1e-2, true)

optim.lr_scheduler = require "graft.optim.lr_scheduler"
for k, v in pairs(optim.lr_scheduler) do optim[k] = v end

return optim
