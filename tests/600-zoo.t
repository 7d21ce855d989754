#!/usr/bin/env lua5.4
-- tests/600-zoo.t — the zoo against torchvision: every variant's state-dict keys and shapes,
-- and eval-mode logits from torchvision's own weights (random weights, randomised BatchNorm
-- statistics) within 1e-3 * max|logit| + 1e-4.
local T, graft, oracle = require "tap", require "graft", require "oracle"
graft.manual_seed(T.seed())
local dir = oracle.tmpname()
assert(os.execute("mkdir -p " .. dir))

local variants = {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "vgg11", "vgg13", "vgg16",
                  "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn", "mobilenet_v2",
                  "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0", "efficientnet_b1",
                  "efficientnet_b2", "efficientnet_b3", "efficientnet_b4", "efficientnet_b5",
                  "efficientnet_b6", "efficientnet_b7", "googlenet", "inception_v3", "xception"}
-- {architecture, input size, batch [, extra constructor arguments as Python text]}: one
-- full-size run per family, the others reduced
local runs = {{"resnet18", 224, 1}, {"resnet50", 96, 2}, {"vgg11_bn", 224, 1}, {"mobilenet_v2", 224, 1},
              {"mobilenet_v3_small", 96, 2}, {"mobilenet_v3_large", 96, 2}, {"efficientnet_b0", 224, 1},
              {"efficientnet_b3", 96, 2}, {"efficientnet_b5", 64, 1}, {"googlenet", 224, 1, "transform_input=True"},
              {"inception_v3", 299, 1, "transform_input=True"}, {"xception", 299, 1}}
local inputs = {}
for _, r in ipairs(runs) do inputs["x_" .. r[1]] = graft.randn{r[3], 3, r[2], r[2]} end

local want = oracle.run(([==[
import json, warnings, torchvision
import torch.nn as nn
warnings.filterwarnings("ignore")   # torchvision's notes about its own default initialisation

# timm's legacy_xception, transcribed (timm is not packaged in Debian)
class SeparableConv2d(nn.Module):
    def __init__(self, cin, cout, k=1, stride=1, padding=0):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cin, k, stride, padding, 1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, 1, 0, 1, 1, bias=False)
    def forward(self, x): return self.pointwise(self.conv1(x))
class XBlock(nn.Module):
    def __init__(self, cin, cout, reps, strides=1, start_with_relu=True, grow_first=True):
        super().__init__()
        if cout != cin or strides != 1:
            self.skip = nn.Conv2d(cin, cout, 1, stride=strides, bias=False)
            self.skipbn = nn.BatchNorm2d(cout)
        else:
            self.skip = None
        rep = []
        for i in range(reps):
            if grow_first:
                inc, outc = (cin if i == 0 else cout), cout
            else:
                inc, outc = cin, (cin if i < reps - 1 else cout)
            rep += [nn.ReLU(inplace=True), SeparableConv2d(inc, outc, 3, 1, 1), nn.BatchNorm2d(outc)]
        if not start_with_relu:
            rep = rep[1:]
        else:
            rep[0] = nn.ReLU(inplace=False)
        if strides != 1:
            rep.append(nn.MaxPool2d(3, strides, 1))
        self.rep = nn.Sequential(*rep)
    def forward(self, inp):
        x = self.rep(inp)
        skip = self.skipbn(self.skip(inp)) if self.skip is not None else inp
        return x + skip
class Xception(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, 2, 0, bias=False); self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, bias=False); self.bn2 = nn.BatchNorm2d(64)
        self.block1 = XBlock(64, 128, 2, 2, start_with_relu=False)
        self.block2 = XBlock(128, 256, 2, 2)
        self.block3 = XBlock(256, 728, 2, 2)
        for i in range(4, 12):
            setattr(self, "block%%d" %% i, XBlock(728, 728, 3, 1))
        self.block12 = XBlock(728, 1024, 2, 2, grow_first=False)
        self.conv3 = SeparableConv2d(1024, 1536, 3, 1, 1); self.bn3 = nn.BatchNorm2d(1536)
        self.conv4 = SeparableConv2d(1536, 2048, 3, 1, 1); self.bn4 = nn.BatchNorm2d(2048)
        self.fc = nn.Linear(2048, num_classes)
    def forward(self, x):
        x = torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))
        for i in range(1, 13):
            x = getattr(self, "block%%d" %% i)(x)
        x = torch.relu(self.bn3(self.conv3(x)))
        x = torch.relu(self.bn4(self.conv4(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
torchvision.models.xception = Xception
names = %s
for name in names:
    with torch.device("meta") if hasattr(torch, "device") and False else torch.no_grad():
        m = getattr(torchvision.models, name)(num_classes=10)
    spec = [[k, list(v.shape)] for k, v in m.state_dict().items()]
    out["keys_" + name] = torch.tensor(list(json.dumps(spec).encode()), dtype=torch.uint8)
torch.manual_seed(0)
for name, size, batch, extra in %s:
    m = eval("torchvision.models.%%s(num_classes=10, %%s)" %% (name, extra))
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.Conv2d):   # He-scaled: the input reaches the logits
                mod.weight.normal_(0, math.sqrt(2 / mod.weight[0].numel()))
            elif isinstance(mod, torch.nn.BatchNorm2d):
                mod.weight.copy_(torch.rand(mod.weight.shape) + 0.5)
                mod.bias.copy_(torch.randn(mod.bias.shape) * 0.1)
            elif isinstance(mod, torch.nn.Linear):   # logits of order 1, not torchvision's 0.01
                mod.weight.normal_(0, 1 / math.sqrt(mod.in_features))
        # Running statistics consistent with data, as trained networks have: one calibration
        # batch through the model with only BatchNorm in train mode (momentum 1). Activations
        # stay of order 1 at every depth, so rounding is not amplified.
        m.eval()
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.train(); mod.momentum = 1.0
        m(torch.randn((8,) + tuple(inp["x_" + name].shape[1:])))   # 8 images: enough values per channel
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.momentum = 0.1; mod.num_batches_tracked.fill_(7)
    m.eval()
    save("%s/" + name + ".safetensors", m.state_dict(), {"format": "pt"})
    out["logits_" + name] = m(inp["x_" + name]).detach()
]==]):format(
  "[" .. table.concat((function() local q = {} for i, v in ipairs(variants) do q[i] = ("%q"):format(v) end return q end)(), ", ") .. "]",
  "[" .. table.concat((function() local q = {} for i, r in ipairs(runs) do q[i] = ("(%q, %d, %d, %q)"):format(r[1], r[2], r[3], r[4] or "") end return q end)(), ", ") .. "]",
  dir), inputs)

