-- Finite-difference check of a gradient: gradcheck(f, x) computes f()'s gradient with respect
-- to x by backward and by central differences (over up to 40 elements of x) and returns the
-- largest relative difference |a - b| / max(|a| + |b|, floor). In f32, central differences
-- carry an error of about eps^2 f'''/6 whatever the size of the derivative, so the floor is a
-- hundredth of the largest |gradient|: an element whose derivative is near zero is judged
-- against the gradient's scale, not against itself.
local graft = require "graft"

return function(f, x, eps)
  eps = eps or 1e-2
  x.grad = nil
  f():backward()
  local analytic = x.grad:clone()
  local floor = math.max(graft.no_grad(function() return analytic:abs():max():item() end) * 1e-2, 1e-3)
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
    local rel = math.abs(a - numeric) / math.max(math.abs(a) + math.abs(numeric), floor)
    if rel > worst then worst = rel end
  end
  x.grad = nil
  return worst
end
