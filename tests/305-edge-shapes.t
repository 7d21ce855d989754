#!/usr/bin/env lua5.4
-- tests/305-edge-shapes.t — convolution and pooling on shapes PyTorch accepts at the edges:
-- kernels larger than the map, kernel taps that lie wholly in the padding, 1x1 and 2x2 maps,
-- ceil-mode windows that start inside the input but end past it. Each case first runs in a
-- child process (a crash there is a failed test, not a dead test file), then here against
-- PyTorch: forward and every gradient, on every convolution path (im2col, 1x1, depthwise,
-- grouped, Winograd, kept/packed weights) and for max and average pooling.
local T, graft, oracle = require "tap", require "graft", require "oracle"
local F = graft.F
local seed = T.seed()
graft.manual_seed(seed)

local function lit(v)
  if type(v) ~= "table" then return tostring(v) end
  local parts = {}
  for i = 1, #v do parts[#parts + 1] = lit(v[i]) end
  for k, x in pairs(v) do
    if math.type(k) ~= "integer" then parts[#parts + 1] = k .. " = " .. lit(x) end
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- Runs `code` (Lua, with graft and F in scope) under pcall in a fresh lua5.4: true unless
-- the process dies (a Lua error is no crash; the comparisons below judge it).
local function survives(code)
  local f = oracle.tmpname() .. ".lua"
  local h = assert(io.open(f, "w"))
  h:write('local graft = require "graft"; local F = graft.F\npcall(function()\n', code, "\nend)\n")
  h:close()
  local p = assert(io.popen(("lua5.4 %s 2>&1"):format(f)))
  local output = p:read("a")
  local ok = p:close()
  os.remove(f)
  if not ok then T.diag("  the child process died: " .. output:sub(-1500)) end   -- a signal, or ASan's report
  return ok == true
end

local function pair(v, d)
  v = v or d
  return type(v) == "table" and ("(%d, %d)"):format(v[1], v[2]) or tostring(v)
end

-- ---- conv2d: {x shape, w shape, options, what it exercises} ----------------------------------
local convs = {
  {{1, 1, 2, 2}, {4, 1, 7, 7}, {padding = 3}, "im2col, one image: 7x7 on 2x2, padding 3"},
  {{2, 3, 1, 1}, {8, 3, 7, 7}, {stride = 2, padding = 3}, "im2col, images in parallel: ResNet's stem on 1x1"},
  {{1, 3, 2, 2}, {5, 3, 7, 7}, {stride = 2, padding = 3}, "ResNet's stem on 2x2"},
  {{1, 3, 1, 1}, {4, 3, 1, 1}, {padding = 1}, "1x1 kernel padded past a 1x1 map"},
  {{2, 3, 1, 1}, {4, 3, 1, 1}, {stride = 2}, "1x1 kernel, stride 2 on a 1x1 map"},
  {{1, 2, 3, 3}, {3, 2, 5, 5}, {stride = 4, padding = 2}, "stride larger than the kernel, kernel larger than the map"},
  {{2, 4, 1, 2}, {4, 1, 5, 5}, {padding = 2, groups = 4}, "depthwise 5x5 on 1x2"},
  {{1, 3, 3, 3}, {6, 1, 3, 3}, {padding = 2, dilation = 3, groups = 3}, "depthwise x2, dilation reaching past the map"},
  {{2, 4, 2, 2}, {6, 2, 5, 5}, {padding = 2, groups = 2}, "grouped 5x5 on 2x2"},
  {{1, 16, 4, 4}, {16, 16, 3, 3}, {padding = 2}, "Winograd-sized 3x3, padding 2 on 4x4"},
  {{2, 16, 1, 1}, {16, 16, 3, 3}, {padding = 1}, "3x3 on 1x1 maps, 16 channels"},
  {{1, 2, 1, 5}, {3, 2, 3, 3}, {padding = {1, 0}, dilation = {1, 2}}, "1x5 map, rows padded, columns dilated"},
}
-- Keep: the layer's kept (prepared) weights, as nn.Conv2d passes them in inference.
local function conv_code(c, keep)
  return ([[
local x, w, b = graft.randn%s, graft.randn%s, graft.randn{%d}
local keep = %s
graft.no_grad(function() F.conv2d(x, w, b, %s, keep); F.conv2d(x, w, b, %s, keep) end)
x:requires_grad_(); w:requires_grad_(); b:requires_grad_()
F.conv2d(x, w, b, %s):sum():backward()]]):format(lit(c[1]), lit(c[2]), c[2][1], keep and "{}" or "nil",
    lit(c[3]), lit(c[3]), lit(c[3]))
end

local inputs, py = {}, {}
for i, c in ipairs(convs) do
  c.alive = survives(conv_code(c, false)) and survives(conv_code(c, true))
  T.ok(c.alive, ("conv2d x%s w%s %s (%s): forward, kept weights and backward run without crashing"):format(
    T.render(c[1]), T.render(c[2]), T.render(c[3]), c[4]))
  c.x, c.w, c.b = graft.randn(c[1]), graft.randn(c[2]), graft.randn{c[2][1]}
  inputs["cx" .. i], inputs["cw" .. i], inputs["cb" .. i] = c.x, c.w, c.b
  local o = c[3]
  py[#py + 1] = ([[
x, w, b = inp["cx%d"].clone().requires_grad_(), inp["cw%d"].clone().requires_grad_(), inp["cb%d"].clone().requires_grad_()
y = F.conv2d(x, w, b, stride=%s, padding=%s, dilation=%s, groups=%d)
r = torch.randn(y.shape, generator=torch.Generator().manual_seed(%d))
(y * r).sum().backward()
out["cy%d"], out["cr%d"], out["cgx%d"], out["cgw%d"], out["cgb%d"] = y.detach(), r, x.grad, w.grad, b.grad]]):format(
    i, i, i, pair(o.stride, 1), pair(o.padding, 0), pair(o.dilation, 1), o.groups or 1, i, i, i, i, i, i)
