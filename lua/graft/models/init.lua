--- graft.models: the zoo. Each architecture is registered with a builder and its
-- preprocessing defaults; graft.models.NAME{num_classes, weights, in_chans, ...} builds it,
-- carries its config, and loads weights (torchvision's/timm's keys) when given.
-- @module graft.models
local graft_core = require "graft.core"
local nn = require "graft.nn"
local options = require "graft.options"

local T = graft_core.Tensor
local models = {}
local registry = {}

local IMAGENET = {input_size = {3, 224, 224}, mean = {0.485, 0.456, 0.406}, std = {0.229, 0.224, 0.225},
                  interpolation = "bilinear", crop_pct = 0.875}
models.IMAGENET_DEFAULTS = IMAGENET

--- The base of zoo models: a classifier head at a known path, num_features, and
-- forward_features(x) giving the {N, num_features} representation the head consumes. A
-- family defines forward_pooled(x) for it (not `features`: torchvision names submodules so).
-- @type ZooModel
local ZooModel = nn.Module:extend "ZooModel"
models.ZooModel = ZooModel

--- reset_classifier(n): a fresh, trainable head with n outputs (nn.Identity for n = 0). The
-- config's class names go with the old head unless there are still n of them, so a model
-- fine-tuned on other classes never reports the old names (fit then takes its data set's).
function ZooModel:reset_classifier(n)
  local head = n > 0 and nn.Linear(self.num_features, n) or nn.Identity()
  self:set(self.head_path, head)
  local cfg = self.config
  if cfg then
    cfg.args.num_classes = n
    if type(cfg.classes) == "table" and #cfg.classes ~= n then cfg.classes = nil end
  end
  return head
end

--- forward_features(x [, {return_layers = {...}}]): the pooled features, or with
-- return_layers a table of the named modules' outputs (feature maps).
function ZooModel:forward_features(x, opts)
  options.check("forward_features", opts, {return_layers = "table"})
  if not (opts and opts.return_layers) then return self:forward_pooled(x) end
  local got, handles = {}, {}
  for _, name in ipairs(opts.return_layers) do
    handles[#handles + 1] = self:get(name):register_forward_hook(function(_, _, out) got[name] = out end)
  end
  local ok, err = pcall(self.forward_pooled, self, x)
  for _, h in ipairs(handles) do h.remove() end
  if not ok then error(err, 0) end
  return got
end

function ZooModel:forward(x) return self:get(self.head_path)(self:forward_pooled(x)) end

-- fold_bn = false: every BatchNorm of the model runs plainly, also where its block or
-- Sequential asks for folding (nn.conv_bn).
local function no_folds(model)
  for _, m in ipairs(model:named_modules()) do
    if rawget(m[2], "_is_batch_norm") then rawset(m[2], "_no_fold", true) end
  end
end

-- timm's adapt_input_conv: pretrained first-conv weights for another channel count
-- (1: the sum over RGB; c: RGB repeated, cut to c channels and scaled by 3 / c).
local function adapt_input_conv(w, c)
  local have = T.size(w, 2)
  if c == have then return w end
  if c == 1 then return w:sum(2, true) end
  local reps = {}
  for i = 1, math.ceil(c / have) do reps[i] = w end
  return require("graft.functional").cat(reps, 2):narrow(2, 1, c) * (have / c)
end

local function read_weights(path)
  if type(path) ~= "string" then error("weights must be a file path", 4) end
  return (require "graft").load(path)
end

--- The registry
-- @section registry

-- The options register itself handles, which every architecture takes.
local COMMON = {num_classes = "integer", weights = "string", in_chans = "integer", fold_bn = "boolean", classes = "table"}
models.COMMON_OPTIONS = COMMON

--- register(name, build [, config [, {options, transform_input}]]): build(args) returns the
-- model (ideally a ZooModel); config overrides the ImageNet preprocessing defaults. `options`
-- lists what build reads beyond the options every architecture takes (num_classes, weights,
-- in_chans, fold_bn, classes): an array of names or a map name -> type ("number", "integer",
-- "boolean", "string", "table", ...); any other name is an error (graft.options).
-- transform_input = true: pretrained weights expect it (torchvision's Inception). The
-- architecture then builds with graft.models.NAME{...} and saves and loads with
-- graft.save_model / graft.load_model.
function models.register(name, build, config, opts)
  opts = options.check("register", opts, {options = "table", transform_input = "boolean"})
  local spec = options.merge(COMMON)
  for k, v in pairs(opts.options or {}) do
    if type(k) == "number" then spec[v] = "any" else spec[k] = v end
  end
  local defaults = {}
  for k, v in pairs(IMAGENET) do defaults[k] = v end
  for k, v in pairs(config or {}) do defaults[k] = v end
  registry[name] = {build = build, defaults = defaults, transform_with_weights = opts.transform_input, options = spec}
  -- strict: the user's options (checked); otherwise a saved config's args, which are data:
  -- names this architecture does not take are left out.
  local function construct(given, strict)
    local args = {}
    if strict then
      given = options.check(name, given, spec)
    else
      local kept = {}
      for k, v in pairs(given or {}) do if spec[k] then kept[k] = v end end
      given = kept
    end
    for k, v in pairs(given) do if k ~= "weights" then args[k] = v end end
    args.num_classes = args.num_classes or 1000
    local in_chans = args.in_chans or 3
    if given.weights and args.transform_input == nil and registry[name].transform_with_weights then
      args.transform_input = true   -- as torchvision: pretrained Inception weights expect it
    end
    local m = build(args)
    if args.fold_bn == false then no_folds(m) end
    local cfg = {arch = name, args = args, classes = given.classes}
    for k, v in pairs(defaults) do cfg[k] = type(v) == "table" and {table.unpack(v)} or v end
    cfg.input_size[1] = in_chans
    if in_chans ~= 3 and #cfg.mean == 3 then   -- one channel: the mean of the RGB statistics
      local mean = (cfg.mean[1] + cfg.mean[2] + cfg.mean[3]) / 3
      local std = (cfg.std[1] + cfg.std[2] + cfg.std[3]) / 3
      cfg.mean, cfg.std = {}, {}
      for i = 1, in_chans do cfg.mean[i], cfg.std[i] = mean, std end
    end
    rawset(m, "config", cfg)
    if given.weights then
      local ok, err = pcall(function() models.load_weights(m, read_weights(given.weights), {in_chans = in_chans}) end)
      if not ok then
        err = tostring(err):gsub("^[^:]*:%d+: ", "")
        -- graft.load's errors name the file already
        options.raise(err:find(given.weights, 1, true) and err or ("%s: weights %s: %s"):format(name, given.weights, err))
      end
    end
    return m
  end
  registry[name].construct = construct
  models[name] = function(given) return construct(given, true) end
end

--- rebuild(name, args): the architecture built from a saved config's args (graft.load_model):
-- a config is data, so names the architecture does not take are ignored, not errors.
function models.rebuild(name, args)
  local entry = registry[name]
  if entry and entry.construct then return entry.construct(args, false) end
  if entry and entry.options then
    local kept = {}
    for k, v in pairs(args) do if entry.options[k] then kept[k] = v end end
    args = kept
  end
  return models[name](args)
end

--- load_weights(m, state_dict [, {in_chans, prefix}]): loads a pretrained state dict into a
-- zoo model: adapts the first convolution to in_chans, keeps the model's fresh head when the
-- checkpoint's has another number of classes (as timm does), and is otherwise strict.
function models.load_weights(m, sd, opts)
  opts = options.check("load_weights", opts, {in_chans = "integer", prefix = "string"})
  local own = m:state_dict()
  local first = rawget(m, "first_conv") or m.first_conv
  local prefix = opts.prefix
  local strip = function(k) return prefix and k:sub(1, #prefix) == prefix and k:sub(#prefix + 1) or k end
  local incoming = {}
  for k, v in pairs(sd) do incoming[strip(k)] = v end
  -- Auxiliary heads stored in a file (GoogLeNet, Inception-v3) are dropped when the model was
  -- built without them (aux_logits = false).
  for _, aux in ipairs(m.aux_prefixes or {}) do
    if own[aux:sub(1, -2) .. ".fc.weight"] == nil and own[aux .. "fc2.weight"] == nil and own[aux .. "fc.weight"] == nil then
      for k in pairs(incoming) do if k:sub(1, #aux) == aux then incoming[k] = nil end end
    end
  end
  if first and incoming[first] and own[first] and opts.in_chans and T.dim(incoming[first]) == 4
     and opts.in_chans ~= T.size(incoming[first], 2) then
    incoming[first] = adapt_input_conv(incoming[first], opts.in_chans)
  end
  local head = m.head_path
  if head and incoming[head .. ".weight"] and own[head .. ".weight"]
     and T.size(incoming[head .. ".weight"], 1) ~= T.size(own[head .. ".weight"], 1) then
    incoming[head .. ".weight"], incoming[head .. ".bias"] = nil, nil
    local missing, unexpected = m:load_state_dict(incoming, {strict = false})
    for _, k in ipairs(missing) do
      if k ~= head .. ".weight" and k ~= head .. ".bias" then
        error("load_weights: missing key " .. k .. " (and the head was replaced)", 3)
      end
    end
    if #unexpected > 0 then error("load_weights: unexpected keys: " .. table.concat(unexpected, ", "), 3) end
    return m
  end
  m:load_state_dict(incoming)
  return m
end

--- register_custom(name, construct [, options]): an architecture that builds itself:
-- construct(opts) returns the model with its config `{arch = name, args = ...}` set (and
-- checks its own options), and graft.models.NAME{...} is construct; graft.load_model
-- rebuilds it from args (BERT does so: its args hold the decoded config.json), keeping only
-- the names in `options` (a map name -> type) when it is given.
function models.register_custom(name, construct, spec)
  registry[name] = {build = construct, custom = true, options = spec}
  models[name] = construct
end

--- list(): the registered architectures, sorted.
function models.list()
  local names = {}
  for name in pairs(registry) do names[#names + 1] = name end
  table.sort(names)
  return names
end

function models.spec(name) return registry[name] end

for _, family in ipairs {"graft.models.resnet", "graft.models.vgg", "graft.models.mobilenet",
                         "graft.models.efficientnet", "graft.models.googlenet", "graft.models.inception",
                         "graft.models.xception", "graft.models.bert"} do
  require(family)(models)
end


--- The architectures
-- @section zoo

--- ResNet (torchvision's v1.5): also `resnet18`, `resnet34`, `resnet101`, `resnet152`, and the
-- CIFAR-style `resnet20_cifar`, `resnet32_cifar`, `resnet44_cifar`, `resnet56_cifar` for 32 x 32
-- inputs. Every zoo constructor takes the same options; the model has torchvision's keys.
-- @tparam[opt] table opts `{num_classes = 1000, weights = path, in_chans = 3, fold_bn = true}`:
-- `weights` a safetensors file, a sharded index or a torchvision .pth (a different
-- num_classes keeps the checkpoint's trunk and a fresh head); `in_chans` adapts the first
-- convolution's pretrained weights as timm does
-- @treturn ZooModel
-- @function resnet50

--- VGG: also `vgg11`, `vgg13`, `vgg19` and the BatchNorm variants `vgg11_bn`, `vgg13_bn`,
-- `vgg16_bn`, `vgg19_bn`
-- (head `classifier.6`).
-- @tparam[opt] table opts as `resnet50`
-- @treturn ZooModel
-- @function vgg16

--- MobileNet v2; also `mobilenet_v3_small`, `mobilenet_v3_large` (head `classifier.3`).
-- @tparam[opt] table opts as `resnet50`
-- @treturn ZooModel
-- @function mobilenet_v2

--- EfficientNet-b0; also `efficientnet_b1`, `efficientnet_b2`, `efficientnet_b3`,
-- `efficientnet_b4`, `efficientnet_b5`, `efficientnet_b6`, `efficientnet_b7` (inputs 240 to
-- 600 px, bicubic).
-- @tparam[opt] table opts as `resnet50`
-- @treturn ZooModel
-- @function efficientnet_b0

--- GoogLeNet (Inception v1); `aux_logits` and `transform_input` as torchvision. Also
-- `inception_v3` (299 x 299 inputs).
-- @tparam[opt] table opts as `resnet50`, plus `{aux_logits, transform_input}`
-- @treturn ZooModel
-- @function googlenet

--- BERT (Hugging Face's `BertModel`): embeddings, encoder and pooler with Hugging Face's
-- keys (`embeddings.word_embeddings.weight`, `encoder.layer.0.attention.self.query.weight`,
-- ..., `pooler.dense.weight`). `m(input_ids [, {attention_mask, token_type_ids}])` returns
-- `last_hidden_state {B, T, H}, pooled {B, H}`; ids are 1-based, token types 1 and 2, the
-- mask 1 for tokens and 0 for padding; a batch table `{input_ids = ..., ...}` works too.
-- `m:forward_features(ids [, {pool}])`: pool "pooler" (default), "cls" or "mean". Weights
-- from Hugging Face files load with their quirks: a `bert.` prefix, pretraining heads
-- (`cls.*`) and `position_ids` skipped with a note, `LayerNorm.gamma/beta` renamed, a
-- missing pooler kept fresh.
-- @tparam table opts `{config = path_or_table, weights = path}`: config is a Hugging Face
-- config.json (hidden_size, num_hidden_layers, num_attention_heads, intermediate_size,
-- vocab_size, max_position_embeddings, type_vocab_size, hidden_act, layer_norm_eps, ...)
-- @treturn ZooModel
-- @function bert

--- BERT with a classification head (Hugging Face's `BertForSequenceClassification`:
-- `bert.*` and `classifier.*` keys): returns logits `{B, num_classes}`. A `BertModel`
-- checkpoint loads into it with a fresh classifier, as does one with another number of
-- labels. `reset_classifier(n)` makes a fresh head initialised as Hugging Face does.
-- @tparam table opts `{config = path_or_table, num_classes = config.num_labels, weights = path}`
-- @treturn ZooModel
-- @function bert_classifier

--- Xception with timm's `legacy_xception` keys (299 x 299 inputs, mean = std = 0.5).
-- @tparam[opt] table opts as `resnet50`
-- @treturn ZooModel
-- @function xception

return models
