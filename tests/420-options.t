#!/usr/bin/env lua5.4
-- tests/420-options.t — strict options (API.md "Options and errors"): for every public
-- function that takes an options table, a misspelt name is an error naming the function, the
-- name and the valid one; a value of the wrong type names the option and the type expected;
-- both point at the caller's line; the correct call still works. Also freeze/unfreeze
-- patterns that match nothing or do not compile, fit's monitor, lr with optimizer, a data
-- set where a loader belongs, and data that is not options (configs, parameter groups).
local T, graft, oracle = require "tap", require "graft", require "oracle"
local F, nn, optim, data, tf, transfer = graft.F, graft.nn, graft.optim, graft.data, graft.data.transforms, graft.transfer
local S = optim.lr_scheduler
graft.manual_seed(T.seed())

local HERE = "420-options.t:"
local R = graft.randn

-- fixtures
local dir = oracle.tmpname()
os.execute(("mkdir -p %s/imgs/a %s/imgs/b"):format(dir, dir))
graft.image.save(dir .. "/imgs/a/1.png", graft.rand{3, 8, 8})
graft.image.save(dir .. "/imgs/b/1.png", graft.rand{3, 8, 8})
local csv = dir .. "/t.csv"
do
  local f = assert(io.open(csv, "w"))
  f:write("text,label\nhello world,pos\nbad day,neg\n")
  f:close()
end
local vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "bad", "day"}
local tok = graft.text.WordPiece(vocab)

local function tiny_model()
  local m = nn.Sequential {nn.Flatten(), nn.Linear(4, 3)}
  return m
end
local tds = data.TensorDataset(R{8, 4}, graft.tensor({1, 2, 3, 1, 2, 3, 1, 2}, "i64"))
local tloader = data.Loader(tds, {batch_size = 4})
local features, labels = R{12, 4}, graft.tensor({1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3}, "i64")
local bert_config = {hidden_size = 8, num_hidden_layers = 1, num_attention_heads = 2, intermediate_size = 16,
                     vocab_size = 12, max_position_embeddings = 16, type_vocab_size = 2}
local function sgd() return optim.SGD(nn.Linear(2, 2):parameters(), {lr = 0.1, momentum = 0.9}) end

local function with(base, k, v)
  local o = {}
  for key, val in pairs(base or {}) do o[key] = val end
  o[k] = v
  return o
end

