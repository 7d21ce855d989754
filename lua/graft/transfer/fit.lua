--- graft.fit: the training loop, with the care practitioners put into it by hand —
-- validation each epoch, resumable checkpoints written atomically, the best model kept,
-- early stopping, gradient clipping and accumulation, gradual unfreezing, progress, a JSON
-- log, and a guard that stops on a non-finite loss before it reaches the weights.
-- @module graft.transfer
local core = require "graft.core"
local F = require "graft.functional"
local json = require "graft.json"
local transfer = require "graft.transfer"
local Progress = require "graft.transfer.progress"
local options = require "graft.options"

local T = core.Tensor
local tensor_mt = getmetatable(core.empty(0))
local function is_tensor(x) return getmetatable(x) == tensor_mt end

local CHECKPOINT_FORMAT = 1

--- clip_grad_norm(params, max_norm) -> the total L2 norm of the gradients before clipping;
-- scales them down in place when it exceeds max_norm (as torch.nn.utils.clip_grad_norm_).
function transfer.clip_grad_norm(params, max_norm)
  local total = 0
  for _, p in ipairs(params) do
    if p.grad ~= nil then total = total + T.item(T.sum(p.grad * p.grad)) end
  end
  total = math.sqrt(total)
  if total > max_norm then
    local scale = max_norm / (total + 1e-6)
    for _, p in ipairs(params) do if p.grad ~= nil then p.grad = p.grad * scale end end
  end
  return total
end

local function finite(v) return v == v and v ~= math.huge and v ~= -math.huge end

-- ---- checkpoints ---------------------------------------------------------------------------

-- Everything a resumed run needs, as safetensors: tensors for the model and the optimizer's
-- tensor state, the RNG state, and the rest as JSON in the metadata.
local function write_checkpoint(path, s)
  local tensors, meta = {}, {}
  for k, v in pairs(s.model:state_dict()) do tensors["model/" .. k] = v end
  local osd = s.optimizer:state_dict()
  local scalars = {}
  for i, st in pairs(osd.state) do
    local plain = {}
    for k, v in pairs(st) do
      if is_tensor(v) then tensors[("optimizer/%d/%s"):format(i, k)] = v else plain[k] = v end
    end
    scalars[tostring(i)] = plain
  end
  tensors.rng = core.get_rng_state()
  meta.format = "pt"
  meta["graft.checkpoint"] = json.encode {
    format = CHECKPOINT_FORMAT, epoch = s.epoch, history = s.history, loader = s.loader:state_dict(),
    optimizer = {param_groups = osd.param_groups, state = scalars},
    scheduler = s.scheduler and s.scheduler:state_dict() or json.null,
    best = s.best or json.null, bad_epochs = s.bad_epochs, early_ref = s.early_ref or json.null,
  }
  core.save(path, tensors, meta)
end

local function read_checkpoint(path, s)
  local ok, tensors, meta = pcall(core.load, path)
  if not ok then error("fit: resume: " .. tostring(tensors), 0) end
  local text = meta and meta["graft.checkpoint"]
  if not text then error(("fit: resume: %s is not a graft checkpoint (no graft.checkpoint metadata)"):format(path), 0) end
  local c = core.json.decode(text)
  if c.format ~= CHECKPOINT_FORMAT then error(("fit: resume: %s has checkpoint format %s, not %d"):format(path, tostring(c.format), CHECKPOINT_FORMAT), 0) end
  local model_sd, opt_state = {}, {}
  for k, v in pairs(tensors) do
    local key = k:match("^model/(.*)$")
    if key then model_sd[key] = v end
    local i, name = k:match("^optimizer/(%d+)/(.*)$")
    if i then
      opt_state[tonumber(i)] = opt_state[tonumber(i)] or {}
      opt_state[tonumber(i)][name] = v
    end
  end
  for i, plain in pairs(c.optimizer.state) do
    local st = opt_state[tonumber(i)] or {}
    for k, v in pairs(plain) do st[k] = v end
    opt_state[tonumber(i)] = st
  end
  s.model:load_state_dict(model_sd)
  s.optimizer:load_state_dict({param_groups = c.optimizer.param_groups, state = opt_state})
  if s.scheduler and c.scheduler ~= core.json.null then s.scheduler:load_state_dict(c.scheduler) end
  s.loader:load_state_dict(c.loader)
  core.set_rng_state(tensors.rng)
  s.epoch, s.history, s.bad_epochs = c.epoch, c.history, c.bad_epochs or 0
  s.best = c.best ~= core.json.null and c.best or nil
  s.early_ref = c.early_ref ~= core.json.null and c.early_ref or nil
