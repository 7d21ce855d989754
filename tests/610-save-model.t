#!/usr/bin/env lua5.4
-- tests/610-save-model.t — graft.save_model / graft.load_model: weights and config in one
-- safetensors file that rebuilds the model; PyTorch reads the same file with the same keys.
local T, graft, oracle = require "tap", require "graft", require "oracle"
local nn = graft.nn
graft.manual_seed(T.seed())
local dir = oracle.tmpname()
assert(os.execute("mkdir -p " .. dir))

local m = graft.models.resnet18{num_classes = 3, classes = {"cat", "dog", "fox"}}
m:train()
m(graft.randn{4, 3, 64, 64})      -- moves BatchNorm statistics off their defaults
m:eval()
local path = dir .. "/r18.safetensors"
graft.save_model(m, path)
local _, meta = graft.load(path)
T.is(meta.format, "pt", "the file says format pt")
T.is(meta["graft.format"], "1", "and graft.format 1")
local cfg = graft.json.decode(meta["graft.config"])
T.is_deeply({cfg.arch, cfg.args.num_classes, cfg.classes, cfg.input_size, cfg.crop_pct},
            {"resnet18", 3, {"cat", "dog", "fox"}, {3, 224, 224}, 0.875}, "graft.config holds the architecture, arguments, classes and preprocessing")

local back = graft.load_model(path)
local x = graft.randn{2, 3, 64, 64}
local want = graft.no_grad(m, x)
T.equal(graft.no_grad(back, x), want, "load_model rebuilds the model: identical outputs")
T.ok(not back.training, "a loaded model is in eval mode")
T.is_deeply(back.config.classes, {"cat", "dog", "fox"}, "model.config.classes")
T.is_deeply(back.config.mean, {0.485, 0.456, 0.406}, "model.config.mean")

local torch = oracle.run(([[
import torchvision
m = torchvision.models.resnet18(num_classes=3)
sd = load("%s")
missing, unexpected = m.load_state_dict(sd, strict=True), None
m.eval()
out["y"] = m(inp["x"]).detach()
]]):format(path), {x = x})
T.close(torch.y, want, "PyTorch loads graft's file strictly into torchvision's resnet18: same logits", 1e-4, 1e-4)

-- Sequential trees of built-in layers
local s = nn.Sequential{nn.Conv2d(1, 4, 3, {padding = 1, bias = false}), nn.BatchNorm2d(4, {momentum = 0.2}), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.3), nn.Linear(4 * 4 * 4, 2)}
s:eval()
graft.save_model(s, dir .. "/seq.safetensors")
local s2 = graft.load_model(dir .. "/seq.safetensors")
local y = graft.randn{3, 1, 8, 8}
T.equal(graft.no_grad(s2, y), graft.no_grad(s, y), "a Sequential of built-in layers round-trips")
T.is(s2:at(2).momentum, 0.2, "layer options come back")
T.is(s2:at(1).bias, nil, "bias = false comes back")

-- a user's architecture, registered
local Tiny = graft.models.ZooModel:extend "Tiny"
Tiny.head_path = "head"
function Tiny:init(args)
  self.body = nn.Linear(4, args.width or 8)
  self.head = nn.Linear(args.width or 8, args.num_classes)
  rawset(self, "num_features", args.width or 8)
end
function Tiny:forward_pooled(x) return graft.F.relu(self.body(x)) end
graft.models.register("tiny", function(args) return Tiny(args) end, {input_size = {4}, mean = {0}, std = {1}},
                      {options = {width = "integer"}})
local t = graft.models.tiny{num_classes = 2, width = 5}
graft.save_model(t, dir .. "/tiny.safetensors")
local t2 = graft.load_model(dir .. "/tiny.safetensors")
local z = graft.randn{3, 4}
T.equal(graft.no_grad(t2, z), graft.no_grad(t, z), "a registered architecture saves and loads like the zoo's")
T.is(t2.body.weight:size(1), 5, "with its constructor arguments")
T.ok(graft.models.list()[1] ~= nil and table.concat(graft.models.list(), " "):find("tiny", 1, true), "models.list() includes it")

