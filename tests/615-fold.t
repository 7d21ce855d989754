#!/usr/bin/env lua5.4
-- tests/615-fold.t — BatchNorm folding is an inference shortcut and must never change an
-- answer: a BatchNorm is folded only where the code that calls it proves the data flow (a
-- block's nn.conv_bn call, a Sequential's own Conv2d -> BatchNorm2d neighbours). Checked
-- against the plain path written out with graft.F on a pre-activation block (ResNet v2's
-- bn -> relu -> conv, which pairing by attribute names folded twice), on randomly composed
-- models built to break a naive pattern (BatchNorm before its convolution, a convolution's
-- output read twice, one BatchNorm after two convolutions, BatchNorm after a non-convolution,
-- a frozen trunk with gradients on), and on every zoo architecture folded against
-- fold_bn = false, with random weights and random BatchNorm statistics and affine.
local T, graft = require "tap", require "graft"
local nn, F = graft.nn, graft.F
local seed = T.seed()

-- running statistics and affine away from 0 and 1, so that a BatchNorm applied twice, or
-- not at all, shows
local function randomize_bn(model)
  graft.no_grad(function()
    for _, m in ipairs(model:named_modules()) do
      local bn = m[2]
      if rawget(bn, "_is_batch_norm") then
        local c = bn.num_features
        bn.running_mean:copy_(graft.randn{c} * 0.5)
        bn.running_var:copy_(graft.rand{c} * 1.5 + 0.3)
        if bn.weight then
          bn.weight:copy_(graft.randn{c} * 0.3 + 1)
          bn.bias:copy_(graft.randn{c} * 0.3)
        end
      end
    end
  end)
end

local function bn_ref(bn, x)
  return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, false, bn.momentum, bn.eps)
end
local function conv_ref(conv, x) return F.conv2d(x, conv.weight, conv.bias, conv.opts) end

-- How many convolutions computed with a BatchNorm folded in, in the last forward.
local function folded(model)
  local n = 0
  for _, m in ipairs(model:named_modules()) do
    local k = m[2].__name == "nn.Conv2d" and rawget(m[2], "_kept")
    if k and k.bn then n = n + 1 end
  end
  return n
end
local function forget(model)
  for _, m in ipairs(model:named_modules()) do rawset(m[2], "_kept", nil) end
end

local function scaled_close(got, want, name, tol)
  local scale = want:abs():max():item()
  return T.close(got, want, name, tol, tol * scale + 1e-6)
end

-- 1. A registered pre-activation model ------------------------------------------------------
do
  local PreAct = graft.models.ZooModel:extend "PreActTest"
  PreAct.head_path = "fc"
  function PreAct:init(args)
    self.conv0 = nn.Conv2d(args.in_chans or 3, 8, 3, {padding = 1, bias = false})
    self.bn1 = nn.BatchNorm2d(8)
    self.conv1 = nn.Conv2d(8, 8, 3, {padding = 1, bias = false})
    self.bn2 = nn.BatchNorm2d(8)
    self.conv2 = nn.Conv2d(8, 8, 3, {padding = 1, bias = false})
    rawset(self, "num_features", 8)
    self.fc = nn.Linear(8, args.num_classes)
  end
  -- ResNet v2 / timm resnetv2 order: conv(relu(bn(x)))
  function PreAct:forward_pooled(x)
    x = self.conv0(x)
    local out = self.conv1(F.relu(self.bn1(x)))
    out = self.conv2(F.relu(self.bn2(out)))
    return F.adaptive_avg_pool2d(x + out, 1):flatten(2)
  end
  graft.models.register("preact_fold_test", function(args) return PreAct(args) end)
  graft.manual_seed(seed)
  local m = graft.models.preact_fold_test{num_classes = 5}
  randomize_bn(m)
  local plain = graft.models.preact_fold_test{num_classes = 5, fold_bn = false}
  plain:load_state_dict(m:state_dict())
  m:eval(); plain:eval()
  local x = graft.randn{2, 3, 9, 9}
  local function hand()
    local h = conv_ref(m.conv0, x)
    local out = conv_ref(m.conv1, F.relu(bn_ref(m.bn1, h)))
    out = conv_ref(m.conv2, F.relu(bn_ref(m.bn2, out)))
    return F.linear(F.adaptive_avg_pool2d(h + out, 1):flatten(2), m.fc.weight, m.fc.bias)
  end
  local want = graft.no_grad(hand)
  scaled_close(graft.no_grad(m, x), want, "a pre-activation block (conv1(relu(bn1(x)))): eval output as the plain path", 1e-5)
  scaled_close(graft.no_grad(plain, x), want, "... and with fold_bn = false", 1e-5)
  scaled_close(m(x), want, "... and with gradients on", 1e-5)
