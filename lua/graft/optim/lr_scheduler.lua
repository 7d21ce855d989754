--- Learning-rate schedulers, with PyTorch's names and closed forms: StepLR, MultiStepLR,
-- CosineAnnealingLR, LinearLR (linear warmup) and OneCycleLR (which also cycles momentum).
-- Each sets the lr of every group when made and at every step().
-- @module graft.optim
local options = require "graft.options"
local S = {}

local Scheduler = {}
Scheduler.__index = Scheduler

local function class(name, init, lr_at)
  local c = setmetatable({__name = name, lr_at = lr_at}, {
    __index = Scheduler,
    __call = function(cls, optimizer, ...)
      local self = setmetatable({optimizer = optimizer, last_epoch = 0}, cls)
      self.base_lrs = {}
      for i, g in ipairs(optimizer.param_groups) do
        g.initial_lr = g.initial_lr or g.lr
        self.base_lrs[i] = g.initial_lr
      end
      init(self, ...)
      self:apply()
      return self
    end,
  })
  c.__index = c
  return c
end

function Scheduler:apply()
  self.last_lrs = {}
  for i, g in ipairs(self.optimizer.param_groups) do
    g.lr = self:lr_at(i, self.last_epoch)
    self.last_lrs[i] = g.lr
  end
end

--- step(): advances one epoch (or one batch, for OneCycleLR) and sets the new rates.
function Scheduler:step()
  self.last_epoch = self.last_epoch + 1
  self:apply()
end

--- get_last_lr(): the learning rate of each group, as last set.
function Scheduler:get_last_lr() return {table.unpack(self.last_lrs)} end

--- state_dict() / load_state_dict(sd): the step count, for resuming.
function Scheduler:state_dict() return {last_epoch = self.last_epoch} end

function Scheduler:load_state_dict(sd)
  self.last_epoch = sd.last_epoch
  self:apply()
end

--- StepLR(opt, step_size [, {gamma = 0.1}])
-- @function StepLR
S.StepLR = class("StepLR", function(self, step_size, opts)
  opts = options.check("StepLR", opts, {gamma = "number"})
  self.step_size, self.gamma = step_size, opts.gamma or 0.1
end, function(self, i, e) return self.base_lrs[i] * self.gamma ^ (e // self.step_size) end)

--- MultiStepLR(opt, milestones [, {gamma = 0.1}])
-- @function MultiStepLR
S.MultiStepLR = class("MultiStepLR", function(self, milestones, opts)
  opts = options.check("MultiStepLR", opts, {gamma = "number"})
  self.milestones, self.gamma = milestones, opts.gamma or 0.1
end, function(self, i, e)
  local passed = 0
  for _, m in ipairs(self.milestones) do if e >= m then passed = passed + 1 end end
  return self.base_lrs[i] * self.gamma ^ passed
end)

--- CosineAnnealingLR(opt, T_max [, {eta_min = 0}])
-- @function CosineAnnealingLR
S.CosineAnnealingLR = class("CosineAnnealingLR", function(self, t_max, opts)
  opts = options.check("CosineAnnealingLR", opts, {eta_min = "number"})
  self.t_max, self.eta_min = t_max, opts.eta_min or 0
end, function(self, i, e)
  return self.eta_min + (self.base_lrs[i] - self.eta_min) * (1 + math.cos(math.pi * e / self.t_max)) / 2
end)

--- LinearLR(opt [, {start_factor = 1/3, end_factor = 1, total_iters = 5}]): linear warmup.
-- @function LinearLR
S.LinearLR = class("LinearLR", function(self, opts)
  opts = options.check("LinearLR", opts, {start_factor = "number", end_factor = "number", total_iters = "integer"})
  self.start_factor, self.end_factor = opts.start_factor or 1 / 3, opts.end_factor or 1
  self.total_iters = opts.total_iters or 5
end, function(self, i, e)
  local f = self.start_factor + (self.end_factor - self.start_factor) * math.min(e, self.total_iters) / self.total_iters
  return self.base_lrs[i] * f
end)

local function anneal(strategy, from, to, pct)
  if strategy == "linear" then return (to - from) * pct + from end
  return to + (from - to) / 2 * (math.cos(math.pi * pct) + 1)
end

--- OneCycleLR(opt, {max_lr, total_steps | epochs + steps_per_epoch, pct_start = 0.3,
-- anneal_strategy = "cos", div_factor = 25, final_div_factor = 1e4, cycle_momentum = true,
-- base_momentum = 0.85, max_momentum = 0.95, three_phase = false}); step() once per batch.
-- @function OneCycleLR
S.OneCycleLR = class("OneCycleLR", function(self, o)
  o = options.check("OneCycleLR", o, {
    max_lr = "number|table", total_steps = "integer", epochs = "integer", steps_per_epoch = "integer",
    pct_start = "number", anneal_strategy = "string", div_factor = "number", final_div_factor = "number",
    cycle_momentum = "boolean", base_momentum = "number", max_momentum = "number", three_phase = "boolean"})
  local total = o.total_steps or (o.epochs and o.steps_per_epoch and o.epochs * o.steps_per_epoch)
  if not total or total < 1 then error("OneCycleLR: total_steps, or epochs and steps_per_epoch, are required", 3) end
  self.total_steps = total
  self.strategy = o.anneal_strategy or "cos"
  local pct = o.pct_start or 0.3
  local div, final_div = o.div_factor or 25, o.final_div_factor or 1e4
  self.cycle_momentum = o.cycle_momentum ~= false
  local groups = self.optimizer.param_groups
  self.bounds = {}
  for i, g in ipairs(groups) do
    local max_lr = type(o.max_lr) == "table" and o.max_lr[i] or o.max_lr
    if not max_lr then error("OneCycleLR: max_lr is required", 3) end
    local initial = max_lr / div
    g.initial_lr, self.base_lrs[i] = initial, initial
    self.bounds[i] = {initial = initial, max = max_lr, min = initial / final_div,
                      base_m = o.base_momentum or 0.85, max_m = o.max_momentum or 0.95}
  end
  if o.three_phase then
    self.phases = {
      {pct * total - 1, "initial", "max", "max_m", "base_m"},
      {2 * pct * total - 2, "max", "initial", "base_m", "max_m"},
      {total - 1, "initial", "min", "max_m", "max_m"},
    }
  else
    self.phases = {{pct * total - 1, "initial", "max", "max_m", "base_m"}, {total - 1, "max", "min", "base_m", "max_m"}}
  end
  if self.cycle_momentum then
    for _, g in ipairs(groups) do
      if g.momentum == nil and g.betas == nil then
        error("OneCycleLR: cycle_momentum needs an optimizer with momentum or betas (or cycle_momentum = false)", 3)
      end
    end
  end
end, function(self, i, e)
  if e > self.total_steps then
    error(("OneCycleLR: stepped %d times, more than total_steps = %d"):format(e, self.total_steps), 3)
  end
  local b, start = self.bounds[i], 0
  for k, ph in ipairs(self.phases) do
    if e <= ph[1] or k == #self.phases then
      local pct = (e - start) / (ph[1] - start)
      if self.cycle_momentum then
        local m = anneal(self.strategy, b[ph[4]], b[ph[5]], pct)
        local g = self.optimizer.param_groups[i]
        if g.betas then g.betas = {m, g.betas[2]} else g.momentum = m end
      end
      return anneal(self.strategy, b[ph[2]], b[ph[3]], pct)
    end
    start = ph[1]
  end
end)

return S
