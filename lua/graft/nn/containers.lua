--- Containers: Sequential (children "1".. in Lua, keyed "0", "1", ... in state dicts as in
-- PyTorch) and ModuleList.
-- @module graft.nn
local Module = require "graft.nn.module"
local conv_bn = require("graft.nn.layers").conv_bn

local C = {}

-- Sequential{m1, m2, ...} (or Sequential(m1, m2, ...), as PyTorch writes it): forward runs
-- them in order. Children are registered under the names "0", "1", ..., so that state-dict
-- keys are PyTorch's (`features.0.weight`).
local Sequential = Module:extend "nn.Sequential"
--- Modules applied in order: `nn.Sequential{m1, m2, ...}` (or the modules as arguments).
-- Children are keyed "0", "1", ... in state dicts, as in PyTorch; `seq:at(i)` is the i-th
-- (1-based) and `#seq` the count.
-- @tparam {Module,...} modules
-- @function Sequential
function Sequential:init(list, ...)
  if Module.is_module(list) then list = {list, ...} end
  for i, m in ipairs(list or {}) do self:add(m, i) end
end
--- add(m [, i]): appends m (or inserts it at 1-based position i).
function Sequential:add(m, i)
  local n = #self:named_children()
  if not Module.is_module(m) then error(("%s: element %d is not a module"):format(self.__name, i or n + 1), 3) end
  self[tostring(i and i - 1 or n)] = m
  return self
end
function Sequential:__len() return #self:named_children() end
-- A child followed by a BatchNorm is run as nn.conv_bn(child, bn, x) when the child offers
-- forward_bn (a Conv2d, or a module ending in one): here the data flow is known, the
-- BatchNorm reads exactly the child's output and nothing else does, so inference folds it.
function Sequential:forward(x)
  local kids = self:named_children()
  local i = 1
  while i <= #kids do
    local m, nxt = kids[i][2], kids[i + 1] and kids[i + 1][2]
    if nxt and rawget(nxt, "_is_batch_norm") and m.forward_bn then
      x = conv_bn(m, nxt, x)
      i = i + 2
    else
      x = m(x)
      i = i + 1
    end
  end
  return x
end
--- at(i): the i-th module (1-based).
function Sequential:at(i) return self:get(tostring(i - 1)) end
C.Sequential = Sequential

-- ModuleList{...}: a list of modules, registered "0", "1", ...; no forward of its own.
local ModuleList = Module:extend "nn.ModuleList"
ModuleList.init = Sequential.init
ModuleList.add = Sequential.add
ModuleList.at = Sequential.at
function ModuleList:forward() error("nn.ModuleList has no forward: call its modules", 2) end
--- Modules held in a list, without a forward of their own (keys as Sequential's).
-- @tparam {Module,...} modules
-- @function ModuleList
C.ModuleList = ModuleList

return C