-- The training size sticks: fine-tuned at 40 px, the model's config says so, in memory and
-- after save_model/load_model, and predict's transform (for_model) resizes and crops to it.
do
  graft.manual_seed(5)
  local r = graft.models.resnet18{num_classes = 2, classes = {"a", "b"}}
  T.is_deeply(r.config.input_size, {3, 224, 224}, "a fresh resnet18 says 224")
  local xs, ys = graft.rand{6, 3, 40, 40}, graft.tensor({1, 2, 1, 2, 1, 2}, "i64")
  local loader = graft.data.Loader(graft.data.TensorDataset(xs, ys), {batch_size = 3})
  graft.fit(r, loader, {epochs = 1, progress = false, lr = 1e-4})
  T.is_deeply(r.config.input_size, {3, 40, 40}, "after fit on 40 x 40 batches, config.input_size is {3, 40, 40}")
  graft.save_model(r, dir .. "/r40.safetensors")
  local back = graft.load_model(dir .. "/r40.safetensors")
  T.is_deeply(back.config.input_size, {3, 40, 40}, "and so after save_model / load_model")
  local tf = graft.data.transforms.for_model(back)
  T.is_deeply(tf(graft.rand{3, 120, 90}):shape(), {3, 40, 40}, "for_model(model) makes 40 x 40 inputs")
  local img = dir .. "/r40.png"
  graft.image.save(img, graft.rand{3, 50, 70})
  local seen
  local h = back:register_forward_hook(function(_, inputs) seen = inputs[1]:shape() end)
  local p = graft.predict(back, {img}, {topk = 2})
  h.remove()
  T.is_deeply(seen, {1, 3, 40, 40}, "predict gives the model 40 x 40 images")
  T.ok(p[1].classes[1] == "a" or p[1].classes[1] == "b", "with the model's class names")
  -- progressive resizing: the last epoch's size; sizes mixed within an epoch leave the config
  local small = graft.data.Loader(graft.data.TensorDataset(graft.rand{3, 3, 36, 36}, graft.tensor({1, 2, 1}, "i64")), {batch_size = 3})
  graft.fit(back, small, {epochs = 1, progress = false, lr = 1e-4})
  T.is_deeply(back.config.input_size, {3, 36, 36}, "a later fit at 36 px makes it 36")
  local mixed = {}
  function mixed:iter()
    local i = 0
    return function()
      i = i + 1
      if i == 1 then return graft.rand{2, 3, 48, 48}, graft.tensor({1, 2}, "i64") end
      if i == 2 then return graft.rand{2, 3, 56, 56}, graft.tensor({2, 1}, "i64") end
    end
  end
  setmetatable(mixed, {__len = function() return 2 end})
  graft.fit(back, mixed, {epochs = 1, progress = false, lr = 1e-4})
  T.is_deeply(back.config.input_size, {3, 36, 36}, "an epoch of mixed sizes (48 and 56) leaves it")
end

-- a new head of another size drops the old class names; fit then takes the data set's
do
  local m = graft.models.resnet18{num_classes = 3, classes = {"cat", "dog", "fox"}}
  m:reset_classifier(3)
  T.is_deeply(m.config.classes, {"cat", "dog", "fox"}, "reset_classifier(n) keeps n class names")
  m:reset_classifier(2)
  T.is(m.config.classes, nil, "reset_classifier to another size drops the old class names")
  local ds = graft.data.TensorDataset(graft.rand{4, 3, 32, 32}, graft.tensor({1, 2, 1, 2}, "i64"))
  ds.classes = {"bag", "boot"}
  graft.fit(m, graft.data.Loader(ds, {batch_size = 4}), {epochs = 1, progress = false, lr = 1e-4})
  T.is_deeply(m.config.classes, {"bag", "boot"}, "and fit names the new head's outputs from its data set")
end

-- errors
local Block = nn.Module:extend "Block"
function Block:init() self.l = nn.Linear(2, 2) end
function Block:forward(v) return self.l(v) end
T.error_like(function() graft.save_model(nn.Sequential{nn.ReLU(), Block()}, dir .. "/x.safetensors") end,
             'save_model: "1" (Block) is not a built-in layer', "a custom module is refused by name")
T.error_like(function() graft.save_model(Block(), dir .. "/x.safetensors") end,
             "save the weights with graft.save(path, model:state_dict())", "the refusal says what to do instead")
graft.save(dir .. "/plain.safetensors", {w = graft.zeros{1}})
T.error_like(function() graft.load_model(dir .. "/plain.safetensors") end, "has no graft.config in its metadata", "a plain file is not a model")
os.execute("rm -rf " .. dir)
T.done()