end

-- ---- pooling: {op, x shape, kernel, options, what} -------------------------------------------
local pools = {
  {"max_pool2d", {1, 1, 1, 3}, 2, {ceil_mode = true}, "2x2 ceil-mode window on a 1x3 map"},
  {"max_pool2d", {2, 2, 3, 3}, 3, {stride = 2, padding = 1, ceil_mode = true}, "3x3/2 ceil, padding 1"},
  {"max_pool2d", {1, 2, 1, 1}, 3, {stride = 2, padding = 1}, "ResNet's stem pool on 1x1"},
  {"max_pool2d", {1, 1, 2, 5}, {2, 3}, {stride = {3, 2}, ceil_mode = true}, "stride past the kernel, ceil"},
  {"max_pool2d", {1, 1, 3, 5}, 2, {stride = 2, dilation = 2, ceil_mode = true, padding = 1}, "dilated, ceil, padding"},
  {"avg_pool2d", {1, 1, 1, 3}, 2, {ceil_mode = true}, "2x2 ceil-mode average on a 1x3 map"},
  {"avg_pool2d", {1, 2, 2, 2}, 3, {stride = 2, padding = 1, ceil_mode = true}, "3x3/2 ceil, padding 1, on 2x2"},
  {"avg_pool2d", {1, 1, 3, 4}, 2, {ceil_mode = true, count_include_pad = false, padding = 1}, "ceil, padding not counted"},
  {"avg_pool2d", {1, 1, 2, 5}, {2, 3}, {stride = {3, 2}, ceil_mode = true}, "stride past the kernel, ceil"},
}
local function pool_code(p)
  return ([[
local x = graft.randn%s
graft.no_grad(function() F.%s(x, %s, %s) end)
x:requires_grad_()
F.%s(x, %s, %s):sum():backward()]]):format(lit(p[2]), p[1], lit(p[3]), lit(p[4]), p[1], lit(p[3]), lit(p[4]))
end
for i, p in ipairs(pools) do
  p.alive = survives(pool_code(p))
  T.ok(p.alive, ("%s x%s kernel %s %s (%s): runs without crashing"):format(p[1], T.render(p[2]), T.render(p[3]),
    T.render(p[4]), p[5]))
  p.x = graft.randn(p[2])
  inputs["px" .. i] = p.x
  local o = p[4]
  local extra = p[1] == "avg_pool2d" and (", count_include_pad=%s"):format(o.count_include_pad == false and "False" or "True")
    or (", dilation=%s"):format(pair(o.dilation, 1))
  py[#py + 1] = ([[
x = inp["px%d"].clone().requires_grad_()
y = F.%s(x, %s, stride=%s, padding=%s, ceil_mode=%s%s)
r = torch.randn(y.shape, generator=torch.Generator().manual_seed(%d))
(y * r).sum().backward()
out["py%d"], out["pr%d"], out["pgx%d"] = y.detach(), r, x.grad]]):format(i, p[1], pair(p[3]), pair(o.stride, p[3]),
    pair(o.padding, 0), o.ceil_mode and "True" or "False", extra, 1000 + i, i, i, i)
