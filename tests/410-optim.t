#!/usr/bin/env lua5.4
-- tests/410-optim.t — SGD (momentum, dampening, nesterov, weight decay), Adam and AdamW with
-- two parameter groups: ten steps on a small model match torch.optim step for step; the
-- schedulers' learning rates (and OneCycleLR's momentum) match torch's; state dicts resume.
local T, graft, oracle = require "tap", require "graft", require "oracle"
local F = graft.F
graft.manual_seed(T.seed())

local x, target = graft.randn{8, 4}, graft.randn{8, 2}
local w1, b1, w2 = graft.randn{3, 4}, graft.randn{3}, graft.randn{2, 3}
local configs = {
  {"SGD", "momentum=0.9, dampening=0.1, weight_decay=0.01", {momentum = 0.9, dampening = 0.1, weight_decay = 0.01}},
  {"SGD", "momentum=0.9, nesterov=True", {momentum = 0.9, nesterov = true}},
  {"SGD", "", {}},
  {"Adam", "weight_decay=0.05, betas=(0.8, 0.99)", {weight_decay = 0.05, betas = {0.8, 0.99}}},
  {"AdamW", "weight_decay=0.1, eps=1e-6", {weight_decay = 0.1, eps = 1e-6}},
}
local py = {[[
def model_params():
    return [inp["w1"].clone().requires_grad_(), inp["b1"].clone().requires_grad_(), inp["w2"].clone().requires_grad_()]
def loss_of(p):
    h = torch.tanh(F.linear(inp["x"], p[0], p[1]))
    return F.mse_loss(F.linear(h, p[2]), inp["t"])
]]}
for ci, c in ipairs(configs) do
  py[#py + 1] = ([[
p = model_params()
opt = torch.optim.%s([{"params": p[:2], "lr": 0.05}, {"params": p[2:], "lr": 0.02}], %s)
for step in range(10):
    opt.zero_grad(); loss_of(p).backward(); opt.step()
    for j, t in enumerate(p):
        out["c%d_s%%d_p%%d" %% (step, j)] = t.detach().clone()
]]):format(c[1], c[2], ci)
end
py[#py + 1] = [==[
def lrs(make, steps, opt_kind="SGD"):
    w = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1, momentum=0.9) if opt_kind == "SGD" else torch.optim.Adam([w], lr=0.1)
    s = make(opt)
    got, mom = [opt.param_groups[0]["lr"]], [opt.param_groups[0].get("momentum", opt.param_groups[0].get("betas", [0])[0])]
    for _ in range(steps):
        opt.step(); s.step()
        got.append(opt.param_groups[0]["lr"])
        mom.append(opt.param_groups[0].get("momentum", opt.param_groups[0].get("betas", [0])[0]))
    return torch.tensor(got, dtype=torch.float64).float(), torch.tensor(mom).float()
S = torch.optim.lr_scheduler
out["step"], _ = lrs(lambda o: S.StepLR(o, 3, gamma=0.5), 10)
out["multi"], _ = lrs(lambda o: S.MultiStepLR(o, [2, 5], gamma=0.3), 8)
out["cos"], _ = lrs(lambda o: S.CosineAnnealingLR(o, 10, eta_min=0.01), 10)
out["linear"], _ = lrs(lambda o: S.LinearLR(o, start_factor=0.25, total_iters=4), 7)
out["onecycle"], out["onecycle_m"] = lrs(lambda o: S.OneCycleLR(o, max_lr=0.5, total_steps=20), 19)
out["onecycle_lin"], out["onecycle_lin_m"] = lrs(lambda o: S.OneCycleLR(o, max_lr=0.5, total_steps=12, anneal_strategy="linear", three_phase=True), 11, "Adam")
]==]
local want = oracle.run(table.concat(py, "\n"), {x = x, t = target, w1 = w1, b1 = b1, w2 = w2})

local function loss_of(p)
  local h = F.tanh(F.linear(x, p[1], p[2]))
  return F.mse_loss(F.linear(h, p[3]), target)
end
for ci, c in ipairs(configs) do
  local p = {w1:clone():requires_grad_(), b1:clone():requires_grad_(), w2:clone():requires_grad_()}
  local opt = graft.optim[c[1]]({{params = {p[1], p[2]}, lr = 0.05}, {params = {p[3]}, lr = 0.02}}, c[3])
  local worst, at = 0, nil
  for step = 0, 9 do
    opt:zero_grad()
    loss_of(p):backward()
    opt:step()
    for j = 0, 2 do
      local d = (p[j + 1] - want[("c%d_s%d_p%d"):format(ci, step, j)]):abs():max():item()
      if d > worst then worst, at = d, step end
    end
  end
  T.ok(worst < 1e-5, ("%s(%s), two groups: ten steps match torch.optim (worst %.2g%s)"):format(
    c[1], c[2], worst, at and (" at step " .. at + 1) or ""))
end

