--- Losses as modules: CrossEntropyLoss, NLLLoss, MSELoss, BCEWithLogitsLoss. Options as in
-- PyTorch (weight, reduction, ignore_index, label_smoothing, pos_weight); labels are 1-based.
-- @module graft.nn
local F = require "graft.functional"
local Module = require "graft.nn.module"

local losses = {}

local function loss(name, fn, allowed)
  local class = Module:extend("nn." .. name)
  function class:init(opts)
    for k in pairs(opts or {}) do
      if not allowed[k] then error(("nn.%s: unknown option %q"):format(name, k), 4) end
    end
    rawset(self, "opts", opts or {})
  end
  function class:forward(input, target) return fn(input, target, self.opts) end
  class.reset_parameters = function() end
  losses[name] = class
end

--- F.cross_entropy as a module.
-- @tparam[opt] table opts `{weight, reduction = "mean", ignore_index, label_smoothing = 0}`
-- @function CrossEntropyLoss
loss("CrossEntropyLoss", F.cross_entropy, {weight = true, reduction = true, ignore_index = true, label_smoothing = true})
--- F.nll_loss as a module.
-- @tparam[opt] table opts `{weight, reduction, ignore_index}`
-- @function NLLLoss
loss("NLLLoss", F.nll_loss, {weight = true, reduction = true, ignore_index = true})
--- F.mse_loss as a module.
-- @tparam[opt] table opts `{reduction}`
-- @function MSELoss
loss("MSELoss", F.mse_loss, {reduction = true})
--- F.binary_cross_entropy_with_logits as a module.
-- @tparam[opt] table opts `{weight, pos_weight, reduction}`
-- @function BCEWithLogitsLoss
loss("BCEWithLogitsLoss", F.binary_cross_entropy_with_logits, {weight = true, pos_weight = true, reduction = true})

return losses