end

-- ---- resnet18 on 1x1 and 2x2 images, eval mode, against torchvision ------------------------
local dir = oracle.tmpname()
assert(os.execute("mkdir -p " .. dir))
local sizes = {1, 2}
for _, s in ipairs(sizes) do inputs["rx" .. s] = graft.randn{1, 3, s, s} end
py[#py + 1] = ([[
import torchvision
torch.manual_seed(0)
m = torchvision.models.resnet18(num_classes=10)
with torch.no_grad():
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.copy_(torch.randn(mod.running_mean.shape) * 0.1)
            mod.running_var.copy_(torch.rand(mod.running_var.shape) + 0.5)
m.eval()
save("%s/resnet18.safetensors", m.state_dict(), {"format": "pt"})
for s in (1, 2):
    x = inp["rx%%d" %% s].clone().requires_grad_()
    y = m(x)
    y.sum().backward()
    out["ry%%d" %% s], out["rgx%%d" %% s] = y.detach(), x.grad]]):format(dir)

local want = oracle.run(table.concat(py, "\n"), inputs)

for i, c in ipairs(convs) do
  local name = ("conv2d x%s w%s %s"):format(T.render(c[1]), T.render(c[2]), T.render(c[3]))
  if not c.alive then
    T.skip("it crashed", 5)
  else
    local x, w, b = c.x:clone():requires_grad_(), c.w:clone():requires_grad_(), c.b:clone():requires_grad_()
    local y = F.conv2d(x, w, b, c[3])
    T.close(y, want["cy" .. i], name .. ": forward", 1e-4, 1e-4)
    ;(y * want["cr" .. i]):sum():backward()
    T.close(x.grad, want["cgx" .. i], name .. ": d/dx", 1e-4, 1e-4)
    T.close(w.grad, want["cgw" .. i], name .. ": d/dw", 1e-4, 1e-4)
    T.close(b.grad, want["cgb" .. i], name .. ": d/db", 1e-4, 1e-4)
    local keep = {}
    graft.no_grad(function() F.conv2d(c.x, c.w, c.b, c[3], keep) end)
    local kept = graft.no_grad(function() return F.conv2d(c.x, c.w, c.b, c[3], keep) end)
    T.close(kept, want["cy" .. i], name .. ": forward with kept weights", 1e-4, 1e-4)
  end
end

for i, p in ipairs(pools) do
  local name = ("%s x%s kernel %s %s"):format(p[1], T.render(p[2]), T.render(p[3]), T.render(p[4]))
  if not p.alive then
    T.skip("it crashed", 3)
  else
    local ok, y0 = pcall(graft.no_grad, F[p[1]], p.x, p[3], p[4])
    if T.ok(ok, name .. ": accepted, as PyTorch accepts it") then
      T.close(y0, want["py" .. i], name .. ": inference forward", 1e-5, 1e-6)
      local x = p.x:clone():requires_grad_()
      local y = F[p[1]](x, p[3], p[4])
      ;(y * want["pr" .. i]):sum():backward()
      T.close(x.grad, want["pgx" .. i], name .. ": d/dx", 1e-5, 1e-6)
    else
      T.diag("  " .. tostring(y0))
      T.skip("refused", 2)
    end
  end