-- {name in errors, call(opts), good opts (or false: the good call is run elsewhere), typo,
--  the name it should suggest, {option, wrong value, type words}}
local cases = {
  {"conv2d", function(o) return F.conv2d(R{1, 2, 5, 5}, R{3, 2, 3, 3}, nil, o) end, {padding = 1, stride = {1, 1}},
   "paddin", "padding", {"padding", "1", "an integer or a table"}},
  {"conv2d", function(o) return F.conv2d(R{1, 2, 5, 5}, R{4, 1, 3, 3}, o) end, {groups = 2, dilation = 2},
   "group", "groups", {"groups", 1.5, "an integer"}},
  {"max_pool2d", function(o) return F.max_pool2d(R{1, 1, 5, 5}, 2, o) end, {stride = 2, ceil_mode = true},
   "ceilmode", "ceil_mode", {"ceil_mode", 1, "a boolean"}},
  {"avg_pool2d", function(o) return F.avg_pool2d(R{1, 1, 5, 5}, 2, o) end, {count_include_pad = false},
   "count_include_pads", "count_include_pad", {"divisor_override", "a", "an integer"}},
  {"batch_norm", function(o) return F.batch_norm(R{4, 3}, nil, nil, o) end, {training = true, eps = 1e-3},
   "momentun", "momentum", {"eps", "x", "a number"}},
  {"scaled_dot_product_attention", function(o) return F.scaled_dot_product_attention(R{1, 1, 2, 4}, R{1, 1, 3, 4}, R{1, 1, 3, 4}, o) end,
   {scale = 0.5}, "scal", "scale", {"scale", "x", "a number"}},
  {"dropout", function(o) return F.dropout(R{4}, o) end, {p = 0.2, training = false}, "trainig", "training", {"p", "x", "a number"}},
  {"embedding", function(o) return F.embedding(graft.tensor({1, 2}, "i64"), R{3, 2}, o) end, {padding_idx = 1},
   "pading_idx", "padding_idx", {"padding_idx", "1", "an integer"}},
  {"nll_loss", function(o) return F.nll_loss(F.log_softmax(R{2, 3}, 2), graft.tensor({1, 2}, "i64"), o) end,
   {reduction = "sum"}, "reducton", "reduction", {"ignore_index", "x", "an integer"}},
  {"cross_entropy", function(o) return F.cross_entropy(R{2, 3}, graft.tensor({1, 2}, "i64"), o) end,
   {label_smoothing = 0.1}, "label_smothing", "label_smoothing", {"label_smoothing", "x", "a number"}},
  {"mse_loss", function(o) return F.mse_loss(R{3}, R{3}, o) end, {reduction = "sum"}, "reductio", "reduction",
   {"reduction", 1, "a string"}},
  {"binary_cross_entropy_with_logits", function(o) return F.binary_cross_entropy_with_logits(R{3}, graft.rand{3}, o) end,
   {pos_weight = 2}, "posweight", "pos_weight", {"weight", "x", "a tensor or a number"}},
  -- nn layers and losses
  {"nn.Conv2d", function(o) return nn.Conv2d(2, 3, 3, o) end, {padding = 1, bias = false}, "bais", "bias", {"bias", 1, "a boolean"}},
  {"nn.Linear", function(o) return nn.Linear(2, 3, o) end, {bias = false}, "bias_", "bias", {"bias", "no", "a boolean"}},
  {"nn.BatchNorm2d", function(o) return nn.BatchNorm2d(3, o) end, {momentum = 0.01}, "momentun", "momentum", {"affine", "yes", "a boolean"}},
  {"nn.BatchNorm1d", function(o) return nn.BatchNorm1d(3, o) end, {eps = 1e-3}, "epsilon", "eps", {"eps", "x", "a number"}},
  {"nn.LayerNorm", function(o) return nn.LayerNorm(4, o) end, {elementwise_affine = false}, "elementwise_afine", "elementwise_affine",
   {"eps", "x", "a number"}},
  {"nn.Embedding", function(o) return nn.Embedding(10, 4, o) end, {padding_idx = 1}, "padding_id", "padding_idx",
   {"padding_idx", 1.5, "an integer"}},
  {"nn.MaxPool2d", function(o) return nn.MaxPool2d(2, o) end, {stride = 1}, "strid", "stride", {"ceil_mode", "y", "a boolean"}},
  {"nn.AvgPool2d", function(o) return nn.AvgPool2d(2, o) end, {count_include_pad = false}, "count_include_pads", "count_include_pad",
   {"count_include_pad", 0, "a boolean"}},
  {"nn.Dropout", function(o) return nn.Dropout(o) end, {p = 0.1}, "P", "p", {"p", "x", "a number"}},
  {"nn.CrossEntropyLoss", function(o) return nn.CrossEntropyLoss(o) end, {label_smoothing = 0.1}, "label_smothing", "label_smoothing",
   {"reduction", 1, "a string"}},
  {"nn.NLLLoss", function(o) return nn.NLLLoss(o) end, {ignore_index = 2}, "ignore_idx", "ignore_index", {"ignore_index", "2", "an integer"}},
  {"nn.MSELoss", function(o) return nn.MSELoss(o) end, {reduction = "sum"}, "reducion", "reduction", {"reduction", true, "a string"}},
  {"nn.BCEWithLogitsLoss", function(o) return nn.BCEWithLogitsLoss(o) end, {pos_weight = 2}, "pos_wieght", "pos_weight",
   {"pos_weight", "x", "a tensor or a number"}},
  {"load_state_dict", function(o) local m = nn.Linear(2, 2) return m:load_state_dict(m:state_dict(), o) end, {strict = true},
   "strct", "strict", {"strict", "yes", "a boolean"}},
  {"freeze", function(o) return nn.Linear(2, 2):freeze(o) end, {bn = "train"}, "nb", "bn", {"bn", 1, "a string"}},
  {"forward_features", function(o) return graft.models.resnet20_cifar{num_classes = 2}:forward_features(R{1, 3, 8, 8}, o) end,
   {return_layers = {"layer1"}}, "return_layer", "return_layers", {"return_layers", "layer1", "a table"}},
  {"backward", function(o) local x = R{3}:requires_grad_() return (x * x):sum():backward(o) end, {retain_graph = true},
   "retain_grap", "retain_graph", {"retain_graph", 1, "a boolean"}},
  {"topk", function(o) return R{5}:topk(2, 1, o) end, {largest = false}, "larget", "largest", {"largest", 0, "a boolean"}},
  {"load_weights", function(o) local r = graft.models.resnet20_cifar{num_classes = 2} return graft.models.load_weights(r, r:state_dict(), o) end,
   {prefix = "module."}, "prefx", "prefix", {"in_chans", "1", "an integer"}},
  -- models
  {"resnet18", function(o) return graft.models.resnet18(o) end, false, "num_clases", "num_classes", {"num_classes", "10", "an integer"}},
  {"resnet20_cifar", function(o) return graft.models.resnet20_cifar(o) end, {num_classes = 4, in_chans = 1, fold_bn = false},
   "in_chan", "in_chans", {"fold_bn", "no", "a boolean"}},
  {"vgg11", function(o) return graft.models.vgg11(o) end, false, "dropuot", "dropout", {"dropout", "0.5", "a number"}},
  {"googlenet", function(o) return graft.models.googlenet(o) end, false, "aux_logit", "aux_logits", {"transform_input", 1, "a boolean"}},
  {"bert", function(o) return graft.models.bert(o) end, {config = bert_config}, "weight", "weights", {"config", 3, "a string or a table"}},
  {"bert_classifier", function(o) return graft.models.bert_classifier(o) end, {config = bert_config, num_classes = 3},
   "num_labels", "num_classes", {"num_classes", "3", "an integer"}},
  {"bert", function(o) return graft.models.bert{config = bert_config}(graft.tensor({{1, 2, 3}}, "i64"), o) end,
   {attention_mask = graft.ones({1, 3}, "i64")}, "attention_masks", "attention_mask", {"token_type_ids", {1}, "a tensor"}},
  -- optimizers and schedulers
  {"SGD", function(o) return optim.SGD(nn.Linear(2, 2):parameters(), o) end, {lr = 0.1, momentum = 0.9}, "momentun", "momentum",
   {"lr", "fast", "a number"}},
  {"Adam", function(o) return optim.Adam(nn.Linear(2, 2):parameters(), o) end, {lr = 0.1, betas = {0.8, 0.9}}, "beta", "betas",
   {"betas", 0.9, "a table"}},
  {"AdamW", function(o) return optim.AdamW(nn.Linear(2, 2):parameters(), o) end, {weight_decay = 0}, "weight_decey", "weight_decay",
   {"weight_decay", "x", "a number"}},
  {"StepLR", function(o) return S.StepLR(sgd(), 2, o) end, {gamma = 0.5}, "gama", "gamma", {"gamma", "x", "a number"}},
  {"MultiStepLR", function(o) return S.MultiStepLR(sgd(), {2, 4}, o) end, {gamma = 0.5}, "gamme", "gamma", {"gamma", {}, "a number"}},
  {"CosineAnnealingLR", function(o) return S.CosineAnnealingLR(sgd(), 10, o) end, {eta_min = 0.001}, "eta_mni", "eta_min",
   {"eta_min", "x", "a number"}},
  {"LinearLR", function(o) return S.LinearLR(sgd(), o) end, {start_factor = 0.5, total_iters = 3}, "start_factr", "start_factor",
   {"total_iters", 2.5, "an integer"}},
  {"OneCycleLR", function(o) return S.OneCycleLR(sgd(), o) end, {max_lr = 0.1, total_steps = 10}, "max_rl", "max_lr",
   {"three_phase", "y", "a boolean"}},
  -- the transfer verbs
  {"fit", function(o) return graft.fit(tiny_model(), tloader, o) end, {epochs = 1, lr = 1e-3, progress = false},
   "learning_rate", "lr", {"lr", "fast", "a number"}},
  {"fit", function(o) return graft.fit(tiny_model(), tloader, o) end, false, "vall", "val", {"epochs", "1", "an integer"}},
  {"evaluate", function(o) return graft.evaluate(tiny_model(), tloader, o) end, {progress = false}, "progres", "progress",
   {"loss", "ce", "a function"}},
  {"extract", function(o) return graft.extract(tiny_model(), tloader, o) end, {progress = false, pool = "none"}, "pol", "pool",
   {"layer", 1, "a string"}},
  {"predict", function(o) return graft.predict(tiny_model(), {R{4}}, o) end, {topk = 2}, "top_k", "topk", {"topk", "2", "an integer"}},
  {"linear_probe", function(o) return transfer.linear_probe(features, labels, o) end, {l2 = 1e-3}, "num_class", "num_classes",
   {"seed", "x", "an integer"}},
  {"knn", function(o) return transfer.knn(features, labels, features, o) end, {k = 3}, "metirc", "metric", {"k", "3", "an integer"}},
  {"lr_find", function(o) return transfer.lr_find(tiny_model(), tloader, o) end, false, "num_iters", "num_iter",
   {"start_lr", "x", "a number"}},
  {"distill", function(o) return transfer.distill(tiny_model(), o) end, {temperature = 2}, "temprature", "temperature",
   {"alpha", "x", "a number"}},
  {"dann", function(o) return transfer.dann(graft.models.resnet20_cifar{num_classes = 2}, tloader, tloader, o) end, false,
   "domain_weigth", "domain_weight", {"domain_hidden", 1.5, "an integer >= 1"}},
  {"param_groups", function(o) return transfer.param_groups(tiny_model(), o) end, {base_lr = 1e-3, decay = 0.5}, "decy", "decay",
   {"base_lr", "x", "a number"}},
  {"lbfgs", function(o) return transfer.lbfgs(function(x) return (x * x):sum():item(), x * 2 end, R{3}, o) end, {max_iter = 5},
   "max_iters", "max_iter", {"tol", "x", "a number"}},
  -- data
  {"Loader", function(o) return data.Loader(tds, o) end, {batch_size = 4, shuffle = true}, "bachsize", "batch_size",
   {"batch_size", "4", "an integer"}},
  {"ImageFolder", function(o) return data.ImageFolder(dir .. "/imgs", o) end, {transform = tf.Resize(4), channels = 1},
   "transfrom", "transform", {"channels", "3", "an integer"}},
  {"FashionMNIST", function(o) return data.FashionMNIST("test", o) end, {root = "/usr/share/datasets/fashion-mnist"}, "rot", "root",
   {"root", 1, "a string"}},
  {"TextClassification", function(o) return data.TextClassification(csv, o) end, {tokenizer = tok, max_length = 8}, "tokeniser", "tokenizer",
   {"max_length", "8", "an integer"}},
  {"per_class", function(o) return data.per_class(tds, 1, o) end, {seed = 1}, "sed", "seed", {"classes", 1, "a table"}},
  {"Resize", function(o) return tf.Resize(8, o) end, {interpolation = "bicubic"}, "interpolaton", "interpolation",
   {"max_size", "9", "an integer"}},
  {"RandomCrop", function(o) return tf.RandomCrop(4, o) end, {padding = 1}, "paddin", "padding", {"pad_if_needed", 1, "a boolean"}},
  {"RandomResizedCrop", function(o) return tf.RandomResizedCrop(4, o) end, {scale = {0.5, 1}}, "scal", "scale", {"ratio", 1, "a table"}},
  {"ColorJitter", function(o) return tf.ColorJitter(o) end, {brightness = 0.1}, "brightnes", "brightness", {"hue", "x", "a number or a table"}},
  {"imagenet_train", function(o) return tf.imagenet_train(32, o) end, {mean = {0, 0, 0}}, "men", "mean", {"std", 1, "a table"}},
  {"imagenet_eval", function(o) return tf.imagenet_eval(32, o) end, {crop_pct = 0.9}, "crop_ptc", "crop_pct", {"crop_pct", "x", "a number"}},
  -- files and text
  {"graft.image.load", function(o) return graft.image.load(dir .. "/imgs/a/1.png", o) end, {channels = 1}, "channel", "channels",
   {"channels", "1", "an integer"}},
  {"WordPiece", function(o) return graft.text.WordPiece(vocab, o) end, {lowercase = false}, "lowercas", "lowercase",
   {"lowercase", "no", "a boolean"}},
  {"encode", function(o) return tok:encode("hello world", o) end, {max_length = 8, padding = "max_length"}, "max_lenght", "max_length",
   {"max_length", "8", "an integer"}},
  {"encode_batch", function(o) return tok:encode_batch({"hello", "bad day"}, o) end, {max_length = 8}, "paddng", "padding",
   {"truncation", 1, "a boolean or a string"}},
  {"decode", function(o) return tok:decode({3, 6, 4}, o) end, {skip_special_tokens = true}, "skip_special_token", "skip_special_tokens",
   {"skip_special_tokens", 1, "a boolean"}},
  {"train_wordpiece", function(o) return graft.text.train_wordpiece({"hello world", "hello day"}, 20, o) end, {min_frequency = 1},
   "min_frequncy", "min_frequency", {"special_tokens", "[PAD]", "a table"}},
}

