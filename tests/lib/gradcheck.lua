-- Finite-difference check of a gradient: gradcheck(f, x) computes f()'s gradient with respect
-- to x by backward and by central differences (in double, over up to 40 elements of x) and
-- returns the largest relative difference |a - b| / max(|a| + |b|, 1e-3).
local graft = require "graft"

return function(f, x, eps)
  eps = eps or 1e-2
  x.grad = nil
  f():backward()
  local analytic = x.grad:clone()
  local worst = 0
  local n = x:numel()
  local flat = graft.no_grad(function() return x:view(-1) end)
  local step = math.max(1, n // 40)
  for i = 1, n, step do
    local old = flat:get(i)
    graft.no_grad(function() flat:set(i, old + eps) end)
    local up = graft.no_grad(function() return f():item() end)
    graft.no_grad(function() flat:set(i, old - eps) end)
    local down = graft.no_grad(function() return f():item() end)
    graft.no_grad(function() flat:set(i, old) end)
    local numeric = (up - down) / (2 * eps)
    local a = analytic:view(-1):get(i)
    local rel = math.abs(a - numeric) / math.max(math.abs(a) + math.abs(numeric), 1e-3)
    if rel > worst then worst = rel end
  end
  x.grad = nil
  return worst
end
