#!/usr/bin/env lua5.4
-- tests/310-nn-ops.t — graft.F forward and backward against PyTorch: linear, activations,
-- softmax, pooling (padding, dilation, ceil_mode, count_include_pad), batch and layer norm,
-- losses (weights, ignore_index, label smoothing, reductions), embedding, cat, dropout.
local T, graft, gradcases, gradcheck = require "tap", require "graft", require "gradcases", require "gradcheck"
local F = graft.F
graft.manual_seed(T.seed())

local R = graft.randn
local labels = graft.tensor({1, 5, 3, 3, 2, 4}, "i64")           -- 1-based; 3 is ignored below
local spatial = graft.randint(1, 5, {2, 3, 3})
-- {python expression, inputs needing grad, constants, lua function}
local cases = {
  {"F.linear(x, w, b)", {x = R{3, 5}, w = R{4, 5}, b = R{4}}, nil, function(v) return F.linear(v.x, v.w, v.b) end},
  {"F.linear(x, w)", {x = R{2, 3, 5}, w = R{4, 5}}, nil, function(v) return F.linear(v.x, v.w) end},
  {"F.linear(x.transpose(0, 1), w, b)", {x = R{5, 3}, w = R{4, 5}, b = R{4}}, nil, function(v) return F.linear(v.x:t(), v.w, v.b) end},
  {"F.relu(x)", {x = R{30}}, nil, function(v) return F.relu(v.x) end},
  {"F.relu6(x * 5)", {x = R{30}}, nil, function(v) return F.relu6(v.x * 5) end},
  {"torch.sigmoid(x)", {x = R{30}}, nil, function(v) return F.sigmoid(v.x) end},
  {"torch.tanh(x)", {x = R{30}}, nil, function(v) return F.tanh(v.x) end},
  {"F.silu(x * 3)", {x = R{30}}, nil, function(v) return F.silu(v.x * 3) end},
  {"F.gelu(x * 3)", {x = R{30}}, nil, function(v) return F.gelu(v.x * 3) end},
  {"F.hardswish(x * 4)", {x = R{30}}, nil, function(v) return F.hardswish(v.x * 4) end},
  {"F.hardsigmoid(x * 4)", {x = R{30}}, nil, function(v) return F.hardsigmoid(v.x * 4) end},
  {"F.softmax(x, 1)", {x = R{3, 5}}, nil, function(v) return F.softmax(v.x, 2) end},
  {"F.softmax(x * 30, 0)", {x = R{3, 5}}, nil, function(v) return F.softmax(v.x * 30, 1) end},
  {"F.log_softmax(x, 1)", {x = R{2, 4, 3}}, nil, function(v) return F.log_softmax(v.x, 2) end},
  {"F.max_pool2d(x, 3, stride=2, padding=1)", {x = R{2, 3, 7, 7}}, nil, function(v) return F.max_pool2d(v.x, 3, {stride = 2, padding = 1}) end},
  {"F.max_pool2d(x, 2, ceil_mode=True)", {x = R{1, 2, 5, 5}}, nil, function(v) return F.max_pool2d(v.x, 2, {ceil_mode = true}) end},
  {"F.max_pool2d(x, 3, stride=2, ceil_mode=True)", {x = R{1, 2, 8, 8}}, nil, function(v) return F.max_pool2d(v.x, 3, {stride = 2, ceil_mode = true}) end},
  {"F.max_pool2d(x, (2, 3), stride=1, dilation=2)", {x = R{2, 2, 6, 7}}, nil, function(v) return F.max_pool2d(v.x, {2, 3}, {stride = 1, dilation = 2}) end},
  {"F.max_pool2d(x, 2)", {x = R{3, 6, 6}}, nil, function(v) return F.max_pool2d(v.x, 2) end},
  {"F.avg_pool2d(x, 3, stride=2, padding=1)", {x = R{2, 3, 7, 7}}, nil, function(v) return F.avg_pool2d(v.x, 3, {stride = 2, padding = 1}) end},
  {"F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)", {x = R{2, 3, 7, 7}}, nil,
   function(v) return F.avg_pool2d(v.x, 3, {stride = 2, padding = 1, count_include_pad = false}) end},
  {"F.avg_pool2d(x, 2, ceil_mode=True)", {x = R{1, 2, 5, 5}}, nil, function(v) return F.avg_pool2d(v.x, 2, {ceil_mode = true}) end},
  {"F.avg_pool2d(x, 2, divisor_override=3)", {x = R{1, 2, 4, 4}}, nil, function(v) return F.avg_pool2d(v.x, 2, {divisor_override = 3}) end},
  {"F.adaptive_avg_pool2d(x, (3, 2))", {x = R{2, 3, 7, 5}}, nil, function(v) return F.adaptive_avg_pool2d(v.x, {3, 2}) end},
  {"F.adaptive_avg_pool2d(x, 1)", {x = R{2, 3, 4, 4}}, nil, function(v) return F.adaptive_avg_pool2d(v.x, 1) end},
  {"F.adaptive_avg_pool2d(x, 7)", {x = R{1, 2, 5, 5}}, nil, function(v) return F.adaptive_avg_pool2d(v.x, 7) end},
  {"F.batch_norm(x, None, None, w, b, training=True)", {x = R{4, 3, 5, 5}, w = R{3}, b = R{3}}, nil,
   function(v) return F.batch_norm(v.x, nil, nil, v.w, v.b, true) end},
  {"F.batch_norm(x, m.clone(), s.clone(), w, b, training=False, eps=1e-3)", {x = R{4, 3, 5}, w = R{3}, b = R{3}},
   {m = R{3}, s = graft.rand{3} + 0.5}, function(v) return F.batch_norm(v.x, v.m:clone(), v.s:clone(), v.w, v.b, false, 0.1, 1e-3) end},
  {"F.batch_norm(x, None, None, training=True)", {x = R{6, 4}}, nil, function(v) return F.batch_norm(v.x, nil, nil, nil, nil, true) end},
  {"F.layer_norm(x, (4,), w, b)", {x = R{2, 3, 4}, w = R{4}, b = R{4}}, nil, function(v) return F.layer_norm(v.x, {4}, v.w, v.b) end},
  {"F.layer_norm(x, (3, 4), w, b, eps=1e-12)", {x = R{2, 3, 4}, w = R{3, 4}, b = R{3, 4}}, nil,
   function(v) return F.layer_norm(v.x, {3, 4}, v.w, v.b, 1e-12) end},
  {"F.cross_entropy(x, y - 1)", {x = R{6, 5}}, {y = labels}, function(v) return F.cross_entropy(v.x, v.y) end},
  {"F.cross_entropy(x, y - 1, weight=cw)", {x = R{6, 5}}, {y = labels, cw = graft.rand{5} + 0.5},
   function(v) return F.cross_entropy(v.x, v.y, {weight = v.cw}) end},
  {"F.cross_entropy(x, y - 1, ignore_index=2)", {x = R{6, 5}}, {y = labels}, function(v) return F.cross_entropy(v.x, v.y, {ignore_index = 3}) end},
  {"F.cross_entropy(x, y - 1, label_smoothing=0.2)", {x = R{6, 5}}, {y = labels},
   function(v) return F.cross_entropy(v.x, v.y, {label_smoothing = 0.2}) end},
  {"F.cross_entropy(x, y - 1, weight=cw, ignore_index=2, label_smoothing=0.1)", {x = R{6, 5}},
   {y = labels, cw = graft.rand{5} + 0.5}, function(v) return F.cross_entropy(v.x, v.y, {weight = v.cw, ignore_index = 3, label_smoothing = 0.1}) end},
  {"F.cross_entropy(x, y - 1, reduction='none', label_smoothing=0.1, ignore_index=2)", {x = R{6, 5}}, {y = labels},
   function(v) return F.cross_entropy(v.x, v.y, {reduction = "none", label_smoothing = 0.1, ignore_index = 3}) end},
  {"F.cross_entropy(x, y - 1, reduction='sum')", {x = R{6, 5}}, {y = labels}, function(v) return F.cross_entropy(v.x, v.y, {reduction = "sum"}) end},
  {"F.cross_entropy(x, y - 1)", {x = R{2, 4, 3, 3}}, {y = spatial}, function(v) return F.cross_entropy(v.x, v.y) end},
  {"F.nll_loss(F.log_softmax(x, 1), y - 1)", {x = R{6, 5}}, {y = labels}, function(v) return F.nll_loss(F.log_softmax(v.x, 2), v.y) end},
  {"F.mse_loss(x, t)", {x = R{3, 4}, t = R{3, 4}}, nil, function(v) return F.mse_loss(v.x, v.t) end},
  {"F.mse_loss(x, t.expand(3, 4), reduction='sum')", {x = R{3, 4}, t = R{4}}, nil, function(v) return F.mse_loss(v.x, v.t, {reduction = "sum"}) end},
  {"F.binary_cross_entropy_with_logits(x * 5, t)", {x = R{3, 4}}, {t = graft.rand{3, 4}},
   function(v) return F.binary_cross_entropy_with_logits(v.x * 5, v.t) end},
  {"F.binary_cross_entropy_with_logits(x, t, pos_weight=pw, weight=cw, reduction='sum')", {x = R{3, 4}},
   {t = graft.rand{3, 4}, pw = graft.rand{4} + 0.5, cw = graft.rand{3, 4}},
   function(v) return F.binary_cross_entropy_with_logits(v.x, v.t, {pos_weight = v.pw, weight = v.cw, reduction = "sum"}) end},
  {"F.embedding(i - 1, w, padding_idx=1)", {w = R{6, 3}}, {i = graft.tensor({{1, 2, 2}, {6, 1, 3}}, "i64")},
   function(v) return F.embedding(v.i, v.w, {padding_idx = 2}) end},
  {"torch.cat([x, y, z], 1)", {x = R{2, 3}, y = R{2, 1}, z = R{2, 2}}, nil, function(v) return F.cat({v.x, v.y, v.z}, 2) end},
}

