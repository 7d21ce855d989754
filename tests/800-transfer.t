#!/usr/bin/env lua5.4
-- tests/800-transfer.t — the transfer verbs on Fashion-MNIST subsets: features from a
-- network trained on classes 1-5 make a better linear probe for classes 6-10 than a random
-- network's; fit resumed from a checkpoint after a crash ends with the same weights as an
-- uninterrupted run; early stopping stops; the NaN guard fires on lr = 1e6 and leaves the
-- earlier checkpoint intact; extract's cache runs the network once; evaluate, knn,
-- clip_grad_norm and distill against hand or PyTorch computations; the recipes.
local T, graft, oracle = require "tap", require "graft", require "oracle"
local nn, data, transfer = graft.nn, graft.data, graft.transfer

local train_all, test_all = data.FashionMNIST("train"), data.FashionMNIST("test")
local function pick(ds, classes, n, offset)
  local want, out = {}, {}
  for _, c in ipairs(classes) do want[c] = true end
  for i = 1 + (offset or 0), #ds do
    if want[ds:label(i)] then out[#out + 1] = i end
    if #out == n then break end
  end
  return data.Subset(ds, out)
end
local A_classes, B_classes = {1, 2, 3, 4, 5}, {6, 7, 8, 9, 10}

-- Subsets whose labels are renumbered 1..5 (split B's classes 6..10 become 1..5).
local function relabel(ds, shift)
  local r = setmetatable({}, {__len = function() return #ds end})
  function r:get(i, rng)
    local x, y = ds:get(i, rng)
    return x, y - shift
  end
  function r:label(i) return data.label(ds, i) - shift end
  function r:fingerprint() return require("graft.core").fingerprint(tostring(shift), data.fingerprint(ds)) end
  return r
end

local function cnn(classes, dropout)
  return nn.Sequential {
    nn.Conv2d(1, 16, 3, {padding = 1}), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(16, 32, 3, {padding = 1}), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3, {padding = 1}), nn.BatchNorm2d(64), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
    nn.Flatten(), nn.Dropout(dropout or 0), nn.Linear(64, classes),
  }
end

-- 1. Transfer beats random features.
graft.manual_seed(3)
local source = cnn(5)
local trainA = relabel(pick(train_all, A_classes, 6000), 0)
graft.fit(source, data.Loader(trainA, {batch_size = 64, shuffle = true, seed = 3}), {epochs = 3, lr = 3e-3, progress = false})
local trainB = relabel(data.per_class(pick(train_all, B_classes, 2000), 10, {seed = 1}), 5)
local testB = relabel(pick(test_all, B_classes, 1000), 5)
local function probe_accuracy(model)
  local opts = {layer = "12", progress = false}
  local f, l = graft.extract(model, data.Loader(trainB, {batch_size = 250}), opts)
  local ft, lt = graft.extract(model, data.Loader(testB, {batch_size = 250}), opts)
  local head, info = transfer.linear_probe(f, l)
  local acc = head(ft):argmax(2):eq(lt):to("f32"):mean():item()
  return acc, info, f, l, ft, lt
end
graft.manual_seed(13)
local random_acc = probe_accuracy(cnn(5))
local transfer_acc, info, fB, lB, ftB, ltB = probe_accuracy(source)
T.ok(transfer_acc > random_acc + 0.02, ("a probe on features trained on classes 1-5 (%.3f) beats one on random features (%.3f) for classes 6-10"):format(transfer_acc, random_acc))
T.ok(info.l2 and info.val_accuracy > 0.5 and #info.grid == 7, ("linear_probe picks l2 = %g on a validation split (accuracy %.3f)"):format(info.l2, info.val_accuracy))
T.is(T.render(fB:shape()), "{50, 64}", "extract with layer = path taps that module ({N, D})")

-- The probe's head goes back on the model: one model again.
local head = transfer.linear_probe(fB, lB)
source:set("14", head)
local r = graft.evaluate(source, data.Loader(testB, {batch_size = 500}), {progress = false})
local direct = head(ftB):argmax(2):eq(ltB):to("f32"):mean():item()
T.diag(("evaluate %.6f, head on features %.6f"):format(r.accuracy, direct))
T.ok(math.abs(r.accuracy - direct) < 1e-6,
     ("model:set(head_path, head) puts the probe on the network (test accuracy %.3f)"):format(r.accuracy))

-- 2. evaluate against a hand computation.
local logits = graft.no_grad(function() source:eval(); return source(graft.data.Loader(testB, {batch_size = 1000}):iter()()) end)
local pred, truth = logits:argmax(2):totable(), ltB:totable()
local correct, conf11, conf12 = 0, 0, 0
for i = 1, #pred do
  if pred[i] == truth[i] then correct = correct + 1 end
  if truth[i] == 1 and pred[i] == 1 then conf11 = conf11 + 1 end
  if truth[i] == 1 and pred[i] == 2 then conf12 = conf12 + 1 end
end
T.ok(math.abs(r.accuracy - correct / #pred) < 1e-12 and r.confusion:get(1, 1) == conf11 and r.confusion:get(1, 2) == conf12
     and r.confusion:sum():item() == 1000 and r.confusion:dtype() == "i64", "evaluate: accuracy and confusion rows count true class by prediction")
local _, top = logits:topk(5, 2)
local in5 = top:eq(ltB:unsqueeze(2)):to("f32"):sum():item() / 1000
T.ok(math.abs(r.top5 - in5) < 1e-12 and r.top5 >= r.accuracy, "evaluate: top-5 accuracy")
local loss = graft.F.cross_entropy(logits, ltB):item()
T.ok(math.abs(r.loss - loss) < 1e-5, "evaluate: mean cross-entropy")
local pc_ok = true
for c = 1, 5 do
  local row = r.confusion:select(1, c)
  pc_ok = pc_ok and math.abs(r.per_class[c] - row:get(c) / row:sum():item()) < 1e-12
end
T.ok(pc_ok and #r.per_class == 5, "evaluate: per-class accuracy from the confusion matrix")
source:train(true)
graft.evaluate(source, data.Loader(testB, {batch_size = 500}), {progress = false})
T.ok(source.training == true, "evaluate puts the model back in training mode")
T.like(transfer.format_confusion(r.confusion, {"Sandal", "Shirt", "Sneaker", "Bag", "Boot"}), "Sneaker", "format_confusion names the classes")

-- 3. knn: against brute force on a small case.
local qx = ftB:narrow(1, 1, 20)
local knn_pred = transfer.knn(fB, lB, qx, {k = 7})
local brute_ok = true
local norm = function(x) return x / x:pow(2):sum(2, true):sqrt() end
local sims = norm(qx):matmul(norm(fB):t())
local labels = lB:totable()
for q = 1, 20 do
  local v, idx = sims:select(1, q):topk(7)
  local votes = {}
  for j = 1, 7 do
    local c = labels[idx:get(j)]
    votes[c] = (votes[c] or 0) + math.max(v:get(j), 0) + 1e-6
  end
  local best, bv = nil, -1
  for c, s in pairs(votes) do if s > bv or (s == bv and c < best) then best, bv = c, s end end
  brute_ok = brute_ok and knn_pred:get(q) == best
end
T.ok(brute_ok, "knn: similarity-weighted votes of the k nearest (cosine) features")
T.error_like(function() transfer.knn(fB, lB, qx, {k = 0}) end, "knn: k must be at least 1, got 0", "knn: k = 0 is refused")
T.error_like(function() transfer.knn(fB:narrow(1, 1, 0), lB:narrow(1, 1, 0), qx) end,
             "knn: no training features to vote", "knn: an empty training set is refused")
T.error_like(function() transfer.knn(fB, lB:narrow(1, 1, 3), qx) end, "knn: 3 labels for", "knn: labels must match the features")
local knn_acc = transfer.knn(fB, lB, ftB, {k = 10}):eq(ltB):to("f32"):mean():item()
T.ok(knn_acc > 0.5, ("knn on transferred features: %.3f"):format(knn_acc))

-- 4. extract's cache runs the network once.
local calls = 0
local counted = cnn(5)
counted:at(1):register_forward_hook(function() calls = calls + 1 end)
local cache = oracle.tmpname() .. ".safetensors"
local eval_loader = data.Loader(trainB, {batch_size = 10})
local c1 = graft.extract(counted, eval_loader, {layer = "12", cache = cache, progress = false})
local after_first = calls
local c2 = graft.extract(counted, eval_loader, {layer = "12", cache = cache, progress = false})
T.ok(after_first == 5 and calls == 5 and graft.allclose(c1, c2, 0, 0), "extract with cache: the second call reads the file, the network runs once")
graft.no_grad(function() counted:at(15).bias:add_(1) end)
graft.extract(counted, eval_loader, {layer = "12", cache = cache, progress = false})
T.is(calls, 10, "changed weights invalidate the cache")
graft.extract(counted, eval_loader, {layer = "12", pool = "none", cache = cache, progress = false})
T.is(calls, 15, "another pooling invalidates it too")
T.error_like(function() graft.extract(counted, data.Loader(trainB, {shuffle = true}), {cache = cache}) end,
             "cache needs a loader without shuffle", "a shuffled loader cannot be cached")
os.remove(cache)

-- 5. fit: a crash, then resume, ends where an uninterrupted run ends.
local small = relabel(pick(train_all, A_classes, 640), 0)
local val = relabel(pick(test_all, A_classes, 200), 0)
local function run(opts)
  graft.manual_seed(opts.init_seed or 5)
  local m = cnn(5, 0.3)
  local opt = graft.optim.AdamW(m:trainable_parameters(), {lr = opts.base_lr or 2e-3})
  local sched = graft.optim.lr_scheduler.StepLR(opt, 1, {gamma = 0.5})
  local loader = data.Loader(small, {batch_size = 64, shuffle = true, seed = 11})
  local o = {epochs = 3, optimizer = opt, scheduler = sched, val = data.Loader(val, {batch_size = 100}), progress = false}
  for k, v in pairs(opts) do o[k] = v end
  o.init_seed, o.base_lr = nil, nil
  local ok, err = pcall(graft.fit, m, loader, o)
  return m, ok and err or nil, not ok and err or nil
end
local dir = oracle.tmpname()
assert(os.execute("mkdir -p " .. dir))
local ckpt = dir .. "/run.ckpt"
local straight, history = run {}
local _, _, crash = run {checkpoint = ckpt, on_batch = function(b) if b.epoch == 2 and b.batch == 4 then error("power cut") end end}
T.like(crash, "power cut", "the first run dies in epoch 2")
graft.manual_seed(999)   -- the resumed process starts from another RNG state and another init
local resumed, rhistory = run {checkpoint = ckpt, resume = ckpt, init_seed = 77}
for i = 1, 3 do T.diag(("epoch %d: loss %.17g / %.17g"):format(i, history[i].loss, rhistory[i] and rhistory[i].loss or -1)) end
local same = true
local sd_a, sd_b = straight:state_dict(), resumed:state_dict()
for k, v in pairs(sd_a) do same = same and graft.allclose(v:to("f32"), sd_b[k]:to("f32"), 0, 0) end
T.ok(same, "resume after a crash ends with exactly the weights (and BN statistics) of an uninterrupted run")
T.ok(#rhistory == 3 and rhistory[1].loss == history[1].loss and rhistory[3].val_accuracy == history[3].val_accuracy,
     "the resumed history holds all three epochs, equal to the uninterrupted one")
T.ok(math.abs(history[2].lr - history[1].lr * 0.5) < 1e-12, "the scheduler steps each epoch")
local keys = {}
for k in pairs(rhistory[1]) do keys[#keys + 1] = k end
table.sort(keys)
T.like(table.concat(keys, ","), "accuracy,epoch,loss,lr,seconds", "history records carry epoch, loss, accuracy, lr, seconds, val_*")

-- 6. save_best keeps the best model; early stopping stops.
local best = dir .. "/best.safetensors"
local m_es, h_es = run {save_best = best, early_stopping = {patience = 2, metric = "val_loss", min_delta = 1e-3}, epochs = 20,
                        base_lr = 0}
local ok_zero = h_es ~= nil
T.ok(ok_zero and #h_es == 3, ("early stopping: a run that cannot improve (lr 0) stops after 1 + patience epochs (%d)"):format(h_es and #h_es or -1))
local saved = graft.load(best)
T.ok(saved["1.weight"] ~= nil and graft.allclose(saved["1.weight"], m_es:state_dict()["1.weight"], 0, 0),
     "save_best wrote the best model")

-- Gradient accumulation: two half batches per step equal one full batch; the JSON log.
graft.manual_seed(6)
local lx, ly = graft.randn(256, 12), graft.randint(1, 4, {256})
local function linear_run(bs, acc, log)
  graft.manual_seed(7)
  local lin = nn.Linear(12, 3)
  graft.fit(lin, data.Loader(data.TensorDataset(lx, ly), {batch_size = bs}), {epochs = 2, accumulate = acc, log = log,
    optimizer = graft.optim.SGD(lin:parameters(), {lr = 0.5}), progress = false})
  return lin
end
local log_path = dir .. "/fit.jsonl"
local full, halves = linear_run(64, 1), linear_run(32, 2, log_path)
T.ok(graft.allclose(full.weight, halves.weight, 1e-5, 1e-6) and not graft.allclose(full.weight, linear_run(32, 1).weight, 1e-3, 1e-4),
     "accumulate = 2 with half batches takes the steps of full batches")
local lines = {}
for line in io.lines(log_path) do lines[#lines + 1] = graft.json.decode(line) end
T.ok(#lines == 2 and lines[2].epoch == 2 and type(lines[2].loss) == "number" and lines[1].steps == 4, "log = path: one JSON record per epoch")

-- 7. The NaN guard.
local m_nan = cnn(5)
local opt_nan = graft.optim.SGD(m_nan:trainable_parameters(), {lr = 0.01})
local guard_path = dir .. "/guard.ckpt"
local first_epoch_weights
local _, err_nan = pcall(graft.fit, m_nan, data.Loader(small, {batch_size = 64, seed = 1}), {
  epochs = 3, optimizer = opt_nan, checkpoint = guard_path, progress = false,
  on_epoch = function()   -- after a good first epoch, a learning rate of 1e6
    first_epoch_weights = graft.load(guard_path)["model/0.weight"]:clone()
    opt_nan.param_groups[1].lr = 1e6
  end,
})
T.like(err_nan, "fit: the loss is ", "lr = 1e6: the NaN guard stops fit")
T.like(err_nan, "at epoch 2, batch ", "the error names the epoch, batch and step")
T.like(err_nan, guard_path .. " still holds epoch 1", "and where the last good checkpoint is")
T.ok(graft.allclose(graft.load(guard_path)["model/0.weight"], first_epoch_weights, 0, 0), "the last good checkpoint is intact")

-- 8. Recipes: discriminative rates, unfreezing, lr_find, clipping, distillation.
local resnet = graft.models.resnet18 {num_classes = 4}
local groups = transfer.param_groups(resnet, {base_lr = 1e-2, decay = 0.5})
T.is(#groups, 7, "resnet18's layer groups: conv1, bn1, layer1..layer4, fc")
T.ok(math.abs(groups[7].lr - 1e-2) < 1e-15 and math.abs(groups[6].lr - 5e-3) < 1e-15 and math.abs(groups[1].lr - 1e-2 * 0.5 ^ 6) < 1e-15,
     "param_groups: the head gets base_lr, each group below decay times the one above")
local opt_groups = graft.optim.SGD(groups, {lr = 1})
T.is(#opt_groups.param_groups, 7, "the groups feed an optimizer directly")
transfer.unfreeze_top(resnet, 2)
T.ok(not resnet.layer3["0"].conv1.weight.requires_grad and resnet.layer4["0"].conv1.weight.requires_grad and resnet.fc.weight.requires_grad,
     "unfreeze_top(model, 2): layer4 and fc train, the rest is frozen")

local gm = cnn(5)
local trunk_before = gm:at(1).weight:clone()
local head_before = gm:at(15).weight:clone()
local opt_g = graft.optim.SGD(transfer.param_groups(gm, {base_lr = 0.05}), {lr = 0.05})
graft.fit(gm, data.Loader(small, {batch_size = 64, seed = 1}), {epochs = 1, optimizer = opt_g, unfreeze = "gradual", progress = false})
T.ok(graft.allclose(gm:at(1).weight, trunk_before, 0, 0) and not graft.allclose(gm:at(15).weight, head_before, 0, 0),
     "gradual unfreezing: the first epoch trains only the head")

local lm = cnn(5)
local lm_before = lm:state_dict()["1.weight"]:clone()
local finder = transfer.lr_find(lm, data.Loader(small, {batch_size = 32, shuffle = true, seed = 2}),
  {optimizer = graft.optim.SGD(lm:trainable_parameters(), {lr = 0.1, momentum = 0.9}), num_iter = 60})
T.ok(#finder.lrs >= 20 and finder.lrs[2] > finder.lrs[1] and finder.suggestion > 1e-7 and finder.suggestion < 10,
     ("lr_find: a curve of %d points, suggestion %.2g"):format(#finder.lrs, finder.suggestion))
T.ok(graft.allclose(lm:state_dict()["1.weight"], lm_before, 0, 0), "lr_find restores the model")

graft.manual_seed(4)
local student, teacher, y = graft.randn(6, 5), graft.randn(6, 5), graft.tensor({1, 2, 3, 4, 5, 1}, "i64")
local p1, p2 = graft.randn(3, 4), graft.randn(5)
p1.grad, p2.grad = graft.randn(3, 4) * 3, graft.randn(5) * 3
local g1, g2 = p1.grad:clone(), p2.grad:clone()
local norm_before = transfer.clip_grad_norm({p1, p2}, 1.5)
local want = oracle.run([==[
s, t, y = inp["s"], inp["t"], inp["y"] - 1
T = 4.0
kl = F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean") * T * T
out["distill"] = (0.7 * kl + 0.3 * F.cross_entropy(s, y)).reshape(1)
a, b = inp["g1"].clone().requires_grad_(), inp["g2"].clone().requires_grad_()
a.grad, b.grad = inp["g1"].clone(), inp["g2"].clone()
out["norm"] = torch.nn.utils.clip_grad_norm_([a, b], 1.5).reshape(1)
out["g1"], out["g2"] = a.grad, b.grad
]==], {s = student, t = teacher, y = y, g1 = g1, g2 = g2})
local fixed_teacher = setmetatable({training = false}, {__call = function() return teacher end})
function fixed_teacher:eval() end
function fixed_teacher:train() end
local d = transfer.distill(fixed_teacher, {temperature = 4, alpha = 0.7})(student, y, student)
T.ok(math.abs(d:item() - want.distill:get(1)) < 1e-5, "distill: alpha T^2 KL + (1 - alpha) CE, as PyTorch's kl_div(batchmean)")
T.ok(math.abs(norm_before - want.norm:get(1)) < 1e-4 and graft.allclose(p1.grad, want.g1, 1e-5, 1e-6) and graft.allclose(p2.grad, want.g2, 1e-5, 1e-6),
     "clip_grad_norm: the total norm and the clipped gradients equal torch.nn.utils.clip_grad_norm_")

-- 9. Domain adaptation: the gradient-reversal layer, and dann's training loop on a shifted domain.
local gx = graft.randn(4, 3):requires_grad_()
local grl = nn.GradientReversal(0.25)
local gy = grl(gx)
local upstream = graft.randn(4, 3)
gy:backward(upstream)
T.ok(graft.allclose(gy, gx, 0, 0) and graft.allclose(gx.grad, upstream * -0.25, 0, 0), "GradientReversal: identity forward, -lambda * gradient backward")
local DNet = nn.Module:extend "TestDannNet"
function DNet:init()
  self.body = nn.Sequential {nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 12 * 12, 32), nn.ReLU()}
  self.fc = nn.Linear(32, 5)
  rawset(self, "head_path", "fc")
end
function DNet:forward_features(x) return self.body(x) end
function DNet:forward(x) return self.fc(self.body(x)) end
graft.manual_seed(8)
local dnet = DNet()
local noisy = setmetatable({}, {__len = function() return #small end})
function noisy:get(i, rng) local x, y = small:get(i) return (x + graft.randn(1, 28, 28) * 0.5):clamp(0, 1), y end
local dh = transfer.dann(dnet, data.Loader(small, {batch_size = 64, shuffle = true, seed = 1}),
                         data.Loader(noisy, {batch_size = 64, shuffle = true, seed = 2}), {epochs = 2, progress = false})
T.ok(#dh == 2 and dh[2].loss < dh[1].loss and dh[2].domain_accuracy >= 0 and dh[2].domain_accuracy <= 1 and dh[2].lambda > dh[1].lambda * 0.99
     and dh.domain_classifier ~= nil, ("dann trains the labelled task (loss %.3f -> %.3f) against a domain classifier (accuracy %.2f)"):format(
       dh[1].loss, dh[2].loss, dh[2].domain_accuracy))

-- 10. predict: paths or tensors, the model's eval transform, class names from its config.
local clf = graft.models.resnet18 {num_classes = 3}
clf.config.classes = {"cat", "dog", "fox"}
local img_path = dir .. "/img.png"
graft.image.save(img_path, graft.rand(3, 40, 50))
local preds = graft.predict(clf, {img_path, graft.rand(3, 64, 64)}, {topk = 2})
T.ok(#preds == 2 and #preds[1].classes == 2 and type(preds[1].classes[1]) == "string" and preds[1].probs[1] >= preds[1].probs[2],
     "predict: top-k class names and probabilities per image")
local manual = graft.no_grad(function()
  clf:eval()
  local x = graft.data.transforms.for_model(clf)(graft.image.load(img_path, {channels = 3}))
  return graft.F.softmax(clf(x:unsqueeze(1)), 2)
end)
T.ok(math.abs(manual:max():item() - preds[1].probs[1]) < 1e-5, "predict applies the model's own eval transform")

os.execute("rm -rf " .. dir)
T.done()