end

for _, s in ipairs(sizes) do
  local code = ([[
local m = graft.models.resnet18{num_classes = 10, weights = %q}
m:eval()
local x = graft.randn{1, 3, %d, %d}
graft.no_grad(m, x)
x:requires_grad_()
m(x):sum():backward()]]):format(dir .. "/resnet18.safetensors", s, s)
  local name = ("resnet18 on a %dx%d image (eval)"):format(s, s)
  if T.ok(survives(code), name .. ": runs without crashing") then
    local m = graft.models.resnet18{num_classes = 10, weights = dir .. "/resnet18.safetensors"}
    m:eval()
    local ref = want["ry" .. s]
    local tol = 1e-3 * ref:abs():max():item() + 1e-4
    T.close(graft.no_grad(m, inputs["rx" .. s]), ref, name .. ": inference logits match torchvision", 0, tol)
    local x = inputs["rx" .. s]:clone():requires_grad_()
    local y = m(x)
    T.close(y:detach(), ref, name .. ": logits with grad mode on", 0, tol)
    y:sum():backward()
    local gref = want["rgx" .. s]
    T.close(x.grad, gref, name .. ": d/dx matches torchvision", 0, 1e-3 * gref:abs():max():item() + 1e-5)
  else
    T.skip("it crashed", 3)
  end
end
os.execute("rm -rf " .. dir)

-- A dilated window whose taps all fall in the padding (rows -1 and 2 of a 2-row map): -inf,
-- as PyTorch's forward gives, on the inference kernel and the one that keeps positions, and
-- no gradient (PyTorch 1.13's own backward writes outside its buffer here, so the oracle is
-- the forward and a hand count).
do
  local x = graft.randn{1, 2, 2, 4}
  local o = {stride = 1, dilation = 3, padding = 1, ceil_mode = true}
  local want_y = oracle.run([[out["y"] = F.max_pool2d(inp["x"], 2, stride=1, padding=1, dilation=3, ceil_mode=True)]],
                            {x = x}).y
  T.close(graft.no_grad(F.max_pool2d, x, 2, o), want_y, "max_pool2d, a window wholly in the padding: inference gives -inf")
  local xg = x:clone():requires_grad_()
  local y = F.max_pool2d(xg, 2, o)
  T.close(y:detach(), want_y, "max_pool2d, a window wholly in the padding: -inf with positions too")
  y:sum():backward()
  T.close(xg.grad, graft.zeros{1, 2, 2, 4}, "and no input gets its gradient")
end