local bn_x, bn_m, bn_v = R{5, 3, 4, 4}, R{3}, graft.rand{3} + 0.5
local want = gradcases.run(cases, {forward_tol = 1e-4, extra_inputs = {bn_x = bn_x, bn_m = bn_m, bn_v = bn_v},
  extra_py = [[
# batch norm's running statistics after one training step
x, rm, rv = inp["bn_x"], inp["bn_m"].clone(), inp["bn_v"].clone()
F.batch_norm(x, rm, rv, training=True, momentum=0.3)
out["bn_m"], out["bn_v"] = rm, rv
]]})

local rm, rv = bn_m:clone(), bn_v:clone()
F.batch_norm(bn_x, rm, rv, nil, nil, true, 0.3)
T.close(rm, want.bn_m, "batch_norm updates running_mean with momentum", 1e-5, 1e-6)
T.close(rv, want.bn_v, "batch_norm updates running_var with the unbiased variance", 1e-5, 1e-6)

-- finite differences as a second opinion on the hand-written C gradients
local function fd(name, f, x) T.ok(gradcheck(f, x) < 2e-2, name .. ": gradient matches finite differences") end
local bx = R{3, 2, 3}:requires_grad_()
fd("batch_norm (train)", function() return F.batch_norm(bx, nil, nil, nil, nil, true):pow(3):sum() end, bx)
local lx = R{2, 5}:requires_grad_()
fd("layer_norm", function() return F.layer_norm(lx, {5}):pow(3):sum() end, lx)
local sx = R{2, 4}:requires_grad_()
fd("log_softmax", function() return (F.log_softmax(sx, 2) * graft.tensor{{1, 2, 3, 4}}):sum() end, sx)
local px = R{1, 1, 5, 5}:requires_grad_()
fd("avg_pool2d", function() return F.avg_pool2d(px, 3, {stride = 2, padding = 1}):pow(2):sum() end, px)
fd("gelu", function() return F.gelu(px):pow(2):sum() end, px)