for _, c in ipairs(cases) do
  local name, call, good, typo, suggestion, wrong = c[1], c[2], c[3], c[4], c[5], c[6]
  local label = ("%s {%s}"):format(name, typo)
  if good then
    local ok, err = pcall(call, good)
    T.ok(ok, label .. ": the correct call works")
    if not ok then T.diag("  error was: " .. tostring(err)) end
  end
  local base = good or {}
  local bad = with(base, typo, base[suggestion] ~= nil and base[suggestion] or 1)
  local ok, err = pcall(call, bad)
  local want = ('%s: unknown option "%s" (did you mean "%s"?)'):format(name, typo, suggestion)
  T.ok(not ok and tostring(err):find(want, 1, true) and tostring(err):find(HERE, 1, true),
       label .. ": a misspelt option is an error naming it and the valid name, at the caller's line")
  if ok or not tostring(err):find(want, 1, true) or not tostring(err):find(HERE, 1, true) then
    T.diag(ok and "  no error was raised" or ("  error was: " .. tostring(err))); T.diag("  expected: " .. want)
  end
  ok, err = pcall(call, with(base, wrong[1], wrong[2]))
  want = ('%s: option "%s" must be %s, got'):format(name, wrong[1], wrong[3])
  T.ok(not ok and tostring(err):find(want, 1, true) and tostring(err):find(HERE, 1, true),
       ("%s {%s = %s}: a value of the wrong type names the option and the type"):format(name, wrong[1], tostring(wrong[2])))
  if ok or not tostring(err):find(want, 1, true) or not tostring(err):find(HERE, 1, true) then
    T.diag(ok and "  no error was raised" or ("  error was: " .. tostring(err))); T.diag("  expected: " .. want)
  end
