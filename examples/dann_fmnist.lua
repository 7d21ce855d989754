#!/usr/bin/env lua5.4
--- Domain adaptation on Fashion-MNIST: labelled source images, and an unlabelled target
-- domain of the same kind of images with heavy Gaussian noise (or, with --shift, blended
-- into random backgrounds as MNIST-M is made from MNIST, or inverted).
-- Trains the same network twice — on the source alone, and with DANN (a domain classifier
-- behind a gradient-reversal layer) — and reports accuracy on the target domain's test set.
--   lua5.4 examples/dann_fmnist.lua [--epochs N] [--train N] [--seed N] [--shift noise|blend|invert] [--json PATH]
local graft = require "graft"
local nn, data = graft.nn, graft.data

local parse_options = dofile(arg[0]:gsub("[^/]*$", "") .. "options.lua")   -- examples/options.lua
local opts = parse_options({epochs = 4, train = 12000, seed = 1, shift = "noise", json = ""},
  "usage: lua5.4 examples/dann_fmnist.lua [--epochs N] [--train N] [--seed N] [--shift noise|blend|invert] [--json PATH]")

-- A LeNet-style network as in Ganin & Lempitsky's digit experiments: features, then a head.
local Net = nn.Module:extend "DannNet"
function Net:init(classes)
  self.features = nn.Sequential {
    nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 48, 5), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(48 * 4 * 4, 128), nn.ReLU(),
  }
  self.fc = nn.Linear(128, classes)
  rawset(self, "head_path", "fc")
  rawset(self, "num_features", 128)
end
function Net:forward_features(x) return self.features(x) end
function Net:forward(x) return self.fc(self.features(x)) end

local train, test = data.FashionMNIST("train"), data.FashionMNIST("test")
local n = opts.train

-- The target domain: "blend" is |background - x| with a background of 7x7 uniform noise
-- resized to 28x28; "noise" adds Gaussian noise (std 0.5); "invert" is 1 - x.
local function shifted(ds, first, count, seed)
  graft.manual_seed(seed)
  local x = ds.images:narrow(1, first, count):to("f32") / 255
  local t
  if opts.shift == "blend" then
    t = (data.transforms.Resize({28, 28})(graft.rand(count, 7, 7)) - x):abs()
  elseif opts.shift == "noise" then
    t = (x + graft.randn(count, 28, 28) * 0.5):clamp(0, 1)
  else
    t = 1 - x
  end
  return data.TensorDataset(t:unsqueeze(2), ds.labels:narrow(1, first, count))
end
local source = data.Subset(train, (function() local t = {} for k = 1, n do t[k] = k end return t end)())
local target = shifted(train, n + 1, n, 100)        -- other images; their labels are never used
local target_test = shifted(test, 1, 5000, 101)
local source_test = data.Subset(test, (function() local t = {} for k = 1, 5000 do t[k] = k end return t end)())

local function loaders(seed)
  return data.Loader(source, {batch_size = 64, shuffle = true, seed = seed}),
         data.Loader(target, {batch_size = 64, shuffle = true, seed = seed + 1})
end
local function accuracy(model, ds) return graft.evaluate(model, data.Loader(ds, {batch_size = 500}), {progress = false}).accuracy end

local t0 = graft.clock()
graft.manual_seed(opts.seed)
local plain = Net(10)
local src = loaders(opts.seed)
graft.fit(plain, src, {epochs = opts.epochs, optimizer = graft.optim.Adam(plain:parameters(), {lr = 1e-3}), progress = false})
local plain_target, plain_source = accuracy(plain, target_test), accuracy(plain, source_test)
print(("source only: target accuracy %.4f (source test %.4f)"):format(plain_target, plain_source))

graft.manual_seed(opts.seed)
local adapted = Net(10)
local src2, tgt = loaders(opts.seed)
graft.transfer.dann(adapted, src2, tgt, {epochs = opts.epochs, lr = 1e-3, progress = false,
  on_epoch = function(r)
    print(("  dann epoch %d: loss %.4f, domain accuracy %.3f, lambda %.2f"):format(r.epoch, r.loss, r.domain_accuracy, r.lambda))
  end})
local dann_target, dann_source = accuracy(adapted, target_test), accuracy(adapted, source_test)
print(("DANN:        target accuracy %.4f (source test %.4f)"):format(dann_target, dann_source))
print(("%.0f s"):format(graft.clock() - t0))

if opts.json ~= "" then
  local f = assert(io.open(opts.json, "w"))
  f:write(graft.json.encode {source_only = {target = plain_target, source = plain_source},
                             dann = {target = dann_target, source = dann_source}, epochs = opts.epochs, train = n,
                             seconds = graft.clock() - t0}, "\n")
  f:close()
end
