--- Losses as modules: CrossEntropyLoss, NLLLoss, MSELoss, BCEWithLogitsLoss. Options as in
-- PyTorch (weight, reduction, ignore_index, label_smoothing, pos_weight); labels are 1-based.
-- @module graft.nn
local F = require "graft.functional"
local Module = require "graft.nn.module"
local options = require "graft.options"

local losses = {}

-- A loss module takes the options of its function in graft.F (graft.options checks them).
local function loss(name, fn, spec)
  local class = Module:extend("nn." .. name)
  function class:init(opts)
    rawset(self, "opts", options.check("nn." .. name, opts, spec))
  end
  function class:forward(input, target) return fn(input, target, self.opts) end
  class.reset_parameters = function() end
  losses[name] = class
end

--- F.cross_entropy as a module.
-- @tparam[opt] table opts `{weight, reduction = "mean", ignore_index, label_smoothing = 0}`
-- @function CrossEntropyLoss
loss("CrossEntropyLoss", F.cross_entropy, F.OPTIONS.cross_entropy)
--- F.nll_loss as a module.
-- @tparam[opt] table opts `{weight, reduction, ignore_index}`
-- @function NLLLoss
loss("NLLLoss", F.nll_loss, F.OPTIONS.nll_loss)
--- F.mse_loss as a module.
-- @tparam[opt] table opts `{reduction}`
-- @function MSELoss
loss("MSELoss", F.mse_loss, F.OPTIONS.mse_loss)
--- F.binary_cross_entropy_with_logits as a module.
-- @tparam[opt] table opts `{weight, pos_weight, reduction}`
-- @function BCEWithLogitsLoss
loss("BCEWithLogitsLoss", F.binary_cross_entropy_with_logits, F.OPTIONS.binary_cross_entropy_with_logits)

return losses