end

-- Every registered architecture checks its options (before building anything).
for _, arch in ipairs(graft.models.list()) do
  -- bert (the encoder alone) has no num_classes: nothing to suggest
  local want = arch == "bert" and 'bert: unknown option "num_clases" (options: classes, config, verbose, weights)'
               or ('%s: unknown option "num_clases" (did you mean "num_classes"?)'):format(arch)
  T.error_like(function() graft.models[arch]{num_clases = 10} end, want, arch .. " refuses num_clases")
end
T.error_like(function() graft.models.resnet18{dropout = 0.2} end, 'resnet18: unknown option "dropout"',
             "an option another architecture takes is refused where the builder does not read it")
T.error_like(function() graft.models.resnet18{zzz = 1} end, 'options: classes, fold_bn, in_chans, num_classes, weights)',
             "with nothing close, the error lists the options there are")
-- register takes the options its builder accepts
local Tiny = graft.models.ZooModel:extend "OptTiny"
function Tiny:init(args)
  self.fc = nn.Linear(4, args.num_classes)
  rawset(self, "head_path", "fc"); rawset(self, "num_features", 4)
  rawset(self, "width", args.width)
end
function Tiny:forward_pooled(x) return x end
graft.models.register("opt_tiny", function(args) return Tiny(args) end, {input_size = {4}, mean = {0}, std = {1}},
                      {options = {width = "integer"}})