end

local function save_best(model, path)
  local ok = pcall(require("graft.model_io").save_model, model, path)
  if not ok then core.save(path, model:state_dict(), {format = "pt"}) end
end

-- ---- the loop --------------------------------------------------------------------------------

local function higher_is_better(metric) return not metric:find("loss") end

local function check_finite_grad(g, name, epoch, batch)
  local ok, err = pcall(require("graft").check_finite, g, "the gradient of " .. name)   -- graft loads fit
  if not ok then error(("fit: %s at epoch %d, batch %d; stopped before updating the weights"):format(
    tostring(err):gsub("^check_finite: ", ""), epoch, batch), 0) end
end

-- The model is used at the size it was trained at: when every batch of images in an epoch
-- had one size {C, H, W}, that becomes config.input_size (as timm's pretrained_cfg holds the
-- training size), so predict, for_model, the CLI and save_model/load_model resize and crop
-- to it (the resize follows from crop_pct). The last epoch decides (progressive resizing
-- ends at its final size); batches of varying sizes within an epoch (multi-scale training)
-- leave the config as it was.
local function record_input_size(model, sizes)
  local cfg = rawget(model, "config")
  if type(cfg) ~= "table" or type(cfg.input_size) ~= "table" then return end
  local only
  for key in pairs(sizes) do
    if only then return end
    only = key
  end
  if not only then return end
  local c, h, w = only:match("^(%d+),(%d+),(%d+)$")
  cfg.input_size = {tonumber(c), tonumber(h), tonumber(w)}
end

-- What the training data says about the model's inputs and outputs, kept in the model so
-- that save_model, predict and the CLI have it: the data set's class names (when the model
-- has none and they match its number of classes) and, for a text model, the tokenizer and
-- max_length the texts were encoded with (TextClassification).
local function record_data(model, loader)
  local ds = type(loader) == "table" and loader.dataset
  while type(ds) == "table" and ds.indices and ds.dataset do ds = ds.dataset end   -- through Subsets
  if type(ds) ~= "table" then return end
  local cfg = rawget(model, "config")
  local classes = ds.classes
  if type(cfg) == "table" and cfg.classes == nil and type(classes) == "table" and #classes > 0
     and type(cfg.args) == "table" and cfg.args.num_classes == #classes then
    local copy = {}
    for i, c in ipairs(classes) do copy[i] = c end
    cfg.classes = copy
  end
  local tok = ds.tokenizer
  if tok and type(model.set_tokenizer) == "function" then
    -- a max_length past the model's positions: predict truncates at the positions instead
    if not pcall(model.set_tokenizer, model, tok, {max_length = ds.max_length}) then model:set_tokenizer(tok) end
  end
end

