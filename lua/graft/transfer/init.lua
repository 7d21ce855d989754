--- graft.transfer: what transfer learning does with a pretrained network — extract
-- features, fit heads on them (logistic regression by L-BFGS, k-nearest neighbours),
-- evaluate and predict, and the fine-tuning recipes (discriminative learning rates, gradual
-- unfreezing, a learning-rate range test, distillation). graft.fit lives in fit.lua.
-- @module graft.transfer
local core = require "graft.core"
local A = require "graft.autograd"
local F = require "graft.functional"
local nn = require "graft.nn"
local data = require "graft.data"
local Progress = require "graft.transfer.progress"
local options = require "graft.options"

local T = core.Tensor
local tensor_mt = getmetatable(core.empty(0))
local transfer = {}

--- check_loader(fn, what, v): errors unless v is a loader (graft.data.Loader, or anything
-- with an iter() method and a length); a data set gets told how to wrap it. what is
-- "argument #2" or 'option "val"'.
function transfer.check_loader(fn, what, v)
  if type(v) == "table" and type(v.iter) == "function" then return v end
  local got = type(v)
  if type(v) == "table" and type(v.get) == "function" then
    got = "a data set: wrap it in graft.data.Loader(ds, {batch_size = ...})"
  elseif getmetatable(v) == tensor_mt then
    got = "a tensor: make a data set of it with graft.data.TensorDataset(x, y), then a Loader"
  end
  options.raise(("%s: %s must be a graft.data.Loader (got %s)"):format(fn, what, got))
end

--- inference(model, fn, ...): runs fn(...) with the model in eval mode and grad off, then
-- restores the model's mode (also on error).
function transfer.inference(model, fn, ...)
  local was = model.training
  model:eval()
  local res = table.pack(pcall(A.no_grad, fn, ...))
  model:train(was)
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

local function cat(list)
  if #list == 1 then return list[1] end
  return F.cat(list, 1)
end

-- {N, C, H, W} (or {N, T, D}) -> {N, D} by pooling; {N, D} as it is.
local function pooled(x, pool, fn)
  local d = T.dim(x)
  if d == 2 or pool == "none" then return d == 2 and x or T.flatten(x, 2) end
  local dims = d == 4 and {3, 4} or d == 3 and {2} or nil
  if not dims then error(("%s: cannot pool a %d-dim output"):format(fn, d), 0) end
  if pool == "avg" then
    for k = #dims, 1, -1 do x = T.mean(x, dims[k]) end
    return x
  elseif pool == "max" then
    for k = #dims, 1, -1 do x = T.max(x, dims[k]) end
    return x
  end
  error(('%s: pool must be "avg", "max" or "none", not %q'):format(fn, tostring(pool)), 0)
end

