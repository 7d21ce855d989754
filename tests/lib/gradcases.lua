-- Checks the forward values and the gradients of many small cases against PyTorch's autograd
-- in one oracle call. A case is {python expression, {name = input that needs a gradient},
-- {name = constant} or nil, function(values) -> graft result}; each result is weighted by a
-- random tensor before backward, so every output element matters. opts: forward_tol, and
-- extra_py / extra_inputs for more oracle work in the same call (its `out` comes back).
local graft, oracle, T = require "graft", require "oracle", require "tap"

local M = {}

function M.run(cases, opts)
  opts = opts or {}
  local inputs, py = {}, {"cases = []"}
  for k, v in pairs(opts.extra_inputs or {}) do inputs[k] = v end
  for id, c in ipairs(cases) do
    local names, consts, all = {}, {}, {}
    for name, t in pairs(c[2]) do
      inputs[("c%d_%s"):format(id, name)], all[name] = t, t
      names[#names + 1] = ("%q"):format(name)
    end
    for name, t in pairs(c[3] or {}) do
      inputs[("c%d_%s"):format(id, name)], all[name] = t, t
      consts[#consts + 1] = ("%q"):format(name)
    end
    c.r = graft.randn(graft.no_grad(c[4], all):shape())
    inputs[("c%d_r"):format(id)] = c.r
    py[#py + 1] = ("cases.append((%d, [%s], [%s], %q))"):format(id, table.concat(names, ","), table.concat(consts, ","), c[1])
  end
  py[#py + 1] = [[
for cid, names, consts, expr in cases:
    env = {"torch": torch, "F": F}
    for n in names:
        env[n] = inp["c%d_%s" % (cid, n)].clone().requires_grad_(True)
    for n in consts:
        env[n] = inp["c%d_%s" % (cid, n)]
    y = eval(expr, env)
    (y * inp["c%d_r" % cid]).sum().backward()
    out["c%d_y" % cid] = y.detach()
    for n in names:
        out["c%d_g%s" % (cid, n)] = env[n].grad
]]
  py[#py + 1] = opts.extra_py or ""
  local want = oracle.run(table.concat(py, "\n"), inputs)
  local ftol = opts.forward_tol or 1e-5
  for id, c in ipairs(cases) do
    local leaves = {}
    for name, t in pairs(c[2]) do leaves[name] = t:clone():requires_grad_() end
    for name, t in pairs(c[3] or {}) do leaves[name] = t end
    local y = c[4](leaves)
    T.close(y, want[("c%d_y"):format(id)], c[1] .. ": forward", ftol, 1e-5)
    ;(y * c.r):sum():backward()
    for name in pairs(c[2]) do
      T.close(leaves[name].grad, want[("c%d_g%s"):format(id, name)], ("%s: d/d%s"):format(c[1], name), 1e-4, 1e-5)
    end
  end
  return want
end

return M
