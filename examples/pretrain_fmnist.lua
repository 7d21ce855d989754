#!/usr/bin/env lua5.4
--- Trains the model shipped in models/: a ResNet-20 (CIFAR-style) on split A of
-- Fashion-MNIST — T-shirt/top, Trouser, Pullover, Dress, Coat — all 30,000 training images
-- of those classes, and reports its accuracy on their 5,000 test images. Deterministic for
-- a seed (and a thread count).
--   lua5.4 examples/pretrain_fmnist.lua [--epochs 15] [--seed 1] [--out models/resnet20_fmnist_a.safetensors]
local graft = require "graft"
local data, T = graft.data, graft.data.transforms

local parse_options = dofile(arg[0]:gsub("[^/]*$", "") .. "options.lua")   -- examples/options.lua
local opts = parse_options({epochs = 15, seed = 1, out = "models/resnet20_fmnist_a.safetensors", batch = 128,
                           lr = 0.1},
  "usage: lua5.4 examples/pretrain_fmnist.lua [--epochs N] [--seed N] [--out PATH] [--batch N] [--lr X]")

local SPLIT_A = {1, 2, 3, 4, 5}
local MEAN, STD = {0.2860}, {0.3530}   -- Fashion-MNIST's training-set pixel statistics

-- The items of split A, relabelled 1..5 in the data set's class order.
local function split(ds, classes)
  local keep = {}
  for _, c in ipairs(classes) do keep[c] = true end
  local idx = {}
  for k = 1, #ds do if keep[ds:label(k)] then idx[#idx + 1] = k end end
  return data.Subset(ds, idx)
end

local augment = T.Compose {T.RandomCrop(28, {padding = 2}), T.RandomHorizontalFlip(), T.Normalize(MEAN, STD)}
local train = split(data.FashionMNIST("train", {transform = augment}), SPLIT_A)
local test = split(data.FashionMNIST("test", {transform = T.Normalize(MEAN, STD)}), SPLIT_A)

graft.manual_seed(opts.seed)
local model = graft.models.resnet20_cifar {num_classes = #SPLIT_A, in_chans = 1}
local classes = {}
for k, c in ipairs(SPLIT_A) do classes[k] = data.FashionMNIST.classes[c] end
local cfg = model.config
cfg.classes, cfg.input_size, cfg.mean, cfg.std, cfg.crop_pct = classes, {1, 28, 28}, MEAN, STD, 1
cfg.dataset = "Fashion-MNIST split A (classes 1-5)"

local loader = data.Loader(train, {batch_size = opts.batch, shuffle = true, seed = opts.seed, drop_last = true})
local opt = graft.optim.SGD(model:parameters(), {lr = opts.lr, momentum = 0.9, nesterov = true, weight_decay = 5e-4})
local sched = graft.optim.lr_scheduler.OneCycleLR(opt, {max_lr = opts.lr, epochs = opts.epochs, steps_per_epoch = #loader})
local t0 = graft.clock()
local history = graft.fit(model, loader, {
  epochs = opts.epochs, optimizer = opt, scheduler = sched, val = data.Loader(test, {batch_size = 500}),
  checkpoint = opts.out .. ".ckpt", resume = opts.out .. ".ckpt",
})
local r = graft.evaluate(model, data.Loader(test, {batch_size = 500}), {progress = false})
cfg.test_accuracy = r.accuracy
graft.save_model(model, opts.out)
os.remove(opts.out .. ".ckpt")
print(("%s: split-A test accuracy %.4f (%d images), %d epochs, %.0f s"):format(opts.out, r.accuracy, r.count,
  #history, graft.clock() - t0))
for k, acc in ipairs(r.per_class) do print(("  %-12s %.4f"):format(classes[k], acc)) end