--- weights_fingerprint(model): a 64-bit integer of every state-dict key and value.
function transfer.weights_fingerprint(model)
  local sd, keys = model:state_dict(), {}
  for k in pairs(sd) do keys[#keys + 1] = k end
  table.sort(keys)
  local h = core.fingerprint("graft.weights")
  for _, k in ipairs(keys) do h = core.fingerprint(sd[k], core.fingerprint(k, h)) end
  return h
end

local function read_cache(path, fingerprint)
  local f = io.open(path, "rb")
  if not f then return nil end
  f:close()
  local ok, t, meta = pcall(core.load, path)
  if ok and meta and meta["graft.fingerprint"] == fingerprint and t.features and t.labels then
    return t.features, t.labels
  end
end

--- extract(model, loader [, {layer, pool = "avg", cache, progress}]) -> features (N x D f32),
-- labels (N i64). Without layer: model:forward_features where the model has it, else its
-- output; layer = a module path taps that module's output (a forward hook), pooled over
-- space by `pool` ("avg", "max" or "none" to flatten). cache = path keeps the result in a
-- safetensors file keyed by a fingerprint of the weights, the layer, the pooling and the
-- data set, and returns it without running the model when nothing changed.
function transfer.extract(model, loader, opts)
  opts = options.check("extract", opts, {layer = "string", pool = "string", cache = "string", progress = "boolean"})
  transfer.check_loader("extract", "argument #2", loader)
  local pool = opts.pool or "avg"
  local fingerprint
  if opts.cache then
    if loader.shuffle then error("extract: cache needs a loader without shuffle (the order must not change)", 2) end
    local dfp = data.fingerprint(loader.dataset)
    if not dfp then
      error("extract: cache cannot fingerprint this data set (a Lua transform?); give it ds:fingerprint()", 2)
    end
    fingerprint = ("%016x"):format(core.fingerprint(("%s|%s|%d|%d"):format(tostring(opts.layer), pool, dfp,
                                                                         transfer.weights_fingerprint(model))))
    local f, l = read_cache(opts.cache, fingerprint)
    if f then return f, l end
  end
  local captured
  local hook
  if opts.layer then
    local ok, m = pcall(model.get, model, opts.layer)
    if not ok then error("extract: " .. tostring(m), 2) end
    hook = m:register_forward_hook(function(_, _, out) captured = out end)
  end
  local progress = Progress.new("extract", #loader, {enabled = opts.progress})
  local feats, labels, items = {}, {}, 0
  local ok, err = pcall(transfer.inference, model, function()
    for x, y in loader:iter() do
      local out
      if hook then
        model(x)
        out = captured
      elseif model.forward_features then
        -- a text batch (a table of tensors): the pooling is the model's (BERT: "pooler", "cls", "mean")
        local text_pool = getmetatable(x) ~= tensor_mt and opts.pool and {pool = opts.pool} or nil
        out = model:forward_features(x, text_pool)
      else
        out = model(x)
      end
      feats[#feats + 1] = T.contiguous(pooled(out, pool, "extract"))
      labels[#labels + 1] = y
      items = items + T.size(out, 1)
      progress:update(#feats, items)
    end
  end)
  if hook then hook.remove() end
  if not ok then error(err, 0) end
  if #feats == 0 then error("extract: the loader gave no batches", 2) end
  local features, all_labels = cat(feats), cat(labels)
  if opts.cache then
    core.save(opts.cache, {features = features, labels = all_labels}, {format = "pt", ["graft.fingerprint"] = fingerprint})
  end
  return features, all_labels
end

--- evaluate(model, loader [, {loss, progress}]) -> {loss, accuracy, top5, per_class,
-- confusion, count}: mean cross-entropy (or `loss`), accuracies as fractions, per_class a Lua
-- array, confusion a K x K i64 tensor (row = true class, column = predicted).
function transfer.evaluate(model, loader, opts)
  opts = options.check("evaluate", opts, {loss = "callable", progress = "boolean"})
  transfer.check_loader("evaluate", "argument #2", loader)
  local loss_fn = opts.loss
  local progress = Progress.new("evaluate", #loader, {enabled = opts.progress})
  local total_loss, n, correct, correct5, K = 0, 0, 0, 0, nil
  local confusion
  transfer.inference(model, function()
    local batches = 0
    for x, y in loader:iter() do
      local logits = model(x)
      local b = T.size(logits, 1)
      K = K or T.size(logits, 2)
      confusion = confusion or {}
      local l = loss_fn and loss_fn(logits, y, x) or F.cross_entropy(logits, y)
      total_loss = total_loss + T.item(l) * b
      local top = select(2, T.topk(logits, math.min(5, K), 2))
      local pred, truth = T.totable(T.select(top, 2, 1)), T.totable(y)
      local top5 = T.totable(top)
      for i = 1, b do
        local t, p = truth[i], pred[i]
        if t < 1 or t > K then error(("evaluate: label %d is outside 1..%d"):format(t, K), 0) end
        if p == t then correct = correct + 1 end
        for _, q in ipairs(top5[i]) do if q == t then correct5 = correct5 + 1 break end end
        local row = confusion[t] or {}
        confusion[t] = row
        row[p] = (row[p] or 0) + 1
      end
      n = n + b
      batches = batches + 1
      progress:update(batches, n, {{"acc", correct / n}})
    end
  end)
  if n == 0 then error("evaluate: the loader gave no batches", 2) end
  local conf = core.zeros({K, K}, "i64")
  local per_class = {}
  for c = 1, K do
    local row, total = confusion[c] or {}, 0
    for p, count in pairs(row) do
      T.set(conf, c, p, count)
      total = total + count
    end
    per_class[c] = total > 0 and (row[c] or 0) / total or 0 / 0
  end
  return {loss = total_loss / n, accuracy = correct / n, top5 = correct5 / n, per_class = per_class, confusion = conf,
          count = n}
end

--- format_confusion(confusion [, classes]) -> a text table of the matrix with class names.
function transfer.format_confusion(confusion, classes)
  local K = T.size(confusion, 1)
  local rows = T.totable(confusion)
  local names = {}
  for c = 1, K do names[c] = tostring(classes and classes[c] or c) end
  local width = 5
  for _, name in ipairs(names) do width = math.max(width, #name) end
  for _, row in ipairs(rows) do for _, v in ipairs(row) do width = math.max(width, #tostring(v)) end end
  local cell = "%" .. width .. "s"
  local lines = {(cell):format("") .. " " .. table.concat((function()
    local h = {}
    for c = 1, K do h[c] = cell:format(names[c]:sub(1, width)) end
    return h
  end)(), " ")}
  for r = 1, K do
    local cells = {}
    for c = 1, K do cells[c] = cell:format(rows[r][c]) end
    lines[#lines + 1] = cell:format(names[r]) .. " " .. table.concat(cells, " ")
  end
  return table.concat(lines, "\n")
end

local function is_file(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end
local function shown(text) return #text > 60 and ("%q..."):format(text:sub(1, 57)) or ("%q"):format(text) end
local IMAGE_EXT = {png = true, jpg = true, jpeg = true, bmp = true, gif = true, ppm = true, pgm = true, pnm = true,
                   tif = true, tiff = true, webp = true}

-- The class names of label ids: config.classes, else a Hugging Face config's id2label.
local function class_names(cfg)
  if cfg.classes then return cfg.classes end
  local id2label = type(cfg.args) == "table" and type(cfg.args.config) == "table" and cfg.args.config.id2label
  if type(id2label) ~= "table" then return nil end
  local names = {}
  for id, name in pairs(id2label) do
    local i = tonumber(id)
    if i and i >= 0 and i % 1 == 0 then names[i + 1] = name end
  end
  return names
end

local function top(probs, n, k, names)
  local K = T.size(probs, 2)
  k = math.min(k or 5, K)
  local values, indices = T.topk(probs, k, 2)
  values, indices = T.totable(values), T.totable(indices)
  local out = {}
  for i = 1, n do
    local list = {}
    for j, c in ipairs(indices[i]) do list[j] = names and names[c] or c end
    out[i] = {classes = list, probs = values[i], labels = indices[i]}
  end
  return out
end

-- Texts through the model's own tokenizer (set_tokenizer; save_model keeps it), in batches
-- of 64 padded to their longest and truncated at the tokenizer's max_length.
local function predict_text(model, texts, opts, cfg)
  local tok = rawget(model, "tokenizer")
  if not tok then
    error("predict: the model reads text but has no tokenizer: give it one with model:set_tokenizer(tok [, "
          .. "{max_length}]), or train it with graft.fit on a TextClassification data set that has one", 3)
  end
  for i, t in ipairs(texts) do
    if getmetatable(t) == tensor_mt then
      error(("predict: item %d is a tensor, but the model reads text (strings, or {text, pair} arrays)"):format(i), 3)
    end
    local a, b = t, nil
    if type(t) == "table" then a, b = t[1], t[2] end
    if type(a) ~= "string" or (b ~= nil and type(b) ~= "string") then
      error(("predict: item %d is not a string: the model reads text (strings, or {text, pair} arrays)"):format(i), 3)
    end
    local ext = a:match("%.(%w+)$")
    if ext and IMAGE_EXT[ext:lower()] and not a:find("%s") and is_file(a) then
      error(("predict: %s is an image file, but the model reads text: pass the text itself"):format(shown(a)), 3)
    end
  end
  local max_length = type(cfg.tokenizer) == "table" and cfg.tokenizer.max_length or nil
  local parts = {}
  transfer.inference(model, function()
    for first = 1, #texts, 64 do
      local chunk = {}
      for i = first, math.min(first + 63, #texts) do chunk[#chunk + 1] = texts[i] end
      local logits = model(tok:encode_batch(chunk, {max_length = max_length}))
      if getmetatable(logits) ~= tensor_mt or T.dim(logits) ~= 2 then
        error("predict: the model gives no {N, classes} logits (a bert encoder gives hidden states: "
              .. "graft.extract reads its features, a bert_classifier predicts)", 0)
      end
      parts[#parts + 1] = F.softmax(logits, 2)
    end
  end)
  return top(cat(parts), #texts, opts.topk, class_names(cfg))
end

--- predict(model, images [, {topk = 5, transform}]) -> per image {classes, probs, labels}:
-- images are paths or f32 {C, H, W} tensors in [0, 1]; the model's own eval transform
-- (transforms.for_model) is applied unless `transform` is given; class names come from
-- model.config.classes when present. A text model (BERT with a tokenizer: set_tokenizer,
-- or as graft.load_model restores it) takes strings (or {text, pair} arrays) instead and
-- tokenizes them with its own tokenizer.
function transfer.predict(model, images, opts)
  opts = options.check("predict", opts, {topk = "integer", transform = "callable|boolean"})
  if type(images) == "string" or getmetatable(images) == getmetatable(core.empty(0)) then images = {images} end
  -- no inputs, no outputs (a filtered list may be empty), for images and text alike
  if type(images) == "table" and images[1] == nil then return {} end
  local cfg = model.config or {}
  if type(model.set_tokenizer) == "function" then return predict_text(model, images, opts, cfg) end
  local tf = opts.transform
  if tf == nil and cfg.input_size then tf = data.transforms.for_model(model) end
  local channels = cfg.input_size and cfg.input_size[1] or 3
  local xs = {}
  for i, img in ipairs(images) do
    if type(img) == "string" and not is_file(img) then
      error(("predict: %s is not an image file (no such file): the model takes image paths or {C, H, W} tensors")
            :format(shown(img)), 2)
    end
    local x = type(img) == "string" and require("graft.image").load(img, {channels = channels}) or img
    if tf then x = tf(x, data.rng(0, 0, i)) end
    xs[i] = T.unsqueeze(x, 1)
  end
  local probs = transfer.inference(model, function() return F.softmax(model(cat(xs)), 2) end)
  return top(probs, #images, opts.topk, cfg.classes)
end

-- ---- heads on features ---------------------------------------------------------------------

-- Mean cross-entropy + l2/2 |W|^2 of softmax(X W^T + b) and its gradient, for the flat
-- parameter vector theta = [W (K x D) row-major, b (K)].
local function logistic(X, Y1h, K, l2)
  local N, D = T.size(X, 1), T.size(X, 2)
  return function(theta)
    local W = T.reshape(T.narrow(theta, 1, 1, K * D), K, D)
    local b = T.narrow(theta, 1, K * D + 1, K)
    local logits = T.matmul(X, T.transpose(W, 1, 2)) + b
    local logp = F.log_softmax(logits, 2)
    local loss = -T.item(T.sum(logp * Y1h)) / N + 0.5 * l2 * T.item(T.sum(W * W))
    local G = (T.exp(logp) - Y1h) / N
    local gW = T.matmul(T.transpose(G, 1, 2), X) + W * l2
    local gb = T.sum(G, 1)
    return loss, F.cat({T.reshape(gW, -1), gb}, 1)
  end
end

--- count_correct(logits, labels): how many rows' argmax equals their label.
function transfer.count_correct(logits, labels)
  return T.item(T.sum(T.to(T.eq(T.argmax(logits, 2), labels), "f32")))
end

local function dot(a, b) return T.item(T.sum(a * b)) end
local LBFGS = {max_iter = "integer", history = "integer", tol = "number"}

--- lbfgs(f, x0 [, {max_iter = 200, history = 10, tol = 1e-6}]) -> x, loss: minimises f
-- (returning value, gradient) by L-BFGS with a backtracking (Armijo) line search.
function transfer.lbfgs(f, x, opts)
  opts = options.check("lbfgs", opts, LBFGS)
  local max_iter, m, tol = opts.max_iter or 200, opts.history or 10, opts.tol or 1e-6
  local fx, g = f(x)
  local S, Y, rho = {}, {}, {}
  for _ = 1, max_iter do
    local gnorm = math.sqrt(dot(g, g))
    if gnorm < tol then break end
    -- two-loop recursion: d = -H g
    local q, alpha = g, {}
    for i = #S, 1, -1 do
      alpha[i] = rho[i] * dot(S[i], q)
      q = q - Y[i] * alpha[i]
    end
    if #S > 0 then q = q * (dot(S[#S], Y[#S]) / dot(Y[#S], Y[#S])) else q = q / gnorm end
    for i = 1, #S do
      local beta = rho[i] * dot(Y[i], q)
      q = q + S[i] * (alpha[i] - beta)
    end
    local d = -q
    local slope = dot(g, d)
    if slope >= 0 then d, slope = -g, -gnorm * gnorm end
    local step, fnew, gnew, xnew = 1, nil, nil, nil
    for _ = 1, 30 do
      xnew = x + d * step
      fnew, gnew = f(xnew)
      if fnew <= fx + 1e-4 * step * slope then break end
      step = step * 0.5
    end
    local s, y = xnew - x, gnew - g
    local sy = dot(s, y)
    if sy > 1e-12 then
      S[#S + 1], Y[#Y + 1], rho[#rho + 1] = s, y, 1 / sy
      if #S > m then table.remove(S, 1); table.remove(Y, 1); table.remove(rho, 1) end
    end
    local improvement = fx - fnew
    x, fx, g = xnew, fnew, gnew
    if math.abs(improvement) < tol * math.max(1, math.abs(fx)) then break end
  end
  return x, fx
end

local function fit_logistic(X, y, K, l2, opts)
  local D = T.size(X, 2)
  local Y1h = T.to(T.eq(T.unsqueeze(y, 2), core.arange(1, K + 1)), "f32")
  local theta = transfer.lbfgs(logistic(X, Y1h, K, l2), core.zeros(K * D + K),
                               {max_iter = opts.max_iter, history = opts.history, tol = opts.tol})
  return T.reshape(T.narrow(theta, 1, 1, K * D), K, D), T.narrow(theta, 1, K * D + 1, K)
end

local function accuracy_of(W, b, X, y)
  return transfer.count_correct(T.matmul(X, T.transpose(W, 1, 2)) + b, y) / T.size(y, 1)
end

--- linear_probe(features, labels [, {l2, val_fraction = 0.2, seed = 0, max_iter = 200,
-- num_classes}]) -> head (an nn.Linear), info {val_accuracy, l2, grid}: multinomial logistic
-- regression by full-batch L-BFGS on standardised features, its L2 strength chosen from
-- `l2` (a number, or a grid: default 10^-6 .. 10^0) by accuracy on a held-out split, then
-- refitted on everything; the standardisation is folded into the head, which takes raw
-- features (so it can replace the model's classifier).
function transfer.linear_probe(features, labels, opts)
  opts = options.check("linear_probe", opts, options.merge(LBFGS,
    {l2 = "number|table", val_fraction = "number", seed = "integer", num_classes = "integer"}))
  if T.dim(features) ~= 2 then error("linear_probe: features must be N x D", 2) end
  local N, D = T.size(features, 1), T.size(features, 2)
  if N == 0 then error("linear_probe: no samples (features are 0 x D)", 2) end
  labels = T.to(labels, "i64")
  if T.size(labels, 1) ~= N then error(("linear_probe: %d features but %d labels"):format(N, T.size(labels, 1)), 2) end
  local lo, hi = T.item(T.min(labels)), T.item(T.max(labels))
  local K = opts.num_classes or hi
  if lo < 1 or hi > K then error(("linear_probe: labels must be 1..%d (got %d..%d)"):format(K, lo, hi), 2) end
  return A.no_grad(function()
    local X = T.to(features, "f32")
    local mu = T.mean(X, 1)
    local sd = T.sqrt(T.mean((X - mu) ^ 2, 1)) + 1e-6
    local Z = (X - mu) / sd
    local grid = type(opts.l2) == "number" and {opts.l2} or opts.l2 or {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1}
    local best, best_acc, tried = grid[1], -1, {}
    if #grid > 1 then
      local perm = data._permutation(N, core.rng(opts.seed or 0, 0, 2))
      local nval = math.max(1, math.floor(N * (opts.val_fraction or 0.2)))
      local val = core.tensor(table.move(perm, 1, nval, 1, {}), "i64")
      local tr = core.tensor(table.move(perm, nval + 1, N, 1, {}), "i64")
      local Ztr, ytr = T.index_select(Z, 1, tr), T.index_select(labels, 1, tr)
      local Zval, yval = T.index_select(Z, 1, val), T.index_select(labels, 1, val)
      for _, l2 in ipairs(grid) do
        local W, b = fit_logistic(Ztr, ytr, K, l2, opts)
        local acc = accuracy_of(W, b, Zval, yval)
        tried[#tried + 1] = {l2 = l2, val_accuracy = acc}
        if acc > best_acc then best, best_acc = l2, acc end
      end
    end
    local W, b = fit_logistic(Z, labels, K, best, opts)
    -- fold the standardisation: W (x - mu) / sd + b = (W / sd) x + (b - (W / sd) mu)
    local Wraw = W / sd
    local braw = b - T.reshape(T.matmul(Wraw, T.reshape(mu, D, 1)), K)
    local head = nn.Linear(D, K)
    head.weight:copy_(Wraw)
    head.bias:copy_(braw)
    return head, {val_accuracy = best_acc >= 0 and best_acc or nil, l2 = best, grid = tried,
                  train_accuracy = accuracy_of(W, b, Z, labels)}
  end)
end

--- knn(features, labels, queries [, {k = 20, metric = "cosine"}]) -> predicted labels (i64):
-- each query takes the similarity-weighted vote of its k nearest training features
-- (cosine similarity, or "euclidean" distance with weights 1).
function transfer.knn(features, labels, queries, opts)
  opts = options.check("knn", opts, {k = "integer", metric = "string"})
  if opts.k and opts.k < 1 then error(("knn: k must be at least 1, got %d"):format(opts.k), 2) end
  local n = T.size(features, 1)
  if n == 0 then error("knn: no training features to vote (features has 0 rows)", 2) end
  if T.numel(labels) ~= n then
    error(("knn: %d labels for %d training features"):format(T.numel(labels), n), 2)
  end
  local k = math.min(opts.k or 20, n)
  local metric = opts.metric or "cosine"
  return A.no_grad(function()
    local Xt, Xq = T.to(features, "f32"), T.to(queries, "f32")
    if metric == "cosine" then
      Xt = Xt / (T.sqrt(T.sum(Xt * Xt, 2, true)) + 1e-12)
      Xq = Xq / (T.sqrt(T.sum(Xq * Xq, 2, true)) + 1e-12)
    elseif metric ~= "euclidean" then
      error('knn: metric must be "cosine" or "euclidean"', 0)
    end
    local y = T.totable(T.to(labels, "i64"))
    local sq = metric == "euclidean" and T.sum(Xt * Xt, 2) or nil
    local out, M, chunk = {}, T.size(Xq, 1), 1024
    for start = 1, M, chunk do
      local q = T.narrow(Xq, 1, start, math.min(chunk, M - start + 1))
      local score = T.matmul(q, T.transpose(Xt, 1, 2))
      if sq then score = score * 2 - sq end   -- -|q - t|^2 up to a per-query constant
      local vals, idx = T.topk(score, k, 2)
      vals, idx = T.totable(vals), T.totable(idx)
      for r = 1, #idx do
        local votes, best, best_v = {}, nil, -math.huge
        for j = 1, k do
          local c = y[idx[r][j]]
          votes[c] = (votes[c] or 0) + (sq and 1 or math.max(vals[r][j], 0) + 1e-6)
        end
        for c, v in pairs(votes) do
          if v > best_v or (v == best_v and c < best) then best, best_v = c, v end
        end
        out[#out + 1] = best
      end
    end
    return core.tensor(out, "i64")
  end)
end

-- ---- fine-tuning recipes -------------------------------------------------------------------

--- layer_groups(model [, groups]) -> an array, bottom to top, of {name, params = {...}}:
-- `groups` (an array of Lua patterns on parameter names) or, by default, the model's
-- top-level children in order (for a ResNet: conv1, bn1, layer1 .. layer4, fc). The last
-- group is the head.
function transfer.layer_groups(model, groups)
  local named = model:named_parameters()
  local out = {}
  if groups then
    local names = {}
    for i, np in ipairs(named) do names[i] = np[1] end
    for i, pattern in ipairs(groups) do
      options.check_pattern("layer_groups", pattern, names)   -- a typo would silently leave a group out
      out[i] = {name = pattern, pattern = pattern, params = {}}
    end
    for _, np in ipairs(named) do
      for i = #groups, 1, -1 do   -- a parameter belongs to the last (topmost) group it matches
        if np[1]:find(groups[i]) then table.insert(out[i].params, np[2]) break end
      end
    end
  else
    local index = {}
    for _, np in ipairs(named) do
      local top = np[1]:match("^[^.]+")
      if not index[top] then
        out[#out + 1] = {name = top, pattern = "^" .. top:gsub("%p", "%%%0") .. "%.", params = {}}
        index[top] = out[#out]
      end
      table.insert(index[top].params, np[2])
    end
  end
  local kept = {}
  for _, g in ipairs(out) do if #g.params > 0 then kept[#kept + 1] = g end end
  return kept
end

--- param_groups(model, {base_lr, decay = 2.6^-1, groups}) -> optimizer groups with
-- discriminative learning rates: the head gets base_lr, each group below it `decay` times
-- the one above (ULMFiT's 2.6 divisor by default). Frozen parameters are included (they get
-- no gradient, so no update) so that unfreezing later needs no new optimizer.
function transfer.param_groups(model, opts)
  opts = options.check("param_groups", opts, {base_lr = "number", decay = "number", groups = "table"})
  if type(opts.base_lr) ~= "number" then error("param_groups: base_lr is required", 2) end
  local decay = opts.decay or 1 / 2.6
  local groups = transfer.layer_groups(model, opts.groups)
  local out = {}
  for i, g in ipairs(groups) do
    out[i] = {params = g.params, lr = opts.base_lr * decay ^ (#groups - i)}
  end
  return out
end

--- unfreeze_top(model, n [, groups]): makes the top n layer groups trainable and freezes the
-- rest (frozen BatchNorm layers use their running statistics, as Module:freeze does).
function transfer.unfreeze_top(model, n, groups)
  local list = transfer.layer_groups(model, groups)
  for i, g in ipairs(list) do
    if i > #list - n then model:unfreeze(g.pattern) else model:freeze(g.pattern) end
  end
end

--- lr_find(model, loader, {optimizer, loss, start_lr = 1e-7, end_lr = 10, num_iter = 100})
-- -> {lrs, losses, suggestion}: a learning-rate range test (Smith 2017, as fastai runs it):
-- the rate grows exponentially batch by batch while the smoothed loss is recorded, until it
-- diverges (4x the best). The suggestion is the rate of steepest descent. The model and the
-- optimizer are restored afterwards.
function transfer.lr_find(model, loader, opts)
  opts = options.check("lr_find", opts, {optimizer = "table", loss = "callable", start_lr = "number", end_lr = "number",
                                        num_iter = "integer"})
  transfer.check_loader("lr_find", "argument #2", loader)
  local opt = opts.optimizer
  if not opt then error("lr_find: an optimizer is required", 2) end
  local loss_fn = opts.loss or function(logits, y) return F.cross_entropy(logits, y) end
  local lo, hi, steps = opts.start_lr or 1e-7, opts.end_lr or 10, opts.num_iter or 100
  local saved_model, saved_opt = {}, opt:state_dict()
  for k, v in pairs(model:state_dict()) do saved_model[k] = T.clone(v) end
  local rng_state = core.get_rng_state()
  local was = model.training
  model:train(true)
  local lrs, losses, smooth, best = {}, {}, nil, math.huge
  local i = 0
  local ok, err = pcall(function()
    while i < steps do
      local any = false
      for x, y in loader:iter() do
        any = true
        i = i + 1
        local lr = lo * (hi / lo) ^ ((i - 1) / math.max(steps - 1, 1))
        for _, g in ipairs(opt.param_groups) do g.lr = lr end
        opt:zero_grad()
        local loss = loss_fn(model(x), y, x)
        loss:backward()
        opt:step()
        local v = T.item(loss)
        smooth = smooth and 0.98 * smooth + 0.02 * v or v
        local debiased = smooth / (1 - 0.98 ^ i)
        lrs[i], losses[i] = lr, debiased
        if debiased < best then best = debiased end
        if debiased ~= debiased or debiased > 4 * best or i >= steps then return end
      end
      if not any then error("lr_find: the loader gave no batches", 0) end
    end
  end)
  model:load_state_dict(saved_model)
  opt:load_state_dict(saved_opt)
  opt:zero_grad()
  core.set_rng_state(rng_state)
  model:train(was)
  if not ok then error(err, 0) end
  -- steepest descent of the smoothed loss against log lr, away from the ends
  local suggestion, steepest = lrs[1], math.huge
  for j = 2, #losses - 1 do
    local slope = (losses[j + 1] - losses[j - 1]) / (math.log(lrs[j + 1]) - math.log(lrs[j - 1]))
    if slope < steepest then suggestion, steepest = lrs[j], slope end
  end
  return {lrs = lrs, losses = losses, suggestion = suggestion}
end

--- distill(teacher [, {temperature = 4, alpha = 0.5}]) -> a loss for fit:
-- alpha T^2 KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) CE(student, y)
-- (Hinton et al. 2015); the teacher runs in eval mode without gradients.
function transfer.distill(teacher, opts)
  opts = options.check("distill", opts, {temperature = "number", alpha = "number"})
  local temp, alpha = opts.temperature or 4, opts.alpha or 0.5
  return function(logits, y, x)
    local t_logits = transfer.inference(teacher, function() return teacher(x) end)
    local p_t = F.softmax(t_logits / temp, 2)
    local log_p_t = F.log_softmax(t_logits / temp, 2)
    local log_p_s = F.log_softmax(logits / temp, 2)
    local kl = T.sum(p_t * (log_p_t - log_p_s)) / T.size(logits, 1)
    local loss = kl * (alpha * temp * temp)
    if alpha < 1 then loss = loss + F.cross_entropy(logits, y) * (1 - alpha) end
    return loss
  end
end

return transfer
