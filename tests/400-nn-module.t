#!/usr/bin/env lua5.4
-- tests/400-nn-module.t — nn.Module against PyTorch: state-dict keys and order, loading a
-- PyTorch state dict and matching its outputs in train and eval mode (BatchNorm statistics
-- included), strict/non-strict loading, freezing, get/set, hooks, summary, user blocks.
local T, graft, oracle = require "tap", require "graft", require "oracle"
local nn, F = graft.nn, graft.F
graft.manual_seed(T.seed())

-- A user block written as plainly as in torchvision: a residual unit.
local Block = nn.Module:extend "Block"
function Block:init(c)
  self.conv1 = nn.Conv2d(c, c, 3, {padding = 1, bias = false})
  self.bn1 = nn.BatchNorm2d(c)
  self.conv2 = nn.Conv2d(c, c, 3, {padding = 1, bias = false})
  self.bn2 = nn.BatchNorm2d(c)
end
function Block:forward(x)
  local y = F.relu(self.bn1(self.conv1(x)))
  return F.relu(self.bn2(self.conv2(y)) + x)
end

local function build()
  return nn.Sequential{
    nn.Conv2d(3, 8, 3, {stride = 2, padding = 1}), nn.BatchNorm2d(8), nn.ReLU(),
    Block(8), nn.MaxPool2d(2, {ceil_mode = true}), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    nn.Dropout(0.5), nn.Linear(8, 5), nn.LayerNorm(5),
  }
end
local model = build()
local keys = model:state_dict_keys()

local x = graft.randn{4, 3, 9, 9}
local want = oracle.run([[
import torch.nn as nn
class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False); self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False); self.bn2 = nn.BatchNorm2d(c)
    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + x)
torch.manual_seed(0)
m = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(), Block(8),
                  nn.MaxPool2d(2, ceil_mode=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.5),
                  nn.Linear(8, 5), nn.LayerNorm(5))
with torch.no_grad():
    for name, p in m.named_parameters():
        p.copy_(torch.randn(p.shape) * 0.5)
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.copy_(torch.randn(mod.running_mean.shape))
            mod.running_var.copy_(torch.rand(mod.running_var.shape) + 0.5)
sd = m.state_dict()
for i, k in enumerate(sd):
    out["sd_" + k] = sd[k].clone()
    out["order_%03d" % i] = torch.tensor([ord(c) for c in k], dtype=torch.uint8)
m.eval()
out["eval"] = m(inp["x"])
m.train()
x = inp["x"].clone().requires_grad_()
y = m[:7](x)               # through Flatten: no dropout, so the outputs are comparable
y.pow(2).sum().backward()
out["train"] = y.detach()
out["gx"] = x.grad
out["g_conv"] = m[0].weight.grad
for k, v in m.state_dict().items():
    if "running" in k or "num_batches" in k:
        out["after_" + k] = v.clone()
]], {x = x})

