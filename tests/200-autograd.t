#!/usr/bin/env lua5.4
-- tests/200-autograd.t — gradients of every differentiable tensor method against PyTorch's
-- autograd (broadcasting, views, reductions, matmul, selection), and the tape's rules.
local T, graft, gradcases = require "tap", require "graft", require "gradcases"
graft.manual_seed(T.seed())

local R, pos = graft.randn, function(s) return graft.rand(s) + 0.5 end
-- {python expression, inputs needing grad, constants, lua function}
local cases = {
  {"x + y", {x = R{2, 3}, y = R{3}}, nil, function(v) return v.x + v.y end},
  {"x + y", {x = R{4, 1, 3}, y = R{2, 1}}, nil, function(v) return v.x + v.y end},
  {"x - y", {x = R{2, 3}, y = R{2, 1}}, nil, function(v) return v.x - v.y end},
  {"x * y", {x = R{3, 1}, y = R{1, 4}}, nil, function(v) return v.x * v.y end},
  {"x / y", {x = R{2, 3}, y = pos{3}}, nil, function(v) return v.x / v.y end},
  {"3 - x * 2", {x = R{5}}, nil, function(v) return 3 - v.x * 2 end},
  {"2 / x", {x = pos{5}}, nil, function(v) return 2 / v.x end},
  {"torch.maximum(x, y)", {x = R{3, 4}, y = R{4}}, nil, function(v) return v.x:maximum(v.y) end},
  {"torch.minimum(x, y)", {x = R{3, 4}, y = R{3, 1}}, nil, function(v) return v.x:minimum(v.y) end},
  {"torch.maximum(x, y)", {x = graft.tensor{1, 2, 3}, y = graft.tensor{1, 0, 5}}, nil,
   function(v) return v.x:maximum(v.y) end},   -- a tie splits the gradient
  {"x ** 3", {x = R{6}}, nil, function(v) return v.x ^ 3 end},
  {"x ** 0.5", {x = pos{6}}, nil, function(v) return v.x:pow(0.5) end},
  {"x ** y", {x = pos{2, 3}, y = R{3}}, nil, function(v) return v.x ^ v.y end},
  {"2 ** x", {x = R{4}}, nil, function(v) return 2 ^ v.x end},
  {"-x", {x = R{4}}, nil, function(v) return -v.x end},
  {"x.abs()", {x = R{7}}, nil, function(v) return v.x:abs() end},
  {"x.relu()", {x = R{7}}, nil, function(v) return v.x:relu() end},
  {"x.exp()", {x = R{7}}, nil, function(v) return v.x:exp() end},
  {"x.log()", {x = pos{7}}, nil, function(v) return v.x:log() end},
  {"x.sqrt()", {x = pos{7}}, nil, function(v) return v.x:sqrt() end},
  {"x.rsqrt()", {x = pos{7}}, nil, function(v) return v.x:rsqrt() end},
  {"x.sigmoid()", {x = R{7}}, nil, function(v) return v.x:sigmoid() end},
  {"x.tanh()", {x = R{7}}, nil, function(v) return v.x:tanh() end},
  {"x.reciprocal()", {x = pos{7}}, nil, function(v) return v.x:reciprocal() end},
  {"x.clamp(-0.5, 0.5)", {x = R{9}}, nil, function(v) return v.x:clamp(-0.5, 0.5) end},
  {"x.clamp(min=0.2)", {x = R{9}}, nil, function(v) return v.x:clamp{min = 0.2} end},
  {"x.floor()", {x = R{5}}, nil, function(v) return v.x:floor() end},
  {"x.sum(1)", {x = R{2, 3, 4}}, nil, function(v) return v.x:sum(2) end},
  {"x.sum((0, 2), keepdim=True)", {x = R{2, 3, 4}}, nil, function(v) return v.x:sum({1, 3}, true) end},
  {"x.sum()", {x = R{2, 3}}, nil, function(v) return v.x:sum() end},
  {"x.mean()", {x = R{2, 3}}, nil, function(v) return v.x:mean() end},
  {"x.mean(1, keepdim=True)", {x = R{2, 3, 4}}, nil, function(v) return v.x:mean(2, true) end},
  {"x.mean((0, 1))", {x = R{2, 3, 4}}, nil, function(v) return v.x:mean{1, 2} end},
  {"x.max(1)[0]", {x = R{3, 5}}, nil, function(v) return (v.x:max(2)) end},
  {"x.min(0, keepdim=True)[0]", {x = R{3, 5}}, nil, function(v) return (v.x:min(1, true)) end},
  {"x.max()", {x = R{3, 5}}, nil, function(v) return v.x:max() end},
  {"x.topk(2, 1)[0]", {x = R{3, 5}}, nil, function(v) return (v.x:topk(2, 2)) end},
  {"x @ y", {x = R{3, 4}, y = R{4, 5}}, nil, function(v) return v.x:matmul(v.y) end},
  {"x @ y", {x = R{2, 3, 4}, y = R{4, 5}}, nil, function(v) return v.x:matmul(v.y) end},
  {"x @ y", {x = R{3, 1, 4, 5}, y = R{2, 5, 3}}, nil, function(v) return v.x:matmul(v.y) end},
  {"x @ y", {x = R{4}, y = R{4, 5}}, nil, function(v) return v.x:matmul(v.y) end},
  {"x @ y", {x = R{3, 4}, y = R{4}}, nil, function(v) return v.x:matmul(v.y) end},
  {"x @ y", {x = R{2, 3, 4}, y = R{4}}, nil, function(v) return v.x:matmul(v.y) end},
  {"x @ y", {x = R{4}, y = R{4}}, nil, function(v) return v.x:matmul(v.y) end},
  {"x.view(3, 4)", {x = R{2, 6}}, nil, function(v) return v.x:view(3, 4) end},
  {"x.t().reshape(-1)", {x = R{2, 6}}, nil, function(v) return v.x:t():reshape(-1) end},
  {"x.transpose(0, 2)", {x = R{2, 3, 4}}, nil, function(v) return v.x:transpose(1, 3) end},
  {"x.permute(2, 0, 1)", {x = R{2, 3, 4}}, nil, function(v) return v.x:permute{3, 1, 2} end},
  {"x.unsqueeze(1).squeeze()", {x = R{2, 3}}, nil, function(v) return v.x:unsqueeze(2):squeeze() end},
  {"x.narrow(1, 1, 2)", {x = R{3, 5}}, nil, function(v) return v.x:narrow(2, 2, 2) end},
  {"x.select(0, 1)", {x = R{3, 5}}, nil, function(v) return v.x:select(1, 2) end},
  {"x.expand(4, 3)", {x = R{1, 3}}, nil, function(v) return v.x:expand(4, 3) end},
  {"x.flatten(1)", {x = R{2, 3, 4}}, nil, function(v) return v.x:flatten(2) end},
  {"x.t().contiguous()", {x = R{2, 3}}, nil, function(v) return v.x:t():contiguous() end},
  {"x.index_select(1, i - 1)", {x = R{3, 5}}, {i = graft.tensor({5, 1, 1, 3}, "i64")},
   function(v) return v.x:index_select(2, v.i) end},
  {"x.gather(1, i - 1)", {x = R{3, 5}}, {i = graft.tensor({{1, 1}, {5, 2}, {3, 3}}, "i64")},
   function(v) return v.x:gather(2, v.i) end},
  {"torch.where(m != 0, x, y)", {x = R{2, 3}, y = R{3}}, {m = graft.tensor({{1, 0, 1}, {0, 0, 1}}, "u8")},
   function(v) return graft.where(v.m, v.x, v.y) end},
  {"((x @ w + b).relu().sum(1) * x.sum(1)).exp()", {x = R{4, 3}, w = R{3, 5}, b = R{5}}, nil,
   function(v) return ((v.x:matmul(v.w) + v.b):relu():sum(2) * v.x:sum(2)):exp() end},
  {"x * x + x", {x = R{3}}, nil, function(v) return v.x * v.x + v.x end},   -- one tensor used three times
}