local function bytes_to_string(t)
  local chars = {}
  for i, c in ipairs(t:totable()) do chars[i] = string.char(c) end
  return table.concat(chars)
end

for _, name in ipairs(variants) do
  local spec = graft.json.decode(bytes_to_string(want["keys_" .. name]))
  local m = graft.models[name]{num_classes = 10}
  local ours, sd = m:state_dict_keys(), m:state_dict()
  local same = #ours == #spec
  local first_diff
  for i, kv in ipairs(spec) do
    local k, shape = kv[1], kv[2]
    if ours[i] ~= k or table.concat(sd[k] and sd[k]:shape() or {}, ",") ~= table.concat(shape, ",") then
      same = false
      first_diff = first_diff or ("%s %s vs %s"):format(k, T.render(shape), tostring(ours[i]))
    end
  end
  if not T.ok(same, ("%s: %d state-dict keys, order and shapes are the reference's (torchvision; timm for xception)"):format(name, #spec)) then
    T.diag("  first difference: " .. tostring(first_diff))
  end
end

for _, r in ipairs(runs) do
  local name = r[1]
  local m = graft.models[name]{num_classes = 10, weights = dir .. "/" .. name .. ".safetensors"}
  m:eval()
  local logits = graft.no_grad(function() return m(inputs["x_" .. name]) end)
  local ref = want["logits_" .. name]
  local scale = ref:abs():max():item()
  local diff = (logits - ref):abs():max():item()
  T.ok(diff <= 1e-3 * scale + 1e-4, ("%s at %dx%d: eval logits match torchvision (max |diff| %.2g, max |logit| %.3g)"):format(
    name, r[2], r[2], diff, scale))
  -- inference (eval, no_grad) folds BatchNorm into convolutions; with grad mode on it does not.
  -- The folded path also keeps its weights' Winograd transforms and so runs 3x3 convolutions
  -- by F(4x4), or by F(2x2) for a single small image, where the unfolded one uses im2col or
  -- F(2x2): the two round apart by up to 2.3e-4 of the largest logit (inception_v3, 94
  -- convolutions deep: 8.4e-5 against 0.366; resnet50 1.0e-4).
  local before = graft.stats().batch_norm_forward
  graft.no_grad(m, inputs["x_" .. name])
  local bn_runs = graft.stats().batch_norm_forward - before
  local unfolded = m(inputs["x_" .. name]):detach()
  local fdiff = (unfolded - logits):abs():max():item()
  T.ok(fdiff <= 3e-4 * scale + 1e-6 and bn_runs == 0,
       ("%s: folded inference runs no BatchNorm kernel and agrees with the unfolded path (%.2g)"):format(name, fdiff))
  -- guard against a vacuous comparison: the logits must depend on the input
  local other = graft.no_grad(function() return m(inputs["x_" .. name] * -1) end)
  local moved = (other - logits):abs():max():item()
  T.ok(moved > 1e-2 * scale, ("%s: the logits depend on the input (%.3g of %.3g)"):format(name, moved, scale))
end

-- a frozen trunk in train() mode (fine-tuning only the head) folds its BatchNorms too: no BN
-- kernel runs, the logits are the eval ones, and the head still gets its gradient
do
  local m = graft.models.resnet18{num_classes = 10, weights = dir .. "/resnet18.safetensors"}
  m:freeze()
  m:unfreeze("^fc%.")
  m:train()
  local x = inputs.x_resnet18
  local before = graft.stats().batch_norm_forward
  local logits = m(x)
  local bn_runs = graft.stats().batch_norm_forward - before
  local ref = want.logits_resnet18
  local diff = (logits:detach() - ref):abs():max():item()
  logits:sum():backward()
  T.ok(bn_runs == 0 and diff <= 1e-3 * ref:abs():max():item() + 1e-4 and m.fc.weight.grad ~= nil
       and m.conv1.weight.grad == nil,
       ("resnet18 with a frozen trunk in train(): BN folded (%d BN runs), eval logits (%.2g), only fc gets gradients"):format(
       bn_runs, diff))
end

-- loading quirks
local sd = graft.load(dir .. "/resnet18.safetensors")
local prefixed = {}
for k, v in pairs(sd) do prefixed["module." .. k] = v end
T.ok(pcall(graft.models.load_weights, graft.models.resnet18{num_classes = 10}, prefixed, {prefix = "module."}),
     "a checkpoint saved from a wrapper loads with a prefix")
local g_aux = graft.models.googlenet{num_classes = 10, aux_logits = false, weights = dir .. "/googlenet.safetensors"}
T.ok(g_aux.aux1 == nil and g_aux.transform_input, "googlenet{aux_logits = false} loads a file with aux heads, dropping them; weights turn transform_input on")
g_aux:train()
T.is(select("#", g_aux(graft.randn{2, 3, 64, 64})), 1, "without aux heads training returns the logits alone")
local g_train = graft.models.googlenet{num_classes = 10}
g_train:train()
T.is(select("#", g_train(graft.randn{2, 3, 64, 64})), 3, "with aux heads training returns logits, aux2, aux1")
local five = graft.models.resnet18{num_classes = 5, weights = dir .. "/resnet18.safetensors"}
T.is_deeply(five.fc.weight:shape(), {5, 512}, "another num_classes keeps a fresh head and loads the rest")
T.equal(five.conv1.weight, sd["conv1.weight"], "the trunk is the checkpoint's")
local gray = graft.models.resnet18{num_classes = 10, in_chans = 1, weights = dir .. "/resnet18.safetensors"}
T.close(gray.conv1.weight, sd["conv1.weight"]:sum(2, true), "in_chans = 1 sums the first convolution over RGB", 1e-6, 1e-6)
local two = graft.models.resnet18{num_classes = 10, in_chans = 5, weights = dir .. "/resnet18.safetensors"}
T.close(two.conv1.weight:narrow(2, 4, 2), sd["conv1.weight"]:narrow(2, 1, 2) * (3 / 5), "in_chans = 5 repeats RGB, scaled by 3/5", 1e-6, 1e-6)
T.error_like(function() graft.models.vgg11{num_classes = 10, weights = dir .. "/resnet18.safetensors"} end,
             "missing keys", "weights of another architecture are refused by name")
os.execute("rm -rf " .. dir)
T.done()