-- keys and order
local torch_keys = {}
for i = 0, 999 do
  local t = want[("order_%03d"):format(i)]
  if not t then break end
  local chars = {}
  for _, c in ipairs(t:totable()) do chars[#chars + 1] = string.char(c) end
  torch_keys[#torch_keys + 1] = table.concat(chars)
end
T.is_deeply(keys, torch_keys, "state_dict keys and their order are PyTorch's")
local sd = {}
for _, k in ipairs(torch_keys) do sd[k] = want["sd_" .. k] end
local missing, unexpected = model:load_state_dict(sd)
T.ok(#missing == 0 and #unexpected == 0, "a PyTorch state dict loads strictly")
T.is(model:state_dict()["3.bn2.num_batches_tracked"]:dtype(), "i64", "num_batches_tracked is an i64 scalar")

model:eval()
T.close(model(x), want.eval, "eval mode: the outputs are PyTorch's", 1e-4, 1e-4)
model:train()
local xg = x:clone():requires_grad_()
local head = nn.Sequential{}
for i = 1, 7 do head:add(model:at(i)) end
local y = head(xg)
y:pow(2):sum():backward()
T.close(y, want.train, "train mode (batch statistics): the outputs are PyTorch's", 1e-4, 1e-4)
T.close(xg.grad, want.gx, "train mode: the input gradient is PyTorch's", 1e-3, 1e-4)
T.close(model:at(1).weight.grad, want.g_conv, "train mode: the first conv's weight gradient is PyTorch's", 1e-3, 1e-3)
local after = model:state_dict()
for _, k in ipairs(torch_keys) do
  if k:find("running") then T.close(after[k], want["after_" .. k], "running statistics after a step: " .. k, 1e-4, 1e-5) end
  if k:find("num_batches") then T.equal(after[k], want["after_" .. k], "num_batches_tracked after a step: " .. k) end
end

-- loading: errors and options
local shapes_bad = {}
for k, v in pairs(sd) do shapes_bad[k] = v end
shapes_bad["8.weight"] = graft.zeros{6, 8}
T.error_like(function() build():load_state_dict(shapes_bad) end,
             "load_state_dict: size mismatch for 8.weight: the checkpoint has {6,8}, the model {5,8}", "a shape mismatch names the key and both shapes")
local partial = {}
for k, v in pairs(sd) do if not k:match("^9%.") then partial[k] = v end end
partial["extra.weight"] = graft.zeros{1}
T.error_like(function() build():load_state_dict(partial) end, "missing keys: 9.weight, 9.bias; unexpected keys: extra.weight", "strict loading names missing and unexpected keys")
local m2 = build()
local miss, unexp = m2:load_state_dict(partial, {strict = false})
T.is_deeply({miss, unexp}, {{"9.weight", "9.bias"}, {"extra.weight"}}, "non-strict loading returns missing and unexpected keys")
local wrapped = {}
for k, v in pairs(sd) do wrapped["module." .. k] = v end
T.ok(pcall(function() build():load_state_dict(wrapped, {prefix = "module."}) end), "prefix strips a wrapper's prefix")
local old = {}
for k, v in pairs(sd) do if not k:match("num_batches_tracked") then old[k] = v end end
T.ok(pcall(function() build():load_state_dict(old) end), "a state dict without num_batches_tracked loads strictly (older PyTorch files)")

-- freezing
local m = build()
m:freeze()
T.is(#m:trainable_parameters(), 0, "freeze() freezes every parameter")
m:unfreeze("^8%.")
T.is(#m:trainable_parameters(), 2, "unfreeze(pattern) by Lua pattern on names")
m:train()
local rm_before = m:get("1").running_mean:clone()
local out = m(graft.randn{4, 3, 9, 9})
out:sum():backward()
T.is(m:get("0").weight.grad, nil, "frozen parameters get no .grad")
T.ok(m:get("8").weight.grad ~= nil, "trainable parameters get .grad")
T.equal(m:get("1").running_mean, rm_before, "a frozen BatchNorm keeps its running statistics in train() mode")
T.is(m:get("1").num_batches_tracked:item(), 0, "and does not count batches")
local mt = build()
mt:freeze({bn = "train"})
mt:train()
local rm0 = mt:get("1").running_mean:clone()
mt(graft.randn{4, 3, 9, 9})
T.ok(not graft.allclose(mt:get("1").running_mean, rm0), 'freeze{bn = "train"} keeps updating batch statistics')
-- A freeze call's bn mode reaches only the BatchNorms whose parameters it froze; unfreeze
-- clears the frozen-statistics mode only of those it unfroze (later calls used to re-apply
-- their own mode to every BatchNorm).
local function two_bn(affine)
  return nn.Sequential{nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, {affine = affine}), nn.Conv2d(4, 4, 3),
                       nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(64, 2)}
end
local function moves(net, i)   -- does BatchNorm i update its running statistics in train()?
  net:train()
  local before = net:at(i).running_mean:clone()
  net(graft.randn{4, 3, 8, 8} * 3 + 5)
  return not graft.allclose(net:at(i).running_mean, before)
end
local fb = two_bn()
fb:freeze(nil, {bn = "train"}); fb:unfreeze("^5%.")
T.ok(moves(fb, 2) and moves(fb, 4), 'freeze(nil, {bn = "train"}) survives a later unfreeze(pattern)')
fb = two_bn()
fb:freeze("^[01]%.", {bn = "train"}); fb:freeze("^[23]%.")
T.ok(moves(fb, 2), 'freeze(p, {bn = "train"}) survives a later freeze(q) of other layers')
T.ok(not moves(fb, 4), "which uses running statistics for the BatchNorm it froze itself")
fb:unfreeze("^5%.")
T.ok(moves(fb, 2) and not moves(fb, 4), "unfreeze(p) leaves the BatchNorms it did not unfreeze alone")
fb:unfreeze("^3%.")
T.ok(moves(fb, 4), "and returns those it did unfreeze to batch statistics")
fb = two_bn(false)
fb:freeze("^[01]%.")
T.ok(not moves(fb, 2), "a BatchNorm without parameters is frozen by a pattern matching its path prefix (\"1.\")")
fb:unfreeze("^0%.")
T.ok(not moves(fb, 2), "and stays frozen when unfreeze's pattern does not match it")
fb:unfreeze("^[01]%.")
T.ok(moves(fb, 2), "and is unfrozen by one that does")
local before = graft.stats()
local m3 = build()
m3:freeze()
m3:unfreeze("^9%.")
m3:train()
m3(graft.randn{2, 3, 9, 9}):sum():backward()
local after_stats = graft.stats()
T.is(after_stats.conv_grad_input - before.conv_grad_input, 0, "no conv backward runs below the lowest trainable layer")
T.is(after_stats.conv_grad_weight - before.conv_grad_weight, 0, "no conv weight gradients for frozen convs")
T.is(after_stats.batch_norm_backward - before.batch_norm_backward, 0, "no batch norm backward below it either")

-- get / set / named_modules / hooks / summary / reset_parameters
T.is(model:get("3.conv2").__name, "nn.Conv2d", "get by state-dict path")
model:set("8", nn.Linear(8, 3))
model:set("9", nn.Identity())
T.is_deeply(model:get("8").weight:shape(), {3, 8}, "set replaces a module")
T.error_like(function() model:get("3.nope") end, 'get: no module at "3.nope"', "get of a missing path")
local names = {}
for _, nm in ipairs(model:named_modules()) do names[#names + 1] = nm[1] end
T.is(names[1], "", "named_modules starts with the module itself")
T.ok(table.concat(names, " "):find("3 3.conv1 3.bn1", 1, true) ~= nil, "named_modules walks children depth first")
local seen
local h = model:get("3"):register_forward_hook(function(_, _, o) seen = o:shape() end)
model:eval()
model(x)
T.is_deeply(seen, {4, 8, 5, 5}, "a forward hook sees the output")
h.remove()
seen = nil
model(x)
T.is(seen, nil, "a removed hook is not called")
local text = build():summary{1, 3, 9, 9}
T.ok(text:find("3.conv1", 1, true) and text:find("{1, 8, 5, 5}", 1, true) and text:find("total parameters", 1, true), "summary lists layers, shapes and parameters")
local fresh = build()
local w0 = fresh:get("0").weight:clone()
fresh:reset_parameters()
T.ok(not graft.allclose(fresh:get("0").weight, w0), "reset_parameters re-initialises")
local bound = 1 / math.sqrt(3 * 9)
T.ok(fresh:get("0").weight:abs():max():item() <= bound, "conv init is U(-1/sqrt(fan_in), 1/sqrt(fan_in))")
T.error_like(function() build()(graft.randn{2, 4, 9, 9}) end, "0: conv2d: input has 4 channels but weight expects 3", "errors carry the module path")
T.error_like(function() nn.Sequential{nn.Linear(2, 2), Block(2)}(graft.randn{2, 2}) end,
             "1.conv1: conv2d: expects a 4-D input", "nested errors carry the full path")
T.error_like(function() nn.BatchNorm2d(3)(graft.randn{2, 3}) end, "nn.BatchNorm2d: expected a 4-D (N, C, H, W) input, got 2-D", "BatchNorm2d checks its input")
T.error_like(function() nn.Linear(2, 2, {bais = false}) end, 'unknown option "bais"', "misspelt options are refused")

-- Tensor:version counts in-place writes through any view; a layer that does not change keeps
-- what it derives from its weights (BN folded in, the Winograd transform) until one changes.
do
  local t = graft.zeros{4, 4}
  local writes = {
    {"add_", function() t:add_(1) end}, {"sub_", function() t:sub_(1) end}, {"mul_", function() t:mul_(2) end},
    {"div_", function() t:div_(2) end}, {"fill_", function() t:fill_(3) end}, {"zero_", function() t:zero_() end},
    {"copy_", function() t:copy_(graft.ones{4, 4}) end}, {"set", function() t:set(1, 1, 5) end},
    {"uniform_", function() t:uniform_() end}, {"normal_", function() t:normal_() end},
    {"index_add_", function() t:index_add_(1, graft.tensor({1}, "i64"), graft.ones{1, 4}) end},
    {"scatter_add_", function() t:scatter_add_(2, graft.tensor({{1}}, "i64"), graft.ones{1, 1}) end},
    {"a view's add_", function() t:narrow(1, 2, 1):add_(1) end},
    {"SGD step", function()
      t.grad = graft.ones{4, 4}
      graft.optim.SGD({t}, {lr = 0.1, momentum = 0.9}):step()
    end},
    {"Adam step", function()
      t.grad = graft.ones{4, 4}
      graft.optim.Adam({t}, {lr = 0.1}):step()
    end},
  }
  local missed = {}
  for _, w in ipairs(writes) do
    local v = t:version()
    graft.no_grad(w[2])
    if t:version() <= v then missed[#missed + 1] = w[1] end
  end
  T.is(table.concat(missed, ", "), "", ("every in-place write bumps the version (%d kinds)"):format(#writes))
  local v = t:version()
  local _ = t + 1, t:clone(), t:view(16), t:sum()
  T.is(t:version(), v, "reading, views and new results leave it")
  local bn = nn.BatchNorm2d(3)
  local rv = bn.running_var:version()
  bn(graft.randn{4, 3, 2, 2})
  T.ok(bn.running_var:version() > rv, "a training BatchNorm's running statistics are written")
end

do
  graft.manual_seed(3)
  local conv, bn = nn.Conv2d(16, 16, 3, {padding = 1, bias = false}), nn.BatchNorm2d(16)
  local net = nn.Sequential{conv, bn, nn.ReLU()}
  net:train()
  for _ = 1, 3 do net(graft.randn{4, 16, 10, 10}) end   -- running statistics away from 0 and 1
  net:eval()
  local x = graft.randn{1, 16, 10, 10}
  -- the reference: the same layers with nothing folded or kept
  local function reference()
    local y = graft.F.conv2d(x, conv.weight, nil, {padding = 1})
    return graft.F.relu(graft.F.batch_norm(y, bn.running_mean, bn.running_var, bn.weight, bn.bias, false, 0.1, bn.eps))
  end
  local function check(name)
    local got = graft.no_grad(net, x)
    local want = graft.no_grad(reference)
    T.close(got, want, name, 1e-5, 1e-5)
  end
  check("folded inference agrees with the unfolded layers")
  local kept = rawget(conv, "_kept")
  graft.no_grad(net, x)
  T.ok(kept ~= nil and rawget(conv, "_kept") == kept and kept.prepared ~= nil,
       "the next call reuses the folded weights and their Winograd transform")
  graft.no_grad(function() conv.weight:mul_(1.5) end)
  check("after an in-place write to the weight")
  graft.no_grad(function() bn.running_mean:add_(0.3); bn.bias:sub_(0.2) end)
  check("after in-place writes to the BatchNorm's statistics and bias")
  conv.weight = graft.randn{16, 16, 3, 3}:requires_grad_()
  check("after the weight is replaced")
  net:load_state_dict(nn.Sequential{nn.Conv2d(16, 16, 3, {padding = 1, bias = false}), nn.BatchNorm2d(16), nn.ReLU()}:state_dict())
  check("after load_state_dict")
  net:train()
  net(graft.randn{4, 16, 10, 10})
  T.is(rawget(conv, "_kept"), nil, "a training step drops what was kept")
  net:eval()
  check("after a training step moved the running statistics")
  -- a frozen convolution with no BatchNorm keeps its transform too
  local plain = nn.Conv2d(16, 16, 3, {padding = 1})
  plain:freeze()
  local y1 = plain(x)
  T.ok(rawget(plain, "_kept") and rawget(plain, "_kept").prepared, "a frozen convolution keeps its Winograd transform")
  graft.no_grad(function() plain.weight:mul_(-1) end)
  T.close(plain(x), graft.F.conv2d(x, plain.weight, plain.bias, {padding = 1}), "and drops it when the weight changes", 1e-5, 1e-5)
  T.ok((plain(x) - y1):abs():max():item() > 0.1, "the comparison is not vacuous")
end
T.done()
