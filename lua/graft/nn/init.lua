--- graft.nn: Module, the built-in layers, containers and losses.
-- @module graft.nn
local nn = {Module = require "graft.nn.module"}
for _, part in ipairs {"graft.nn.layers", "graft.nn.containers", "graft.nn.losses"} do
  for k, v in pairs(require(part)) do nn[k] = v end
end
nn.init = require "graft.nn.initializers"
return nn
