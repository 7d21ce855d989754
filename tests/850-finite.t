#!/usr/bin/env lua5.4
-- graft.check_finite, and fit's check_finite option naming the parameter whose gradient
-- went bad before any weight moves.
local T, graft = require "tap", require "graft"
local nn, data = graft.nn, graft.data

local ok_t = graft.tensor{1, -2, 3.5}
T.is(graft.check_finite(ok_t), ok_t, "a finite tensor comes back as it is")
local ints = graft.tensor({1, 2}, "i64")
T.is(graft.check_finite(ints), ints, "integer tensors are always finite")
local bad = graft.tensor{{1, 0 / 0, 3}, {math.huge, -math.huge, 0 / 0}}
T.error_like(function() graft.check_finite(bad, "activations") end,
             "check_finite: activations {2,3} has 2 NaN and 2 infinite values (the first at flat position 2)",
             "NaN and Inf are counted, the first position named")
T.error_like(function() graft.check_finite(graft.tensor{0, 0, 1 / 0}) end,
             "tensor {3} has 0 NaN and 1 infinite values (the first at flat position 3)", "an infinity alone is caught")
T.error_like(function() graft.check_finite("x") end, "check_finite: expected a tensor", "a non-tensor is refused")

-- fit: a loss finite in value whose gradient is NaN (sqrt at 0 gives an infinite slope)
graft.manual_seed(3)
local model = nn.Sequential{nn.Linear(4, 3)}
local x, y = graft.randn{8, 4}, graft.tensor({1, 2, 3, 1, 2, 3, 1, 2}, "i64")
local loader = data.Loader(data.TensorDataset(x, y), {batch_size = 4})
local before = model:at(1).weight:clone()
local function sqrt_loss(logits) return (logits * 0):sqrt():sum() end
local ok, err = pcall(graft.fit, model, loader, {epochs = 1, loss = sqrt_loss, check_finite = true, progress = false,
                                                 optimizer = graft.optim.SGD(model:parameters(), {lr = 0.1})})
T.ok(not ok, "fit stops on a non-finite gradient")
T.like(tostring(err), "fit: the gradient of 0.weight {3,4} has 12 NaN and 0 infinite values (the first at flat position 1) at epoch 1, batch 1; stopped before updating the weights",
       "the error names the parameter, the epoch and the batch")
T.ok(graft.allclose(model:at(1).weight, before, 0, 0), "no weight moved")
local ok2 = pcall(graft.fit, model, loader, {epochs = 1, check_finite = true, progress = false})
T.ok(ok2, "a healthy run passes the check")
T.done()