local function train_epoch(s, opts, epoch)
  local model, opt, loader = s.model, s.optimizer, s.loader
  local accumulate, clip = opts.accumulate or 1, opts.clip_grad_norm
  local params = model:parameters()
  local progress = Progress.new(("epoch %d/%d"):format(epoch, opts.epochs), #loader, {enabled = opts.progress})
  local loss_sum, correct, n, batch = 0, 0, 0, 0
  s.sizes = {}
  local nbatches = #loader
  model:train(true)
  opt:zero_grad()
  for x, y in loader:iter() do
    batch = batch + 1
    if is_tensor(x) and T.dim(x) == 4 then s.sizes[("%d,%d,%d"):format(T.size(x, 2), T.size(x, 3), T.size(x, 4))] = true end
    local logits = model(x)
    local loss = s.loss(logits, y, x)
    local v = T.item(loss)
    if not finite(v) then
      error(("fit: the loss is %s at epoch %d, batch %d (step %d); stopped before updating the weights%s"):format(
        tostring(v), epoch, batch, s.step + 1,
        opts.checkpoint and s.saved_epoch and (", and %s still holds epoch %d"):format(opts.checkpoint, s.saved_epoch) or ""), 0)
    end
    if accumulate > 1 then loss = loss / accumulate end
    loss:backward()
    if opts.check_finite then   -- a NaN gradient names its parameter before any weight moves
      for _, np in ipairs(s.named_params) do
        if np[2].grad then check_finite_grad(np[2].grad, np[1], epoch, batch) end
      end
    end
    if batch % accumulate == 0 or batch == nbatches then
      if clip then transfer.clip_grad_norm(params, clip) end
      opt:step()
      opt:zero_grad()
      s.step = s.step + 1
      if s.per_batch_scheduler then s.scheduler:step() end
    end
    local b = T.size(logits, 1)
    loss_sum, n = loss_sum + v * b, n + b
    if T.dim(logits) == 2 and T.dim(y) == 1 then
      correct = correct + transfer.count_correct(logits, y)
    end
    progress:update(batch, n, {{"loss", loss_sum / n}, {"acc", correct / n}})
    if opts.on_batch then opts.on_batch {epoch = epoch, batch = batch, step = s.step, loss = v, size = b} end
  end
  if n == 0 then error("fit: the loader gave no batches", 0) end
  return loss_sum / n, correct / n
end

local FIT = {
  epochs = "integer", optimizer = "table", lr = "number", loss = "callable", val = "table", scheduler = "table",
  scheduler_step = '"batch"|"epoch"', checkpoint = "string", resume = "string", save_best = "string", monitor = "string",
  early_stopping = "integer|table", clip_grad_norm = "number", accumulate = "integer>=1", unfreeze = "string|table",
  on_batch = "callable", on_epoch = "callable", progress = "boolean", log = "string", check_finite = "boolean",
}

-- The record's fields that are metrics (what monitor and early_stopping can name).
local NOT_METRICS = {epoch = true, lr = true, seconds = true, steps = true, stopped_early = true}
local function check_metric(record, what, name)
  if record[name] ~= nil and not NOT_METRICS[name] then return end   -- "seconds" is recorded, not a metric
  local have = {}
  for k, v in pairs(record) do if not NOT_METRICS[k] and type(v) == "number" then have[#have + 1] = k end end
  table.sort(have)
  options.raise(("fit: %s %q is not a metric of this run (metrics: %s)"):format(what, name, table.concat(have, ", ")))
end

--- fit(model, loader, opts) -> history: an array with one record per epoch
-- {epoch, loss, accuracy, val_loss, val_accuracy, lr, seconds}. Options:
--   epochs (the total), optimizer (default AdamW on the trainable parameters, lr = opts.lr
--   or 1e-3), loss(logits, y, x) (default cross-entropy), val (a loader), scheduler (stepped
--   each epoch; OneCycleLR, or scheduler_step = "batch", each optimizer step),
--   checkpoint = path (resumable state after every epoch, atomic), resume = path,
--   save_best = path + monitor (default "val_accuracy", or "accuracy" without val),
--   early_stopping = {patience, metric = monitor, min_delta = 0}, clip_grad_norm,
--   accumulate (batches per optimizer step), unfreeze = "gradual" or {every, groups}
--   (ULMFiT: one more layer group trainable each `every` epochs, from the head down),
--   on_batch(info), on_epoch(record) (return false to stop), progress (nil: a bar on a
--   terminal, lines otherwise; false: silent), log = path (JSON lines, one per epoch),
--   check_finite = true (every gradient checked for NaN/Inf after each backward; the loss
--   always is).
function transfer.fit(model, loader, opts)
  opts = options.check("fit", opts, FIT)
  transfer.check_loader("fit", "argument #2", loader)
  if opts.val ~= nil then transfer.check_loader("fit", 'option "val"', opts.val) end
  if math.type(opts.epochs) ~= "integer" or opts.epochs < 1 then error("fit: epochs (a positive integer) is required", 2) end
  if opts.lr ~= nil and opts.optimizer ~= nil then
    options.raise("fit: lr configures the default optimizer only; with optimizer, set the rate on the optimizer "
                  .. "(graft.optim.AdamW(params, {lr = ...}))")
  end
  if type(opts.early_stopping) == "table" then
    options.check("fit.early_stopping", opts.early_stopping, {patience = "integer", metric = "string", min_delta = "number"})
  end
  if type(opts.unfreeze) == "table" then
    options.check("fit.unfreeze", opts.unfreeze, {every = "integer>=1", groups = "table"})
  elseif opts.unfreeze ~= nil and opts.unfreeze ~= "gradual" then
    options.raise(('fit: unfreeze must be "gradual" or {every, groups}, not %q'):format(opts.unfreeze))
  end
  local opt = opts.optimizer
  if not opt then
    local params = model:trainable_parameters()
    if #params == 0 then error("fit: the model has no trainable parameters (everything is frozen)", 2) end
    opt = require("graft.optim").AdamW(params, {lr = opts.lr or 1e-3})
  end
  local sched = opts.scheduler
  local s = {
    model = model, optimizer = opt, loader = loader, scheduler = sched, loss = opts.loss or function(logits, y) return F.cross_entropy(logits, y) end,
    epoch = 0, step = 0, history = {}, bad_epochs = 0, named_params = model:named_parameters(),
    per_batch_scheduler = sched ~= nil and (opts.scheduler_step == "batch" or sched.__name == "OneCycleLR"),
  }
  local monitor = opts.monitor or (opts.val and "val_accuracy" or "accuracy")
  local early = opts.early_stopping
  if early and type(early) ~= "table" then early = {patience = early} end
  local early_metric = early and (early.metric or monitor)
  if opts.resume then
    local f = io.open(opts.resume, "rb")
    if f then
      f:close()
      read_checkpoint(opts.resume, s)
      s.saved_epoch = s.epoch
      for _, r in ipairs(s.history) do s.step = s.step + (r.steps or 0) end
    end
  end
  record_data(model, loader)
  local unfreeze = opts.unfreeze
  if unfreeze == "gradual" then unfreeze = {} end
  local log = opts.log and assert(io.open(opts.log, s.epoch > 0 and "a" or "w"))
  local ok, err = pcall(function()
    for epoch = s.epoch + 1, opts.epochs do
      if unfreeze then
        transfer.unfreeze_top(model, 1 + (epoch - 1) // (unfreeze.every or 1), unfreeze.groups)
      end
      local t0, steps0 = core.clock(), s.step
      local lr = opt.param_groups[#opt.param_groups].lr
      local loss, acc = train_epoch(s, opts, epoch)
      record_input_size(model, s.sizes)
      local record = {epoch = epoch, loss = loss, accuracy = acc, lr = lr}
      if opts.val then
        local r = transfer.evaluate(model, opts.val, {loss = opts.loss and s.loss or nil, progress = false})
        record.val_loss, record.val_accuracy = r.loss, r.accuracy
      end
      if sched and not s.per_batch_scheduler then sched:step() end
      record.seconds, record.steps = core.clock() - t0, s.step - steps0
      s.history[#s.history + 1] = record
      s.epoch = epoch
      -- a metric that is never recorded would silently disable save_best and early stopping
      check_metric(record, "monitor", monitor)
      if early then check_metric(record, "early_stopping.metric", early_metric) end
      local value = record[monitor]
      local improved = value ~= nil and (s.best == nil or (higher_is_better(monitor) and value > s.best.value)
                                          or (not higher_is_better(monitor) and value < s.best.value))
      if improved then
        s.best = {value = value, epoch = epoch}
        if opts.save_best then save_best(model, opts.save_best) end
      end
      local stop = false
      if early then
        local v, delta = record[early_metric], early.min_delta or 0
        if v ~= nil then
          local better = s.early_ref == nil or (higher_is_better(early_metric) and v > s.early_ref + delta)
                         or (not higher_is_better(early_metric) and v < s.early_ref - delta)
          if better then s.early_ref, s.bad_epochs = v, 0 else s.bad_epochs = s.bad_epochs + 1 end
          stop = s.bad_epochs >= (early.patience or 3)
        end
      end
      record.stopped_early = stop or nil
      if opts.checkpoint then
        write_checkpoint(opts.checkpoint, s)
        s.saved_epoch = epoch
      end
      if log then
        log:write(json.encode(record), "\n")
        log:flush()
      end
      if opts.progress ~= false then
        io.stderr:write(("epoch %d/%d: loss %.4f acc %.4f%s (%.1fs)\n"):format(epoch, opts.epochs, loss, acc,
          record.val_accuracy and (" val_loss %.4f val_acc %.4f"):format(record.val_loss, record.val_accuracy) or "",
          record.seconds))
      end
      if opts.on_epoch and opts.on_epoch(record) == false then stop = true end
      if stop then break end
    end
  end)
  if log then log:close() end
  if not ok then error(err, 0) end
  return s.history
end

return transfer.fit