T.is(graft.models.opt_tiny{num_classes = 2, width = 3}.width, 3, "register: a builder's own option is accepted")
T.error_like(function() graft.models.opt_tiny{widht = 3} end, 'opt_tiny: unknown option "widht" (did you mean "width"?)',
             "register: and checked")
T.error_like(function() graft.models.opt_tiny{width = "3"} end, 'opt_tiny: option "width" must be an integer, got string',
             "register: with its type")

graft.models.register("opt_tiny2", function(args) return Tiny(args) end, {input_size = {4}, mean = {0}, std = {1}},
                      {options = {"width"}})
T.is(graft.models.opt_tiny2{num_classes = 2, width = 3}.width, 3, "register: options may be a list of names")
T.error_like(function() graft.models.opt_tiny2{with = 3} end, 'opt_tiny2: unknown option "with" (did you mean "width"?)',
             "register: a list of names is checked too")
T.error_like(function() graft.models.register("opt_tiny3", function() end, nil, {option = {"width"}}) end,
             'register: unknown option "option" (did you mean "options"?)', "register's own options are checked")

-- freeze / unfreeze patterns
local m = graft.models.resnet20_cifar{num_classes = 2}
T.error_like(function() m:freeze("^nothing%.") end, 'freeze: pattern "^nothing%." matches no parameter', "freeze: a pattern matching nothing")
T.error_like(function() m:unfreeze("^fc.(") end, 'unfreeze: pattern "^fc.(" does not compile: unfinished capture',
             "unfreeze: a pattern that does not compile")
