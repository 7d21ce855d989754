-- graft.F: the neural-network ops, each a C kernel pair (forward, gradient) recorded on the
-- autograd tape. PyTorch's argument order and option names; sizes are a number or {h, w}.
local core = require "graft.core"
local A = require "graft.autograd"

local F = {}
local K = core.nn

--- conv2d(x, w [, b] [, {stride, padding, dilation, groups}])
function F.conv2d(x, w, b, opts)
  if opts == nil and type(b) == "table" then b, opts = nil, b end   -- F.conv2d(x, w, opts)
  local y = K.conv2d(x, w, b, opts)
  if A.should_record(x, w, b) then
    A.record(y, "conv2d", function(c, g, needs)
      return K.conv2d_grad(g, c.x, c.w, c.opts, needs[1], needs[2], needs[3])
    end, {x, w, b}, {x = x, w = w, opts = opts}, 3)
  end
  return y
end

return F
