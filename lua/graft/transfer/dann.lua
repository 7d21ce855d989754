--- graft.transfer.dann: domain-adversarial training (Ganin & Lempitsky 2015, "Unsupervised
-- Domain Adaptation by Backpropagation"). A domain classifier learns to tell source features
-- from target features through a gradient-reversal layer, so the feature extractor learns
-- features that serve the labelled source task and look alike in both domains; the target
-- domain needs no labels.
-- @module graft.transfer
local core = require "graft.core"
local F = require "graft.functional"
local nn = require "graft.nn"
local transfer = require "graft.transfer"
local Progress = require "graft.transfer.progress"
local options = require "graft.options"

local T = core.Tensor

-- Ganin's schedule for the reversal strength: 0 at the start, towards 1 at the end.
local function ganin_lambda(p) return 2 / (1 + math.exp(-10 * p)) - 1 end

--- dann(model, source, target, opts) -> history (one record per epoch: loss, accuracy,
-- domain_loss, domain_accuracy, lambda). model has forward_features(x) -> {N, D} and its
-- classifier at model.head_path (zoo models do; so can any Module); source yields (x, y),
-- target yields (x, _) (labels unused) and is cycled as needed. Options: epochs, optimizer
-- (default Adam on the model's trainable parameters and the domain classifier's, lr =
-- opts.lr or 1e-3), domain_hidden (default 256), lambda (a number, or default Ganin's
-- schedule), domain_weight (default 1), progress. The domain classifier is returned as
-- history.domain_classifier.
function transfer.dann(model, source, target, opts)
  opts = options.check("dann", opts, {
    epochs = "integer", optimizer = "table", lr = "number", num_features = "integer", domain_hidden = "integer>=1",
    lambda = "number", domain_weight = "number", progress = "boolean", on_epoch = "callable"})
  transfer.check_loader("dann", "argument #2 (source)", source)
  transfer.check_loader("dann", "argument #3 (target)", target)
  if opts.lr ~= nil and opts.optimizer ~= nil then
    options.raise("dann: lr configures the default optimizer only; with optimizer, set the rate on the optimizer")
  end
  if math.type(opts.epochs) ~= "integer" or opts.epochs < 1 then error("dann: epochs (a positive integer) is required", 2) end
  if not model.forward_features or not model.head_path then
    error("dann: the model needs forward_features(x) and head_path (as zoo models have)", 2)
  end
  local head = model:get(model.head_path)
  local D = opts.num_features or model.num_features or T.size(head.weight, 2)
  local hidden = opts.domain_hidden or 256
  local grl = nn.GradientReversal(0)
  local domain = nn.Sequential {nn.Linear(D, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2)}
  local opt = opts.optimizer
  if not opt then
    local params = model:trainable_parameters()
    for _, p in ipairs(domain:parameters()) do params[#params + 1] = p end
    opt = require("graft.optim").Adam(params, {lr = opts.lr or 1e-3})
  end
  local weight = opts.domain_weight or 1
  local total_steps, step = opts.epochs * #source, 0
  local history = {domain_classifier = domain}
  local target_iter = target:iter()
  local function next_target()
    local xt = target_iter()
    if xt == nil then
      target_iter = target:iter()
      xt = target_iter()
    end
    return xt
  end
  model:train(true)
  domain:train(true)
  for epoch = 1, opts.epochs do
    local progress = Progress.new(("dann %d/%d"):format(epoch, opts.epochs), #source, {enabled = opts.progress})
    local sums = {loss = 0, correct = 0, dloss = 0, dcorrect = 0, n = 0, dn = 0}
    local batch = 0
    for xs, ys in source:iter() do
      batch, step = batch + 1, step + 1
      local lambda = type(opts.lambda) == "number" and opts.lambda or ganin_lambda((step - 1) / total_steps)
      rawset(grl, "lambda", lambda)
      local xt = next_target()
      local ns, nt = T.size(xs, 1), T.size(xt, 1)
      local feats = model:forward_features(F.cat({xs, xt}, 1))
      local fs = T.narrow(feats, 1, 1, ns)
      local logits = head(fs)
      local cls_loss = F.cross_entropy(logits, ys)
      local dlabels = F.cat({core.ones({ns}, "i64"), core.full({nt}, 2, "i64")}, 1)
      local dlogits = domain(grl(feats))
      local dom_loss = F.cross_entropy(dlogits, dlabels)
      local loss = cls_loss + dom_loss * weight
      opt:zero_grad()
      loss:backward()
      opt:step()
      sums.loss = sums.loss + T.item(cls_loss) * ns
      sums.correct = sums.correct + transfer.count_correct(logits, ys)
      sums.dloss = sums.dloss + T.item(dom_loss) * (ns + nt)
      sums.dcorrect = sums.dcorrect + transfer.count_correct(dlogits, dlabels)
      sums.n, sums.dn = sums.n + ns, sums.dn + ns + nt
      progress:update(batch, sums.n, {{"loss", sums.loss / sums.n}, {"domain_acc", sums.dcorrect / sums.dn}})
    end
    history[epoch] = {epoch = epoch, loss = sums.loss / sums.n, accuracy = sums.correct / sums.n,
                      domain_loss = sums.dloss / sums.dn, domain_accuracy = sums.dcorrect / sums.dn,
                      lambda = rawget(grl, "lambda")}
    if opts.on_epoch then opts.on_epoch(history[epoch]) end
  end
  return history
end

return transfer.dann