T.error_like(function() m:freeze("[a-") end, 'freeze: pattern "[a-" does not compile: malformed pattern (missing \']\')',
             "freeze: an unclosed set")
T.error_like(function() m:freeze("x%") end, "does not compile: malformed pattern (ends with '%')", "freeze: a trailing %")
local ok = pcall(function() m:freeze("^layer%d%."); m:unfreeze("^layer3%.") end)
T.ok(ok and not m:get("layer1.0.conv1").weight.requires_grad and m:get("layer3.0.conv1").weight.requires_grad and m.fc.weight.requires_grad,
     "patterns that match still freeze and unfreeze")
m:unfreeze()
T.ok(pcall(function() m:freeze() end), "freeze() without a pattern still freezes everything")
T.error_like(function() transfer.param_groups(m, {base_lr = 1, groups = {"^conv1%.", "^layr3%."}}) end,
             'layer_groups: pattern "^layr3%." matches no parameter', "layer_groups: a group pattern matching nothing")

-- fit: the monitored metric, lr with optimizer, a data set where a loader belongs
T.error_like(function() graft.fit(tiny_model(), tloader, {epochs = 2, monitor = "val_acc", progress = false}) end,
             'fit: monitor "val_acc" is not a metric of this run (metrics: accuracy, loss)', "fit: an unknown monitored metric")
T.error_like(function() graft.fit(tiny_model(), tloader, {epochs = 2, early_stopping = {patience = 1, metric = "val_loss"}, progress = false}) end,
             'fit: early_stopping.metric "val_loss" is not a metric of this run (metrics: accuracy, loss)', "fit: an unknown early-stopping metric")
T.error_like(function() graft.fit(tiny_model(), tloader, {epochs = 1, early_stopping = {patiense = 1}, progress = false}) end,
             'fit.early_stopping: unknown option "patiense" (did you mean "patience"?)', "fit: early_stopping's fields are options too")
T.error_like(function() graft.fit(tiny_model(), tloader, {epochs = 1, unfreeze = {evry = 1}, progress = false}) end,
             'fit.unfreeze: unknown option "evry" (did you mean "every"?)', "fit: unfreeze's fields are options too")
