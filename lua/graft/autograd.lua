-- The autograd tape: differentiable ops record a node on their output while grad mode is on
-- and some input requires grad; backward() walks the nodes from a result to the leaves.
-- The ops and their gradient formulas live in graft/grad_ops.lua (tensor methods) and
-- graft/functional.lua (graft.F).
local core = require "graft.core"

local A = {}
local enabled = true      -- grad mode, per lua_State (each state loads its own copy)

function A.is_enabled() return enabled end

--- Sets grad mode; returns the previous one.
function A.set_enabled(on)
  local old = enabled
  enabled = not not on
  return old
end

-- Runs fn(...) with grad mode set to `on`, restoring the previous mode even on error.
local function with_mode(on, fn, ...)
  local old = enabled
  enabled = on
  local res = table.pack(pcall(fn, ...))
  enabled = old
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

function A.no_grad(fn, ...) return with_mode(false, fn, ...) end
function A.enable_grad(fn, ...) return with_mode(true, fn, ...) end

--- True when x is a tensor whose gradient is wanted.
local function wants(x)
  return type(x) == "userdata" and x.requires_grad == true
end
A.wants = wants

--- True when an op on these inputs must be recorded.
function A.should_record(a, b, c)
  return enabled and (wants(a) or wants(b) or wants(c))
end

--- Records `out = op(inputs)` on the tape. inputs: array of the op's tensor arguments (other
-- arguments may stand in between as nil/numbers); backward(ctx, g, needs) returns one
-- gradient per input (nil where not needed); ctx holds what backward needs.
function A.record(out, name, backward, inputs, ctx, n)
  n = n or #inputs
  -- The node links to the nodes of its inputs and keeps only the leaves among them (whose
  -- .grad it fills): an intermediate input stays alive only if ctx saved it for backward.
  local needs, nodes, leaves = {}, {}, {}
  for i = 1, n do
    local x = inputs[i]
    needs[i] = wants(x)
    nodes[i] = needs[i] and x.grad_fn or false
    if needs[i] and not nodes[i] then leaves[i] = x end
  end
  out.grad_fn = {name = name, backward = backward, leaves = leaves, n = n, needs = needs,
                 nodes = nodes, ctx = ctx}
  out.requires_grad = true
  return out
end

local function accumulate(leaf, g)
  local cur = leaf.grad
  if cur == nil then
    leaf.grad = g:clone()            -- its own storage: gradients are updated in place later
  else
    cur:add_(g)
  end
end

local function shape_text(t) return "{" .. table.concat(t:shape(), ",") .. "}" end

local function freed_error(node)
  error(("backward: the graph through '%s' has been freed; call backward once per forward pass, "
         .. "or pass {retain_graph = true}"):format(node.name), 0)
end

--- backward(root [, grad] [, {retain_graph}]): gradients of root with respect to every leaf
-- that requires grad, added into their .grad.
local function run_backward(root, grad, opts)
  if not wants(root) then
    error("backward: the tensor does not require grad (no input of it has requires_grad set)", 0)
  end
  if grad == nil then
    if root:numel() ~= 1 then
      error("backward: an implicit gradient needs a one-element result, not " .. shape_text(root), 0)
    end
    grad = core.ones(root:shape())
  elseif not grad.shape or shape_text(grad) ~= shape_text(root) then
    error("backward: the gradient must have the result's shape " .. shape_text(root), 0)
  end
  local start = root.grad_fn
  if not start then accumulate(root, grad) return end
  local retain = opts and opts.retain_graph

  -- Count, for every node reachable from the root, how many recorded uses it has: a node
  -- runs once all of them have sent their gradient (Kahn's order over the DAG).
  local pending, stack = {[start] = 0}, {start}
  while #stack > 0 do
    local node = table.remove(stack)
    if node.freed then freed_error(node) end
    for i = 1, node.n do
      local child = node.nodes[i]
      if child then
        if pending[child] == nil then
          pending[child] = 0
          stack[#stack + 1] = child
        end
        pending[child] = pending[child] + 1
      end
    end
  end

  local grads, ready = {[start] = grad}, {start}
  while #ready > 0 do
    local node = table.remove(ready)
    local g = grads[node]
    grads[node] = nil
    local gin = g and table.pack(node.backward(node.ctx, g, node.needs)) or {}
    for i = 1, node.n do
      if node.needs[i] then
        local gi, child = gin[i], node.nodes[i]
        if child then
          if gi ~= nil then grads[child] = grads[child] and grads[child] + gi or gi end
          pending[child] = pending[child] - 1
          if pending[child] == 0 then ready[#ready + 1] = child end
        elseif gi ~= nil then
          accumulate(node.leaves[i], gi)
        end
      end
    end
    if not retain then   -- free what the node saved and its links: activations can go
      node.ctx, node.leaves, node.nodes, node.freed = nil, nil, nil, true
    end
  end
end

function A.backward(root, grad, opts)
  if type(grad) == "table" and not grad.shape then grad, opts = nil, grad end
  require("graft.options").check("backward", opts, {retain_graph = "boolean"})
  return with_mode(false, run_backward, root, grad, opts)
end

return A