end

-- A forward hook on a convolution sees the convolution's own output (the fused call runs
-- plainly for a hooked module), and a hook on its BatchNorm sees the BatchNorm's
do
  graft.manual_seed(seed)
  local m = graft.models.resnet20_cifar{num_classes = 3}
  randomize_bn(m)
  m:eval()
  local conv, bn = m:get("layer1.0.conv1"), m:get("layer1.0.bn1")
  local got = {}
  local h1 = conv:register_forward_hook(function(_, inputs, out) got.conv_in, got.conv = inputs[1], out end)
  local h2 = bn:register_forward_hook(function(_, _, out) got.bn = out end)
  local x = graft.randn{1, 3, 12, 12}
  local y = graft.no_grad(m, x)
  h1.remove(); h2.remove()
  local want_conv = graft.no_grad(conv_ref, conv, got.conv_in)
  scaled_close(got.conv, want_conv, "a hook on a convolution sees its output, not the BatchNorm's", 1e-5)
  scaled_close(got.bn, graft.no_grad(bn_ref, bn, want_conv), "a hook on the BatchNorm sees the BatchNorm's", 1e-5)
  scaled_close(graft.no_grad(m, x), y, "without hooks, the folded model gives the same output", 1e-5)
end

-- 2. Randomly composed models ----------------------------------------------------------------
-- Each node maps C channels to C channels and has ref(x), its plain path in graft.F.
local function conv(c, k) return nn.Conv2d(c, c, k, {padding = math.floor(k / 2), bias = math.random() < 0.5}) end
local Node = nn.Module:extend "FoldTestNode"
local kinds = {
  -- Sequential neighbours: the fold a container proves
  function(c, k)
    local n = Node(); n.seq = nn.Sequential{conv(c, k), nn.BatchNorm2d(c)}
    rawset(n, "run", function(self, x) return self.seq(x) end)
    rawset(n, "ref", function(self, x) return bn_ref(self.seq:at(2), conv_ref(self.seq:at(1), x)) end)
    return n, "Sequential{conv, bn}"
  end,
  -- the block's explicit fused call
  function(c, k)
    local n = Node(); n.conv = conv(c, k); n.bn = nn.BatchNorm2d(c)
    rawset(n, "run", function(self, x) return F.relu(nn.conv_bn(self.conv, self.bn, x)) end)
    rawset(n, "ref", function(self, x) return F.relu(bn_ref(self.bn, conv_ref(self.conv, x))) end)
    return n, "relu(conv_bn(conv, bn, x))"
  end,
  -- BatchNorm before its convolution (names as a post-activation block's)
  function(c, k)
    local n = Node(); n.conv = conv(c, k); n.bn = nn.BatchNorm2d(c)
    rawset(n, "run", function(self, x) return self.conv(F.relu(self.bn(x))) end)
    rawset(n, "ref", function(self, x) return conv_ref(self.conv, F.relu(bn_ref(self.bn, x))) end)
    return n, "conv(relu(bn(x)))"
  end,
  -- a convolution's output read twice: by the BatchNorm and by a skip
  function(c, k)
    local n = Node(); n.conv = conv(c, k); n.bn = nn.BatchNorm2d(c)
    rawset(n, "run", function(self, x) local y = self.conv(x) return self.bn(y) + y end)
    rawset(n, "ref", function(self, x) local y = conv_ref(self.conv, x) return bn_ref(self.bn, y) + y end)
    return n, "bn(conv(x)) + conv(x)"
  end,
  -- one BatchNorm after two convolutions
  function(c, k)
    local n = Node(); n.conv = conv(c, k); n.conv2 = conv(c, 1); n.bn = nn.BatchNorm2d(c)
    rawset(n, "run", function(self, x) return self.bn(self.conv(x) + self.conv2(x)) end)
    rawset(n, "ref", function(self, x) return bn_ref(self.bn, conv_ref(self.conv, x) + conv_ref(self.conv2, x)) end)
    return n, "bn(conv(x) + conv2(x))"
  end,
  -- BatchNorm in a Sequential after a non-convolution
  function(c, k)
    local n = Node(); n.seq = nn.Sequential{conv(c, k), nn.ReLU(), nn.BatchNorm2d(c)}
    rawset(n, "run", function(self, x) return self.seq(x) end)
    rawset(n, "ref", function(self, x) return bn_ref(self.seq:at(3), F.relu(conv_ref(self.seq:at(1), x))) end)
    return n, "Sequential{conv, relu, bn}"
  end,
  -- a Sequential's convolution also called outside it
  function(c, k)
    local n = Node(); n.conv1 = conv(c, k); n.bn1 = nn.BatchNorm2d(c)
    n.seq = nn.Sequential{n.conv1, nn.BatchNorm2d(c)}
    rawset(n, "run", function(self, x) return self.bn1(self.seq(x)) + self.conv1(x) end)
    rawset(n, "ref", function(self, x)
      return bn_ref(self.bn1, bn_ref(self.seq:at(2), conv_ref(self.conv1, x))) + conv_ref(self.conv1, x)
    end)
    return n, "bn1(Sequential{conv1, bn}(x)) + conv1(x)"
  end,
}
function Node:forward(x) return self:run(x) end

local Chain = nn.Module:extend "FoldTestChain"
function Chain:init(nodes) for i, n in ipairs(nodes) do self["n" .. i] = n end end
function Chain:forward(x)
  for _, c in ipairs(self:named_children()) do x = c[2](x) end
  return x
end
-- registered, as a user's own architecture would be
local next_nodes
graft.models.register("fold_chain_test", function() return Chain(next_nodes) end)
local function chain_ref(chain, x)
  for _, c in ipairs(chain:named_children()) do x = c[2]:ref(x) end
  return x
end

math.randomseed(seed)
graft.manual_seed(seed)
local bad, models_tried = {}, 0
local function check(desc, got, want)
  local scale = want:abs():max():item()
  local err = (got - want):abs():max():item()
  if not (err <= 1e-4 * scale + 1e-5) then bad[#bad + 1] = ("%s: off by %.3g (scale %.3g)"):format(desc, err, scale) end
end
local seen = {}
local deadline = rawget(_G, "FOLD_RANDOM_SECONDS") and os.time() + FOLD_RANDOM_SECONDS
for trial = 1, rawget(_G, "FOLD_RANDOM_MODELS") or 60 do
  if deadline and trial > 60 and os.time() > deadline then break end
  local c = ({3, 4, 8})[math.random(3)]
  local nodes, names = {}, {}
  for i = 1, math.random(2, 4) do
    local kind = math.random(#kinds)
    nodes[i], names[i] = kinds[kind](c, math.random() < 0.5 and 1 or 3)
    seen[kind] = true
  end
  next_nodes = nodes
  local model = graft.models.fold_chain_test{}
  randomize_bn(model)
  local desc = ("model %d [%s]"):format(trial, table.concat(names, " -> "))
  local x = graft.randn{math.random(1, 3), c, math.random(3, 7), math.random(3, 7)}
  model:eval()
  local want = graft.no_grad(chain_ref, model, x)
  check(desc .. " eval, no_grad", graft.no_grad(model, x), want)
  check(desc .. " eval, no_grad, again (kept weights)", graft.no_grad(model, x), want)
  check(desc .. " eval, gradients on", model(x), want)
  local xg = x:clone():requires_grad_()
  local y = model(xg)
  check(desc .. " eval, input requiring grad", y, want)
  y:sum():backward()
  -- a training step moves the running statistics; what was kept must follow
  model:train()
  model(graft.randn{4, c, 5, 5})
  model:eval()
  want = graft.no_grad(chain_ref, model, x)
  check(desc .. " eval after a training forward", graft.no_grad(model, x), want)
  -- a frozen trunk under a trainable head, gradients on, in train() mode
  model:freeze()
  model:train()
  local head = nn.Conv2d(c, 2, 1)
  local out = head(model(x))
  check(desc .. " frozen trunk, train(), gradients on", out, head(graft.no_grad(chain_ref, model, x)))
  out:sum():backward()
  if head.weight.grad == nil then bad[#bad + 1] = desc .. ": the head got no gradient" end
  -- writes into the weights in place
  graft.no_grad(function() for _, p in ipairs(model:parameters()) do p:mul_(1.25) end end)
  model:eval()
  check(desc .. " eval after in-place writes to the weights", graft.no_grad(model, x), graft.no_grad(chain_ref, model, x))
  models_tried = models_tried + 1
end
local all_kinds = true
for i = 1, #kinds do all_kinds = all_kinds and seen[i] ~= nil end
T.ok(all_kinds, "the random models use every kind of node")
T.ok(#bad == 0, ("%d randomly composed models: folded and plain agree in eval, after training, frozen, and after in-place writes"):format(models_tried))
for i = 1, math.min(#bad, 10) do T.diag(bad[i]) end

-- 3. Every zoo architecture --------------------------------------------------------------------
-- Batch 1 at 32 px (Inception-v3 at its smallest, 75): folded (eval, no_grad) against the
-- plain path of the same model (an input that requires grad: nothing may fold), and against
-- a model built with fold_bn = false. Here one variant of each kind of block; the slow tier
-- (tests/slow/615-fold-every-variant.t) runs every registered variant and more random models.
local every = rawget(_G, "FOLD_EVERY_VARIANT")
local sizes = {inception_v3 = 75}
local fast = {resnet18 = true, resnet50 = true, resnet20_cifar = true, vgg11 = true, vgg11_bn = true, mobilenet_v2 = true,
              mobilenet_v3_small = true, mobilenet_v3_large = true, efficientnet_b0 = true, efficientnet_b5 = true,
              googlenet = true, inception_v3 = true, xception = true}
local names = {}
for _, name in ipairs(graft.models.list()) do
  local spec = graft.models.spec(name)
  if not spec.custom and not name:match("_test$") and (every or fast[name]) then names[#names + 1] = name end
end
local t0 = os.clock()
for _, name in ipairs(names) do
  local opts = {num_classes = 7}
  if name == "googlenet" or name == "inception_v3" then opts.aux_logits = false end
  graft.manual_seed(seed)
  local m = graft.models[name](opts)
  randomize_bn(m)
  m:eval()
  local s = sizes[name] or 32
  local x = graft.randn{1, 3, s, s}
  local got = graft.no_grad(m, x)
  local nfolded = folded(m)
  local want = m(x:clone():requires_grad_())
  local bns = 0
  for _, mm in ipairs(m:named_modules()) do if rawget(mm[2], "_is_batch_norm") then bns = bns + 1 end end
  scaled_close(got, want, ("%s at %d px: folded and plain agree"):format(name, s), 1e-4)
  T.is(nfolded, bns, ("%s: each of its %d BatchNorms folded"):format(name, bns))
  do
    opts.fold_bn = false
    local plain = graft.models[name](opts)
    plain:load_state_dict(m:state_dict())
    plain:eval()
    scaled_close(graft.no_grad(plain, x), got, ("%s: and fold_bn = false agrees"):format(name), 1e-4)
    T.is(folded(plain), 0, ("%s: fold_bn = false folds nothing"):format(name))
  end
  forget(m)
end
T.diag(("zoo: %d architectures in %.1f s of CPU"):format(#names, os.clock() - t0))
T.done()