-- Found by the differential fuzzer (tests/315-F-fuzz.t):
-- pooling over no channels or an empty plane is refused, as PyTorch refuses it (only a 4-D
-- input's batch may be empty)
T.error_like(function() F.max_pool2d(graft.randn{1, 0, 4, 4}, 2) end, "max_pool2d: expects a non-empty 3-D or 4-D input",
             "max_pool2d over no channels is refused")
T.error_like(function() F.avg_pool2d(graft.randn{0, 4, 4}, 2) end, "avg_pool2d: expects a non-empty 3-D or 4-D input",
             "avg_pool2d of a 3-D input with no channels is refused")
T.is(table.concat(F.max_pool2d(graft.randn{0, 2, 4, 4}, 2):shape(), ","), "0,2,2,2", "an empty batch pools to an empty batch")
-- batch_norm in training on an empty batch runs (PyTorch returns an empty result), leaving the
-- running statistics alone; the affine parameters get zero gradients
do
  local x = graft.randn{0, 3, 4}
  local w, b = graft.rand{3}:requires_grad_(), graft.randn{3}:requires_grad_()
  local rm, rv = graft.tensor{0.1, 0.2, 0.3}, graft.tensor{1, 2, 3}
  local ok, y = pcall(F.batch_norm, x, rm, rv, {weight = w, bias = b, training = true})
  if T.ok(ok, "batch_norm in training on an empty batch runs") then
    T.is(table.concat(y:shape(), ","), "0,3,4", "its result is empty")
    y:sum():backward()
    T.close(w.grad, {0, 0, 0}, "d/dweight is 0")
    T.close(b.grad, {0, 0, 0}, "d/dbias is 0")
    T.close(rm, {0.1, 0.2, 0.3}, "the running mean is unchanged")
    T.close(rv, {1, 2, 3}, "the running variance is unchanged")
  else
    T.diag("  " .. tostring(y))
    T.skip("refused", 5)
  end
end
-- cross_entropy's label-smoothing term, mean reduction, averages over the labels not ignored
-- (PyTorch's true_mask); with every label ignored the loss is NaN and the gradient 0
do
  local x = graft.randn{3, 4}
  local labels = graft.tensor({2, -100, 4}, "i64")
  local want = oracle.run([[
x = inp["x"].clone().requires_grad_()
y = F.cross_entropy(x, torch.tensor([1, -100, 3]), label_smoothing=0.5)
y.backward()
out["y"], out["gx"] = y.detach(), x.grad
x2 = inp["x"].clone().requires_grad_()
F.cross_entropy(x2, torch.tensor([-100, -100, -100]), label_smoothing=0.5).backward()
out["gx2"] = x2.grad]], {x = x})
  local xg = x:clone():requires_grad_()
  local y = F.cross_entropy(xg, labels, {label_smoothing = 0.5})
  T.close(y:detach(), want.y, "cross_entropy, label smoothing, one label ignored: the loss", 1e-5, 1e-6)
  y:backward()
  T.close(xg.grad, want.gx, "and its gradient", 1e-5, 1e-6)
  for _, o in ipairs {{}, {label_smoothing = 0.5}, {weight = graft.rand{4} + 0.5}} do
    local x2 = x:clone():requires_grad_()
    local l = F.cross_entropy(x2, graft.tensor({-100, -100, -100}, "i64"), o)
    l:backward()
    T.ok(l:item() ~= l:item(), "every label ignored " .. T.render(o) .. ": the loss is NaN, as PyTorch's")
    T.close(x2.grad, want.gx2, "every label ignored " .. T.render(o) .. ": the gradient is 0, as PyTorch's")
  end
end

-- adaptive_avg_pool2d to an output size of 0: an empty result, as PyTorch's ({2,3,0,5} here)
do
  local ok, y = pcall(F.adaptive_avg_pool2d, graft.randn{2, 3, 2, 6}, {0, 5})
  T.ok(ok and table.concat(y:shape(), ",") == "2,3,0,5", "adaptive_avg_pool2d to {0,5} gives an empty {2,3,0,5}: "
       .. (ok and T.render(y:shape()) or tostring(y)))
end

T.error_like(function() F.avg_pool2d(graft.randn{1, 1, 4, 4}, 2, {divisor_override = 0}) end,
             "avg_pool2d: divisor_override must not be 0", "avg_pool2d refuses a zero divisor, as PyTorch does")

-- layer_norm's normalized_shape must be the input's last sizes, not only their number
T.error_like(function() F.layer_norm(graft.randn{2, 3, 4}, {3, 5}) end,
             "layer_norm: normalized_shape {3,5} is not the input's last dims (input {2,3,4})",
             "layer_norm over sizes the input does not end in is refused")
T.error_like(function() F.layer_norm(graft.randn{2, 3}, 4) end, "layer_norm: normalized_shape {4}",
             "layer_norm with a number that is not the last size is refused")

-- Refused as PyTorch refuses them, with an error (not a crash).
T.error_like(function() F.max_pool2d(graft.randn{1, 1, 1, 3}, 2) end, "max_pool2d:",
             "a 2x2 window on a 1x3 map without ceil mode: no output, refused")
T.error_like(function() F.max_pool2d(graft.randn{1, 1, 4, 4}, 3, {padding = 2}) end,
             "max_pool2d: padding 2 is more than half the kernel size 3", "padding past half the kernel is refused")
T.error_like(function() F.conv2d(graft.randn{1, 1, 2, 2}, graft.randn{4, 1, 7, 7}, nil, {padding = 2}) end,
             "conv2d: input {1,1,2,2} (padded) is smaller than the kernel {4,1,7,7}", "a kernel past the padded input")
T.done()