gradcases.run(cases, {forward_tol = 1e-5})

-- The tape's rules.
local x = graft.randn{3}:requires_grad_()
T.is(x.requires_grad, true, "requires_grad_ marks a leaf")
T.is(graft.randn{3}.requires_grad, false, "tensors do not require grad by default")
T.is(x.grad, nil, ".grad is nil until a backward reaches it")
local y = (x * 2):sum()
T.ok(y.requires_grad and y.grad_fn ~= nil, "a result of recorded ops requires grad and has a grad_fn")
y:backward()
T.close(x.grad, {2, 2, 2}, "backward fills .grad")
;(x * 3):sum():backward()
T.close(x.grad, {5, 5, 5}, "a second backward accumulates into .grad")
T.error_like(function() y:backward() end, "backward: the graph through 'sum' has been freed", "backward twice is a clear error")
local z = (x * x):sum()
z:backward{retain_graph = true}
z:backward()
T.close(x.grad, (x * 4 + 5):detach(), "retain_graph allows a second backward")
T.error_like(function() (x * 2):backward() end, "backward: an implicit gradient needs a one-element result, not {3}", "non-scalar backward needs a gradient")
local x2 = graft.randn{3}:requires_grad_()
;(x2 * 2):backward(graft.tensor{1, 10, 100})
T.close(x2.grad, {2, 20, 200}, "backward with an explicit gradient")
T.error_like(function() graft.randn{2}:sum():backward() end, "backward: the tensor does not require grad", "backward without any requires_grad")
T.is(graft.no_grad(function() return (x * 2).requires_grad end), false, "no_grad records nothing")
T.is(graft.grad_enabled(), true, "grad mode is back on after no_grad")
T.error_like(function() graft.no_grad(function() error("boom") end) end, "boom", "no_grad passes errors through")
T.is(graft.grad_enabled(), true, "and restores grad mode after an error")
local d = x:detach()
T.ok(not d.requires_grad and d:shares_storage(x), "detach shares storage and leaves the graph")
T.error_like(function() x:add_(1) end, "add_: in-place update of a tensor that requires grad", "in-place updates of grad tensors are refused")
local before = x:get(1)
graft.no_grad(function() x:add_(1) end)
T.ok(math.abs(x:get(1) - (before + 1)) < 1e-6, "in-place updates are allowed under no_grad")
T.error_like(function() graft.ones({2}, "i64"):requires_grad_() end, "only f32 tensors can require gradients", "integer tensors cannot require grad")
local frozen, w = graft.randn{3}, graft.randn{3}:requires_grad_()
;(frozen * w):sum():backward()
T.is(frozen.grad, nil, "an input that does not require grad gets no .grad")

-- The tape is freed by backward: memory does not grow across iterations.
local p = graft.randn{256, 256}:requires_grad_()
collectgarbage()
local base = graft.memory().allocated
local high = 0
for _ = 1, 60 do
  local h = (p:matmul(p)):tanh():matmul(p):relu():mean()
  h:backward()
  high = math.max(high, graft.memory().allocated - base)
end
T.ok(high < 64 * 2 ^ 20, ("60 training-like steps keep at most %.1f MB alive"):format(high / 2 ^ 20))
T.done()
