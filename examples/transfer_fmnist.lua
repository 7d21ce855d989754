#!/usr/bin/env lua5.4
--- The demo (make demo): why transfer learning matters, on real data in a few minutes.
-- The shipped model (models/resnet20_fmnist_a.safetensors) knows split A of Fashion-MNIST
-- (T-shirt/top, Trouser, Pullover, Dress, Coat). Split B (Sandal, Shirt, Sneaker, Bag,
-- Ankle boot) is new to it. With k = 10, 50 and 100 labelled images per class of split B,
-- four ways to get a split-B classifier are compared on all 5,000 split-B test images:
--   scratch       the same architecture, trained from random weights
--   linear_probe  logistic regression on the shipped model's frozen last-stage feature map
--   finetune_top  the shipped model with a new head, only its last stage and head trained
--   finetune_all  everything trained, with discriminative learning rates (lower near the input)
-- Writes results/transfer_fmnist.json and, when gnuplot is installed, results/transfer_fmnist.png.
--   lua5.4 examples/transfer_fmnist.lua [--model PATH] [--out DIR] [--seed N] [--k 10,50,100]
local graft = require "graft"
local data, T, transfer = graft.data, graft.data.transforms, graft.transfer

local parse_options = dofile(arg[0]:gsub("[^/]*$", "") .. "options.lua")   -- examples/options.lua
local opts = parse_options({model = "models/resnet20_fmnist_a.safetensors", out = "results", seed = 1, k = "10,50,100"},
  "usage: lua5.4 examples/transfer_fmnist.lua [--model PATH] [--out DIR] [--seed N] [--k 10,50,100]")