-- dropout: the mask is drawn from the state's generator and scaled
graft.manual_seed(5)
local d1 = F.dropout(graft.ones{1000}, 0.3)
graft.manual_seed(5)
local d2 = F.dropout(graft.ones{1000}, 0.3)
T.equal(d1, d2, "dropout repeats with the same seed")
local kept = d1:gt(0):to("f32"):mean():item()
T.ok(math.abs(kept - 0.7) < 0.05 and math.abs(d1:max():item() - 1 / 0.7) < 1e-5, "dropout keeps about 1-p, scaled by 1/(1-p)")
T.ok(F.dropout(graft.ones{4}, 0.5, false):sum():item() == 4, "dropout off in eval")

-- NaN passes through the vectorised activations (their exp is clamped, and NaN must not
-- reach its integer conversion), value and gradient, without disturbing the next element.
for _, name in ipairs({"gelu", "silu", "sigmoid"}) do
  local x = graft.tensor({0 / 0, 1}):requires_grad_()
  local y = F[name](x)
  y:sum():backward()
  local v, g = y:totable(), x.grad:totable()
  local ref = F[name](graft.tensor({1})):item()
  T.ok(v[1] ~= v[1] and g[1] ~= g[1] and v[2] == ref and g[2] == g[2], name .. ": NaN in, NaN out (value and gradient)")
end

