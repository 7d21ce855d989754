--- nn.init: in-place initialisers with torch.nn.init's names and formulas (run under no_grad).
-- @module graft.nn.init
-- @alias I
local core = require "graft.core"
local A = require "graft.autograd"

local T = core.Tensor
local I = {}

local function fans(t)
  local s = T.shape(t)
  local receptive = 1
  for i = 3, #s do receptive = receptive * s[i] end
  return (s[2] or 1) * receptive, s[1] * receptive
end

local function gain(nonlinearity, a)
  if nonlinearity == "relu" then return math.sqrt(2) end
  if nonlinearity == "leaky_relu" then return math.sqrt(2 / (1 + (a or 0.01) ^ 2)) end
  if nonlinearity == "tanh" then return 5 / 3 end
  return 1
end

--- uniform_(t [, a = 0 [, b = 1]]): in place, as torch.nn.init's; also `normal_` (t [, mean = 0
-- [, std = 1]]), `constant_` (t, v), `zeros_` (t) and `ones_` (t).
function I.uniform_(t, a, b) return A.no_grad(T.uniform_, t, a or 0, b or 1) end
function I.normal_(t, mean, std) return A.no_grad(T.normal_, t, mean or 0, std or 1) end
function I.constant_(t, v) A.no_grad(function() T.fill_(t, v) end) return t end
function I.zeros_(t) return I.constant_(t, 0) end
function I.ones_(t) return I.constant_(t, 1) end

--- kaiming_normal_(t [, {mode = "fan_in" | "fan_out", nonlinearity = "leaky_relu", a = 0}])
function I.kaiming_normal_(t, o)
  o = o or {}
  local fan_in, fan_out = fans(t)
  local std = gain(o.nonlinearity or "leaky_relu", o.a or 0) / math.sqrt(o.mode == "fan_out" and fan_out or fan_in)
  return I.normal_(t, 0, std)
end

--- kaiming_uniform_(t [, {mode, nonlinearity, a}])
function I.kaiming_uniform_(t, o)
  o = o or {}
  local fan_in, fan_out = fans(t)
  local bound = math.sqrt(3) * gain(o.nonlinearity or "leaky_relu", o.a or 0) / math.sqrt(o.mode == "fan_out" and fan_out or fan_in)
  return I.uniform_(t, -bound, bound)
end

--- xavier_uniform_(t [, gain])
function I.xavier_uniform_(t, g)
  local fan_in, fan_out = fans(t)
  local bound = (g or 1) * math.sqrt(6 / (fan_in + fan_out))
  return I.uniform_(t, -bound, bound)
end

--- trunc_normal_(t, mean, std, a, b): normal values, those outside [a, b] redrawn until none is.
function I.trunc_normal_(t, mean, std, a, b)
  mean, std, a, b = mean or 0, std or 1, a or -2, b or 2
  return A.no_grad(function()
    local v = core.randn(T.shape(t)) * std + mean
    for _ = 1, 100 do
      local out = T.maximum(T.lt(v, a), T.gt(v, b))
      if T.max(out):item() == 0 then break end
      v = core.where(out, core.randn(T.shape(t)) * std + mean, v)
    end
    T.copy_(t, T.clamp(v, a, b))   -- after 100 rounds nothing is left outside; clamp is a guard
    return t
  end)
end

return I
