#!/usr/bin/env lua5.4
--- How transferable are features? Yosinski et al. 2014's experiment on Fashion-MNIST.
-- Two base networks are trained, baseA on split A (T-shirt/top, Trouser, Pullover, Dress,
-- Coat) and baseB on split B (Sandal, Shirt, Sneaker, Bag, Ankle boot). For each depth n,
-- a network for B copies the first n layers of a base network and trains the rest from
-- random weights on B:
--   BnB   first n layers from baseB, frozen        BnB+  ... fine-tuned
--   AnB   first n layers from baseA, frozen        AnB+  ... fine-tuned
-- and is evaluated on all split-B test images. The network is the paper's shape scaled
-- down: four 3x3 convolutions (pooling after the 2nd and 4th) and two fully connected
-- layers, no BatchNorm (so co-adaptation between layers is not smoothed away).
-- Writes results/transferability.json (and .png with gnuplot).
--   lua5.4 examples/transferability.lua [--train N] [--epochs N] [--seed N] [--out DIR]
local graft = require "graft"
local nn, data = graft.nn, graft.data

local parse_options = dofile(arg[0]:gsub("[^/]*$", "") .. "options.lua")   -- examples/options.lua
local opts = parse_options({train = 6000, epochs = 3, seed = 1, out = "results"},
  "usage: lua5.4 examples/transferability.lua [--train N] [--epochs N] [--seed N] [--out DIR]")

-- The layers, each a module whose parameters are copied together ("layer n" of the paper).
local function layers()
  return {
    nn.Sequential {nn.Conv2d(1, 16, 3, {padding = 1}), nn.ReLU()},
    nn.Sequential {nn.Conv2d(16, 16, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2)},
    nn.Sequential {nn.Conv2d(16, 32, 3, {padding = 1}), nn.ReLU()},
    nn.Sequential {nn.Conv2d(32, 32, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2)},
    nn.Sequential {nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU()},
    nn.Linear(128, 5),
  }
end
local DEPTHS = 5   -- n = 1..5 (the last layer is always trained from scratch)
local function network() return nn.Sequential(layers()) end

local function split(name, classes)
  local ds = data.FashionMNIST(name)
  local first, idx = classes[1], {}
  for k = 1, #ds do
    local y = ds:label(k)
    if y >= first and y < first + 5 then idx[#idx + 1] = k end
    if name == "train" and #idx == opts.train then break end
  end
  local sel = graft.tensor(idx, "i64")
  local x = (ds.images:index_select(1, sel):to("f32") / 255 - 0.2860) / 0.3530
  return data.TensorDataset(x:unsqueeze(2), ds.labels:index_select(1, sel) - (first - 1))
end
local trainA, trainB = split("train", {1}), split("train", {6})
local testB = split("test", {6})
local test_loader = data.Loader(testB, {batch_size = 1000})

local function train(model, ds, seed)
  local params = model:trainable_parameters()
  graft.fit(model, data.Loader(ds, {batch_size = 64, shuffle = true, seed = seed}), {
    epochs = opts.epochs, optimizer = graft.optim.Adam(params, {lr = 1e-3}), progress = false})
  return model
end
local function accuracy(model) return graft.evaluate(model, test_loader, {progress = false}).accuracy end

local t0 = graft.clock()
graft.manual_seed(opts.seed)
local baseA = train(network(), trainA, opts.seed)
graft.manual_seed(opts.seed + 1)
local baseB = train(network(), trainB, opts.seed + 1)
local base_acc = accuracy(baseB)
io.stderr:write(("baseB: %.4f on split B (%.0f s)\n"):format(base_acc, graft.clock() - t0))

local results = {n = {}, baseB = base_acc, accuracy = {BnB = {}, ["BnB+"] = {}, AnB = {}, ["AnB+"] = {}}}
local conditions = {{"BnB", baseB, false}, {"BnB+", baseB, true}, {"AnB", baseA, false}, {"AnB+", baseA, true}}
for n = 1, DEPTHS do
  results.n[n] = n
  for ci, c in ipairs(conditions) do
    graft.manual_seed(opts.seed + 100 * n + ci)
    local model = network()
    for l = 1, n do
      local src = c[2]:at(l):state_dict()
      model:at(l):load_state_dict(src)
      if not c[3] then model:freeze("^" .. (l - 1) .. "%.") end
    end
    local acc = accuracy(train(model, trainB, opts.seed + 7))
    results.accuracy[c[1]][n] = acc
    io.stderr:write(("  n = %d  %-5s %.4f  (%.0f s)\n"):format(n, c[1], acc, graft.clock() - t0))
  end
end
results.seconds = graft.clock() - t0

print(("baseB %.4f"):format(base_acc))
print(("%-6s" .. ("%9d"):rep(DEPTHS)):format("n", table.unpack(results.n)))
for _, c in ipairs(conditions) do
  local cells = {}
  for n = 1, DEPTHS do cells[n] = ("%9.4f"):format(results.accuracy[c[1]][n]) end
  print(("%-6s%s"):format(c[1], table.concat(cells)))
end
os.execute("mkdir -p " .. opts.out)
local f = assert(io.open(opts.out .. "/transferability.json", "w"))
f:write(graft.json.encode(results), "\n")
f:close()

if os.execute("command -v gnuplot > /dev/null 2>&1") then
  local dat = opts.out .. "/transferability.dat"
  local d = assert(io.open(dat, "w"))
  for n = 1, DEPTHS do
    d:write(n)
    for _, c in ipairs(conditions) do d:write(" ", results.accuracy[c[1]][n]) end
    d:write(" ", base_acc, "\n")
  end
  d:close()
  local p = io.popen("gnuplot 2>&1", "w")
  p:write(([[
set terminal pngcairo size 800,560 font ",11" noenhanced
set output "%s/transferability.png"
set title "Transferability of features, Fashion-MNIST A -> B"
set xlabel "layers n copied from the base network"
set ylabel "split-B test accuracy"
set xtics 1
set grid
set key bottom left
plot for [c=2:5] "%s" using 1:c with linespoints lw 2 pt 7 title word("BnB BnB+ AnB AnB+", c - 1), \
     "%s" using 1:6 with lines dt 2 lc rgb "black" title "baseB"
]]):format(opts.out, dat, dat))
  p:close()
  os.remove(dat)
end
print(("%.0f s; wrote %s/transferability.json"):format(results.seconds, opts.out))