-- schedulers
local function lrs(make, steps, kind)
  local w = graft.zeros{2}:requires_grad_()
  local opt = kind == "Adam" and graft.optim.Adam({w}, {lr = 0.1}) or graft.optim.SGD({w}, {lr = 0.1, momentum = 0.9})
  local s = make(opt)
  local function momentum() local g = opt.param_groups[1] return g.momentum or g.betas[1] end
  local got, mom = {opt.param_groups[1].lr}, {momentum()}
  for _ = 1, steps do
    opt:step()
    s:step()
    got[#got + 1], mom[#mom + 1] = opt.param_groups[1].lr, momentum()
  end
  return got, mom
end
local S = graft.optim.lr_scheduler
T.close(graft.tensor((lrs(function(o) return S.StepLR(o, 3, {gamma = 0.5}) end, 10))), want.step, "StepLR", 1e-6, 1e-9)
T.close(graft.tensor((lrs(function(o) return S.MultiStepLR(o, {2, 5}, {gamma = 0.3}) end, 8))), want.multi, "MultiStepLR", 1e-6, 1e-9)
T.close(graft.tensor((lrs(function(o) return S.CosineAnnealingLR(o, 10, {eta_min = 0.01}) end, 10))), want.cos, "CosineAnnealingLR", 1e-5, 1e-8)
T.close(graft.tensor((lrs(function(o) return S.LinearLR(o, {start_factor = 0.25, total_iters = 4}) end, 7))), want.linear, "LinearLR (warmup)", 1e-6, 1e-9)
local l, m = lrs(function(o) return S.OneCycleLR(o, {max_lr = 0.5, total_steps = 20}) end, 19)
T.close(graft.tensor(l), want.onecycle, "OneCycleLR learning rates", 1e-5, 1e-8)
T.close(graft.tensor(m), want.onecycle_m, "OneCycleLR momentum", 1e-5, 1e-8)
l, m = lrs(function(o) return S.OneCycleLR(o, {max_lr = 0.5, total_steps = 12, anneal_strategy = "linear", three_phase = true}) end, 11, "Adam")
T.close(graft.tensor(l), want.onecycle_lin, "OneCycleLR three-phase linear, Adam", 1e-5, 1e-8)
T.close(graft.tensor(m), want.onecycle_lin_m, "OneCycleLR cycles Adam's beta1", 1e-5, 1e-8)

-- resuming: an optimizer restored from its state dict continues identically
local function run(steps, resume_at)
  local p = {w1:clone():requires_grad_(), b1:clone():requires_grad_(), w2:clone():requires_grad_()}
  local opt = graft.optim.AdamW(p, {lr = 0.01})
  for step = 1, steps do
    if step == resume_at then
      local sd = opt:state_dict()
      opt = graft.optim.AdamW(p, {lr = 0.5})   -- fresh, with another lr: the state brings 0.01 back
      opt:load_state_dict(sd)
    end
    opt:zero_grad()
    loss_of(p):backward()
    opt:step()
  end
  return p
end
local straight, resumed = run(6), run(6, 4)
T.equal(resumed[1], straight[1], "an optimizer resumed from its state dict continues bit for bit")

T.error_like(function() graft.optim.SGD({graft.zeros{1}}) end, "SGD: lr is required", "SGD needs lr")
T.error_like(function() graft.optim.Adam({graft.zeros{1}}, {lr = 1, momentum = 0.9}) end, 'Adam: unknown option "momentum"', "unknown options are refused")
T.error_like(function() graft.optim.SGD({graft.zeros{1}}, {lr = 1, nesterov = true}) end, "SGD: nesterov needs a momentum", "nesterov without momentum")
T.error_like(function() graft.optim.SGD({}, {lr = 1}) end, "SGD: got an empty parameter list", "empty parameter list")
-- Hyperparameters out of range are refused with torch.optim's messages.
do
  local function P() return {graft.zeros{1}} end
  local O = graft.optim
  local bad = {
    {function() O.AdamW(P(), {lr = -1}) end, "AdamW: Invalid learning rate: -1"},
    {function() O.Adam(P(), {lr = 0 / 0}) end, "Adam: Invalid learning rate: "},
    {function() O.Adam(P(), {eps = -1e-8}) end, "Adam: Invalid epsilon value: -1e-08"},
    {function() O.AdamW(P(), {betas = {1, 0.999}}) end, "AdamW: Invalid beta parameter at index 0: 1"},
    {function() O.AdamW(P(), {betas = {0.9, -0.1}}) end, "AdamW: Invalid beta parameter at index 1: -0.1"},
    {function() O.AdamW(P(), {weight_decay = -0.01}) end, "AdamW: Invalid weight_decay value: -0.01"},
    {function() O.SGD(P(), {lr = -0.1}) end, "SGD: Invalid learning rate: -0.1"},
    {function() O.SGD(P(), {lr = 0.1, momentum = -0.9}) end, "SGD: Invalid momentum value: -0.9"},
    {function() O.SGD(P(), {lr = 0.1, weight_decay = -1}) end, "SGD: Invalid weight_decay value: -1"},
    {function() O.SGD(P(), {lr = 0.1, momentum = 0.9, dampening = 0.1, nesterov = true}) end, "SGD: nesterov needs a momentum and zero dampening"},
    {function() O.SGD({{params = P(), lr = -1}}, {lr = 0.1}) end, "SGD: Invalid learning rate: -1"},
  }
  for _, c in ipairs(bad) do T.error_like(c[1], c[2], c[2]) end
  T.ok(pcall(O.SGD, P(), {lr = 0, momentum = 0, weight_decay = 0}) and pcall(O.AdamW, P(), {lr = 0, eps = 0, betas = {0, 0}}),
       "the bounds themselves (0) are accepted, as in PyTorch")
end
local shared = graft.zeros{1}
T.error_like(function() graft.optim.SGD({{params = {shared}}, {params = {shared}}}, {lr = 1}) end, "a parameter appears in more than one group", "a parameter in two groups")
T.done()