-- max_pool2d's positions, by hand: a tie sends the gradient to the window's first maximum,
-- the last NaN wins its window (as in PyTorch), and a window of -inf still routes to its
-- first tap. Both kernels: the plain 2x2 one, and the general one (which ceil_mode's
-- partial windows on a fifth row and column of -9 select).
do
  local nan, inf = 0 / 0, math.huge
  local rows = {{1, 3, 3, 0, -9}, {3, 2, nan, nan, -9}, {-inf, -inf, 5, 5, -9}, {-inf, -inf, 5, 5, -9}, {-9, -9, -9, -9, -9}}
  for _, size in ipairs({4, 5}) do
    local x = graft.tensor({{rows}}):narrow(3, 1, size):narrow(4, 1, size):contiguous():requires_grad_()
    local y = F.max_pool2d(x, 2, {ceil_mode = size == 5})
    y:sum():backward()
    local v, g = y:totable()[1][1], x.grad:totable()[1][1]
    T.ok(v[1][1] == 3 and v[1][2] ~= v[1][2] and v[2][1] == -inf and v[2][2] == 5,
         size .. "x" .. size .. " max_pool2d values: tie, NaN, -inf")
    local want = {{0, 1, 0, 0, 1}, {0, 0, 0, 1, 0}, {1, 0, 1, 0, 1}, {0, 0, 0, 0, 0}, {1, 0, 1, 0, 1}}
    for r = 1, size do want[r] = table.move(want[r], 1, size, 1, {}) end
    T.is_deeply(table.move(g, 1, size, 1, {}), table.move(want, 1, size, 1, {}),
                size .. "x" .. size .. " max_pool2d gradient: first maximum of a tie, last NaN, first tap of a -inf window")
    local w = F.max_pool2d(x:detach(), 2, {ceil_mode = size == 5}):totable()[1][1]
    T.ok(w[1][1] == 3 and w[1][2] ~= w[1][2] and w[2][1] == -inf and w[2][2] == 5,
         size .. "x" .. size .. " max_pool2d values without positions (the kernel for inference): tie, NaN, -inf")
  end
end

-- Without a gradient to route, max_pool2d takes the maximum down each window's rows first
-- and then across: the same values as the kernel that keeps positions, for every option.
for _, c in ipairs({{3, {stride = 2, padding = 1}}, {2, {ceil_mode = true}}, {3, {stride = 2, ceil_mode = true}},
                    {{2, 3}, {stride = 1, dilation = 2}}, {{3, 2}, {stride = {1, 2}, padding = {1, 0}}}, {2, {}}}) do
  local x = graft.randn{2, 3, 9, 8}
  local plain = F.max_pool2d(x, c[1], c[2])
  local routed = F.max_pool2d(x:clone():requires_grad_(), c[1], c[2]):detach()
  T.ok(plain:size(3) == routed:size(3) and (plain - routed):abs():max():item() == 0,
       ("max_pool2d %s %s: the same values with and without positions"):format(T.render(c[1]), T.render(c[2])))
end

-- errors name the op and the problem
T.error_like(function() F.cross_entropy(R{2, 3}, graft.tensor({1, 4}, "i64")) end,
             "nll_loss: label 4 is out of range for 3 classes (labels are 1-based)", "a label past the classes")
T.error_like(function() F.cross_entropy(R{2, 3}, graft.tensor({0, 1}, "i64")) end, "label 0 is out of range", "labels are 1-based")
T.error_like(function() F.linear(R{2, 3}, R{4, 5}) end, "linear: input {2,3} does not end in the weight's 5 input features", "linear shapes")
T.error_like(function() F.batch_norm(R{1, 3}, nil, nil, nil, nil, true) end,
             "batch_norm: expected more than 1 value per channel when training", "batch norm of one value")
-- PyTorch's functional batch norm needs running statistics to normalize with when not
-- training; a BatchNorm layer without them uses the batch's in eval mode too.
T.error_like(function() F.batch_norm(R{2, 3, 4, 4}, nil, nil, {training = false}) end,
             "batch_norm: running_mean and running_var are needed when training is false", "eval batch norm without statistics")
do
  local x = R{2, 3, 4, 4}
  local bn = graft.nn.BatchNorm2d(3, {track_running_stats = false}):eval()
  local want = F.batch_norm(x, nil, nil, {training = true})
  T.is((bn(x) - want):abs():max():item(), 0, "BatchNorm2d without running statistics normalizes by the batch in eval")
end
T.error_like(function() F.max_pool2d(R{1, 1, 4, 4}, 2, {padding = 2}) end,
             "max_pool2d: padding 2 is more than half the kernel size 2", "pool padding")
T.error_like(function() F.embedding(graft.tensor({7}, "i64"), R{6, 3}) end, "embedding: id 7 is out of range for 6 rows", "embedding ids")
T.error_like(function() F.cat({R{2, 3}, R{3, 3}}, 2) end, "cat: tensor 2 has size 3 in dim 1, tensor 1 has 2", "cat shapes")
T.done()