local ks = {}
for k in tostring(opts.k):gmatch("%d+") do ks[#ks + 1] = tonumber(k) end

local t0 = graft.clock()
local pretrained = graft.load_model(opts.model)
local cfg = pretrained.config
local MEAN, STD = cfg.mean, cfg.std
local SPLIT_B = {6, 7, 8, 9, 10}

-- Split B relabelled 1..5, as tensors (so batches are gathers, not per-item work).
local function split_b(name)
  local ds = data.FashionMNIST(name)
  local idx = {}
  for k = 1, #ds do if ds:label(k) >= 6 then idx[#idx + 1] = k end end
  local sel = graft.tensor(idx, "i64")
  local x = (ds.images:index_select(1, sel):to("f32") / 255 - MEAN[1]) / STD[1]
  return data.TensorDataset(x:unsqueeze(2), ds.labels:index_select(1, sel) - 5)
end
local train_b, test_b = split_b("train"), split_b("test")
local test_loader = data.Loader(test_b, {batch_size = 250})
io.stderr:write(("loaded %s (split-A test accuracy %s) and split B: %d train, %d test images\n"):format(
  opts.model, cfg.test_accuracy and ("%.4f"):format(cfg.test_accuracy) or "?", #train_b, #test_b))

-- Augmentation for the small training sets: the same as pretraining used.
local augment = T.Compose {T.RandomCrop(28, {padding = 2}), T.RandomHorizontalFlip()}
local function augmented(ds)
  local a = setmetatable({}, {__len = function() return #ds end})
  function a:get(k, rng) local x, y = ds:get(k) return augment(x, rng), y end
  return a
end

local function accuracy(model) return graft.evaluate(model, test_loader, {progress = false}).accuracy end

-- Training budgets: about the same number of optimizer steps whatever k is, and the same
-- for every method that trains (160), so no method wins by training longer.
local function epochs_for(n, steps) return math.max(4, math.ceil(steps / math.ceil(n / 32))) end

local function train(model, ds, optimizer, steps, extra)
  local loader = data.Loader(augmented(ds), {batch_size = 32, shuffle = true, seed = opts.seed})
  local epochs = epochs_for(#ds, steps)
  local sched = graft.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
  local o = {epochs = epochs, optimizer = optimizer, scheduler = sched, progress = false}
  for k, v in pairs(extra or {}) do o[k] = v end
  graft.fit(model, loader, o)
  return model
end

local function fresh_pretrained()
  local m = graft.load_model(opts.model)
  m:reset_classifier(5)
  return m
end

local methods = {
  scratch = function(ds)
    graft.manual_seed(opts.seed)
    local m = graft.models.resnet20_cifar {num_classes = 5, in_chans = 1}
    return accuracy(train(m, ds, graft.optim.AdamW(m:parameters(), {lr = 3e-3}), 160))
  end,
  -- The probe reads the last stage's feature map unpooled (64 x 7 x 7): a head trained on five
  -- clothing classes pools away where things are, and shoes differ from each other by shape.
  linear_probe = function(ds)
    local loader = data.Loader(ds, {batch_size = 500})
    local f, y = graft.extract(pretrained, loader, {layer = "layer3", pool = "none", progress = false})
    local head = transfer.linear_probe(f, y, {seed = opts.seed})
    local m = graft.load_model(opts.model)
    m.avgpool = graft.nn.Identity()
    m:set(m.head_path, head)
    return accuracy(m)
  end,
  finetune_top = function(ds)
    graft.manual_seed(opts.seed)
    local m = fresh_pretrained()
    m:freeze()
    m:unfreeze("^layer3%.")
    m:unfreeze("^fc%.")
    return accuracy(train(m, ds, graft.optim.AdamW(m:trainable_parameters(), {lr = 1e-3}), 160))
  end,
  finetune_all = function(ds)
    graft.manual_seed(opts.seed)
    local m = fresh_pretrained()
    local groups = transfer.param_groups(m, {base_lr = 1e-3, decay = 0.5})
    return accuracy(train(m, ds, graft.optim.AdamW(groups), 160))
  end,
}
local order = {"scratch", "linear_probe", "finetune_top", "finetune_all"}

local results = {k = ks, accuracy = {}}
for _, name in ipairs(order) do results.accuracy[name] = {} end
print(("%-14s" .. ("%10s"):rep(#ks)):format("k per class", table.unpack(ks)))
io.stdout:flush()
for ki, k in ipairs(ks) do
  local shots = data.per_class(train_b, k, {seed = opts.seed})
  for _, name in ipairs(order) do
    local t = graft.clock()
    results.accuracy[name][ki] = methods[name](shots)
    io.stderr:write(("  k = %3d  %-13s %.4f  (%.0f s)\n"):format(k, name, results.accuracy[name][ki], graft.clock() - t))
  end
end
for _, name in ipairs(order) do
  local cells = {}
  for ki in ipairs(ks) do cells[ki] = ("%10.4f"):format(results.accuracy[name][ki]) end
  print(("%-14s%s"):format(name, table.concat(cells)))
end
results.seconds = graft.clock() - t0
print(("%.0f s"):format(results.seconds))

os.execute("mkdir -p " .. opts.out)
local f = assert(io.open(opts.out .. "/transfer_fmnist.json", "w"))
f:write(graft.json.encode(results), "\n")
f:close()

-- The picture: accuracy against labelled images per class, one line per method.
local have_gnuplot = os.execute("command -v gnuplot > /dev/null 2>&1")
if have_gnuplot then
  local dat = opts.out .. "/transfer_fmnist.dat"
  local d = assert(io.open(dat, "w"))
  d:write("# k scratch linear_probe finetune_top finetune_all\n")
  for ki, k in ipairs(ks) do
    d:write(k)
    for _, name in ipairs(order) do d:write(" ", results.accuracy[name][ki]) end
    d:write("\n")
  end
  d:close()
  local script = ([[
set terminal pngcairo size 800,560 font ",11" noenhanced
set output "%s/transfer_fmnist.png"
set title "Fashion-MNIST split B: transfer from split A (ResNet-20)"
set xlabel "labelled images per class (k)"
set ylabel "test accuracy (5,000 split-B images)"
set logscale x
set xrange [%g:%g]
set xtics (%s)
set yrange [0.5:1]
set ytics 0.05
set grid
set key bottom right
plot for [c=2:5] "%s" using 1:c with linespoints lw 2 pt 7 title word("scratch linear_probe finetune_top finetune_all", c - 1)
]]):format(opts.out, ks[1] * 0.8, ks[#ks] * 1.25, table.concat(ks, ", "), dat)
  local p = io.popen("gnuplot 2>&1", "w")
  p:write(script)
  p:close()
  os.remove(dat)
  print("wrote " .. opts.out .. "/transfer_fmnist.json and " .. opts.out .. "/transfer_fmnist.png")
else
  print("wrote " .. opts.out .. "/transfer_fmnist.json (no plot: gnuplot is not installed; apt-get install gnuplot-nox)")
end
