-- Losses as modules: CrossEntropyLoss, NLLLoss, MSELoss, BCEWithLogitsLoss. Options as in
-- PyTorch (weight, reduction, ignore_index, label_smoothing, pos_weight); labels are 1-based.
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

loss("CrossEntropyLoss", F.cross_entropy, {weight = true, reduction = true, ignore_index = true, label_smoothing = true})
loss("NLLLoss", F.nll_loss, {weight = true, reduction = true, ignore_index = true})
loss("MSELoss", F.mse_loss, {reduction = true})
loss("BCEWithLogitsLoss", F.binary_cross_entropy_with_logits, {weight = true, pos_weight = true, reduction = true})

return losses
