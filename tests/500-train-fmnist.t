#!/usr/bin/env lua5.4
-- tests/500-train-fmnist.t — the whole stack learns: a small CNN trained on 2,000 real
-- Fashion-MNIST images for 3 epochs reaches at least 80% accuracy on 1,000 test images.
local T, graft = require "tap", require "graft"
local nn, F = graft.nn, graft.F
local seed = T.seed()
graft.manual_seed(seed)
T.plan(4)

local train, test = graft.data.FashionMNIST("train"), graft.data.FashionMNIST("test")
T.is(#train, 60000, "Fashion-MNIST train has 60000 images")
local function batch(ds, idx)
  local x = ds.images:index_select(1, idx):unsqueeze(2):to("f32") / 255
  return (x - 0.286) / 0.353, ds.labels:index_select(1, idx)
end

local model = nn.Sequential{
  nn.Conv2d(1, 16, 3, {padding = 1}), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
  nn.Conv2d(16, 32, 3, {padding = 1}), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
  nn.Flatten(), nn.Dropout(0.2), nn.Linear(32 * 7 * 7, 10),
}
local n, bs = 2000, 32
local steps = n // bs
local opt = graft.optim.Adam(model:parameters(), {lr = 3e-3})
local sched = graft.optim.OneCycleLR(opt, {max_lr = 3e-3, total_steps = 3 * steps})
local t0 = graft.clock()
local first_loss, last_loss
for epoch = 1, 3 do
  model:train()
  local order = graft.randperm(n)
  local total = 0
  for b = 1, steps do
    local x, y = batch(train, order:narrow(1, (b - 1) * bs + 1, bs))
    opt:zero_grad()
    local loss = F.cross_entropy(model(x), y)
    loss:backward()
    opt:step()
    sched:step()
    total = total + loss:item()
  end
  last_loss = total / steps
  first_loss = first_loss or last_loss
  T.diag(("epoch %d: mean training loss %.4f"):format(epoch, last_loss))
end
T.ok(last_loss < first_loss, ("the training loss falls (%.3f -> %.3f)"):format(first_loss, last_loss))

model:eval()
local correct = 0
graft.no_grad(function()
  for b = 1, 10 do
    local x, y = batch(test, graft.arange(b * 100 - 99, b * 100 + 1))
    correct = correct + model(x):argmax(2):eq(y):to("i64"):sum():item()
  end
end)
local acc = correct / 1000
T.diag(("%.1f s for 3 epochs and the evaluation"):format(graft.clock() - t0))
T.ok(acc >= 0.80, ("accuracy on 1000 test images is %.1f%% (needs 80%%)"):format(acc * 100))
T.error_like(function() graft.data.FashionMNIST("valid") end, 'FashionMNIST: split must be "train" or "test"', "a bad split is explained")
T.done()