local model = tiny_model()
local history = graft.fit(model, tloader, {epochs = 1, monitor = "loss", progress = false})
T.is(#history, 1, "fit: a metric that exists can be monitored")
T.error_like(function() graft.fit(model, tloader, {epochs = 1, lr = 0.1, optimizer = optim.SGD(model:parameters(), {lr = 0.1})}) end,
             "fit: lr configures the default optimizer only; with optimizer, set the rate on the optimizer",
             "fit: lr together with optimizer is an error")
T.error_like(function() graft.fit(model, tds, {epochs = 1}) end,
             "fit: argument #2 must be a graft.data.Loader (got a data set: wrap it in graft.data.Loader(ds, {batch_size = ...}))",
             "fit: a data set where the loader belongs")
T.error_like(function() graft.fit(model, tloader, {epochs = 1, val = tds}) end,
             'fit: option "val" must be a graft.data.Loader (got a data set', "fit: a data set as val")
T.error_like(function() graft.evaluate(model, tds) end, "evaluate: argument #2 must be a graft.data.Loader (got a data set",
             "evaluate: a data set where the loader belongs")
T.error_like(function() graft.extract(model, tds) end, "extract: argument #2 must be a graft.data.Loader (got a data set",
             "extract: a data set where the loader belongs")
T.error_like(function() graft.fit(model, "train/", {epochs = 1}) end, "fit: argument #2 must be a graft.data.Loader (got string)",
             "fit: anything else where the loader belongs")

-- Values out of an option's range or set: an error naming the option and what it takes.
local fit_quiet = function(o) return function() return graft.fit(tiny_model(), tloader, with(o, "progress", false)) end end
local value_cases = {
  {"fit accumulate = 0", fit_quiet{epochs = 1, accumulate = 0}, 'fit: option "accumulate" must be an integer >= 1, got 0'},
  {"fit accumulate = -1", fit_quiet{epochs = 1, accumulate = -1}, 'fit: option "accumulate" must be an integer >= 1, got -1'},
  {"fit unfreeze.every = 0", fit_quiet{epochs = 1, unfreeze = {every = 0}},
   'fit.unfreeze: option "every" must be an integer >= 1, got 0'},
  {"fit scheduler_step = \"batches\"", fit_quiet{epochs = 1, scheduler_step = "batches"},
   'fit: option "scheduler_step" must be "batch" or "epoch", got string "batches"'},
  {"fit monitor = \"seconds\"", fit_quiet{epochs = 1, monitor = "seconds"},
   'fit: monitor "seconds" is not a metric of this run (metrics: accuracy, loss)'},
  {"fit monitor = \"lr\"", fit_quiet{epochs = 1, monitor = "lr"}, 'fit: monitor "lr" is not a metric of this run'},
  {"fit early_stopping.metric = \"epoch\"", fit_quiet{epochs = 1, early_stopping = {patience = 1, metric = "epoch"}},
   'fit: early_stopping.metric "epoch" is not a metric of this run'},
  {"linear_probe with no samples", function() return transfer.linear_probe(R{0, 4}, graft.zeros({0}, "i64")) end,
   "linear_probe: no samples"},
  {"dann domain_hidden = 0", function()
     return transfer.dann(graft.models.resnet20_cifar{num_classes = 2}, tloader, tloader, {epochs = 1, domain_hidden = 0})
   end, 'dann: option "domain_hidden" must be an integer >= 1, got 0'},
}
for _, c in ipairs(value_cases) do T.error_like(c[2], c[3], c[1] .. ": an error naming the option") end
T.ok(pcall(fit_quiet{epochs = 1, scheduler_step = "epoch", accumulate = 2, unfreeze = {every = 1}}),
     "fit: values in range still work")
do
  local ok3, res = pcall(graft.predict, tiny_model(), {})
  T.ok(ok3 and type(res) == "table" and #res == 0, "predict: no inputs, no outputs (an empty array)")
  if not ok3 then T.diag(tostring(res)) end
end
-- the spec forms themselves
local options_ = require "graft.options"
T.ok(pcall(options_.check, "f", {a = 1, b = 0.5, c = "x"}, {a = "integer>=1", b = "number>=0<1", c = '"x"|"y"'}),
     "check: values within bounds and in the set pass")
T.error_like(function() options_.check("f", {b = 1}, {b = "number>=0<1"}) end, 'f: option "b" must be a number >= 0 and < 1, got 1',
             "check: an upper bound")
T.error_like(function() options_.check("f", {b = "z"}, {b = 'integer>0|"auto"'}) end,
             'f: option "b" must be an integer > 0 or "auto", got string "z"', "check: a bound and a literal together")

-- A rate set on a group after construction is checked when the optimizer steps.
do
  local l = nn.Linear(2, 2)
  local o = optim.Adam(l:parameters(), {lr = 0.1})
  l(R{1, 2}):sum():backward()
  o.param_groups[1].lr = "fast"
  T.error_like(function() o:step() end, 'Adam: group 1: option "lr" must be a number, got string "fast"',
               "step: a group's lr of the wrong type names lr (not adam_update's argument)")
  T.error_like(function() F.dropout(R{3}, "0.5") end, 'dropout: option "p" must be a number, got string', "dropout: a positional p is checked")
end

-- Data are not options: extra fields of a parameter group are kept; a config's unknown fields too.
local lin = nn.Linear(2, 2)
local opt = optim.SGD({{params = {lin.weight}, lr = 0.1, name = "weights"}, {params = {lin.bias}}}, {lr = 0.01})
T.is(opt.param_groups[1].name, "weights", "optimizer: a group's extra fields are data, kept")
T.is(opt.param_groups[2].lr, 0.01, "optimizer: the defaults fill the other groups")
T.error_like(function() optim.SGD({{params = {lin.weight}, lr = "x"}}) end, 'SGD: group 1: option "lr" must be a number, got string',
             "optimizer: a group's known fields are type-checked")
local cfg = {}
for k, v in pairs(bert_config) do cfg[k] = v end
cfg.architectures, cfg.some_new_field = {"BertModel"}, true
T.ok(pcall(graft.models.bert, {config = cfg}), "bert: unknown config.json fields are data, not options")
-- A saved model whose config carries an argument this graft does not know still loads.
do
  local r = graft.models.resnet20_cifar{num_classes = 2}
  r.config.args.some_old_arg = 1
  graft.save_model(r, dir .. "/r.safetensors")
  local ok2, err2 = pcall(graft.load_model, dir .. "/r.safetensors")
  T.ok(ok2, "load_model: a model's config is data (unknown args are ignored)")
  if not ok2 then T.diag(tostring(err2)) end
end

do
  local b = graft.models.bert_classifier{config = bert_config, num_classes = 3}
  b.config.args.some_old_arg = 1
  graft.save_model(b, dir .. "/b.safetensors")
  local ok2, err2 = pcall(graft.load_model, dir .. "/b.safetensors")
  T.ok(ok2, "load_model: a BERT config's unknown args are ignored too")
  if not ok2 then T.diag(tostring(err2)) end
end

-- The module's pieces
local options = require "graft.options"
T.is(options.suggest("learning_rate", {lr = true, epochs = true}), "lr", "suggest: other libraries' names")
T.is(options.suggest("batchsize", {batch_size = true}), "batch_size", "suggest: underscores and case")
T.is(options.suggest("transfrom", {transform = true}), "transform", "suggest: swapped letters")
T.is(options.suggest("zebra", {lr = true, epochs = true}), nil, "suggest: nothing close, nothing suggested")
T.error_like(function() options.check("f", {1, 2}, {a = "number"}) end, "f: options are named (name = value); got a value at [1]",
             "positional values in an options table are refused")
T.error_like(function() options.check("f", "x", {a = "number"}) end, "f: options must be a table, got string", "options must be a table")
T.ok(pcall(options.check, "f", {a = 1}, {a = "number"}), "check: a known option of the right type passes")

-- Errors the C core raises under graft's Lua wrappers point at the user's line too
for _, c in ipairs {
  {"fill_ of a fraction into i64", function() graft.zeros({2}, "i64"):fill_(0.5) end, "fill_: 0.5 is not an integer"},
  {"conv2d with stride 0", function() graft.F.conv2d(graft.randn{1, 1, 4, 4}, graft.randn{1, 1, 3, 3}, {stride = 0}) end,
   "conv2d: stride and dilation must be >= 1"},
  {"index_select past the end", function() graft.randn{3}:index_select(1, graft.tensor({5}, "i64")) end,
   "index_select: index 5 is out of range"},
  {"image.load of a missing file", function() graft.image.load("/nonexistent/x.png") end, "cannot open"},
} do
  local ok, err = pcall(c[2])
  T.ok(not ok and tostring(err):find(c[3], 1, true) and tostring(err):find(HERE, 1, true),
       c[1] .. ": the error is at the caller's line")
  if ok or not tostring(err):find(HERE, 1, true) then T.diag("  error was: " .. tostring(err)) end
end

T.done()
