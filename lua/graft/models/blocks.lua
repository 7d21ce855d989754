-- Building blocks shared by the zoo's families, as torchvision defines them:
-- Conv2dNormActivation, SqueezeExcitation, _make_divisible and the common initialisation.
local nn = require "graft.nn"

local B = {}

--- make_divisible(v, divisor): v rounded to a multiple of divisor, never 10% below v.
function B.make_divisible(v, divisor, min_value)
  min_value = min_value or divisor
  local new = math.max(min_value, math.floor(v + divisor / 2) // divisor * divisor)
  if new < 0.9 * v then new = new + divisor end
  return math.floor(new)
end

--- conv_norm_act(cin, cout, {kernel, stride, groups, dilation, activation, bn}): a Sequential of
-- a bias-free convolution padded to keep the size (at stride 1), BatchNorm and an optional
-- activation module: keys "0.weight", "1.weight", ... as torchvision's Conv2dNormActivation.
function B.conv_norm_act(cin, cout, o)
  o = o or {}
  local k, d = o.kernel or 3, o.dilation or 1
  local layers = {nn.Conv2d(cin, cout, k, {stride = o.stride or 1, padding = (k - 1) // 2 * d, dilation = d,
                                           groups = o.groups or 1, bias = false}),
                  nn.BatchNorm2d(cout, o.bn)}
  if o.activation ~= false then layers[3] = (o.activation or nn.ReLU)() end
  return nn.Sequential(layers)
end

--- SqueezeExcitation(channels, squeeze [, activation, scale_activation]): x scaled by a gate
-- computed from its global average (fc1, fc2 are 1x1 convolutions, as torchvision's).
local SE = nn.Module:extend "SqueezeExcitation"
function SE:init(c, squeeze, activation, scale_activation)
  self.avgpool = nn.AdaptiveAvgPool2d(1)
  self.fc1 = nn.Conv2d(c, squeeze, 1)
  self.fc2 = nn.Conv2d(squeeze, c, 1)
  self.activation = (activation or nn.ReLU)()
  self.scale_activation = (scale_activation or nn.Sigmoid)()
end
function SE:forward(x)
  local s = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
  return x * s
end
B.SqueezeExcitation = SE

--- init_modules(model, conv_init, linear_init): every BatchNorm to 1 and 0, every convolution
-- and linear layer by the given function (nil: the layer's own default). Each family's
-- init_weights is one call of this.
function B.init_modules(model, conv_init, linear_init)
  for _, m in ipairs(model:named_modules()) do
    local mod = m[2]
    if mod.__name == "nn.Conv2d" then (conv_init or mod.reset_parameters)(mod)
    elseif rawget(mod, "_is_batch_norm") then mod:reset_parameters()
    elseif mod.__name == "nn.Linear" then (linear_init or mod.reset_parameters)(mod) end
  end
end

local function zero_bias(mod) if mod.bias then nn.init.zeros_(mod.bias) end end

--- Kaiming-normal (fan_out, relu gain) weights and zero biases: torchvision's convolutions.
function B.kaiming_fan_out(mod)
  nn.init.kaiming_normal_(mod.weight, {mode = "fan_out", nonlinearity = "relu"})
  zero_bias(mod)
end

--- N(0, 0.01) weights and zero biases: torchvision's linear layers in VGG and MobileNet.
function B.normal_001(mod)
  nn.init.normal_(mod.weight, 0, 0.01)
  zero_bias(mod)
end

--- Truncated normal weights (std: the layer's own `stddev` field, else `std`), zero biases:
-- GoogLeNet's and Inception-v3's initialisation.
function B.trunc_normal(std)
  return function(mod)
    nn.init.trunc_normal_(mod.weight, 0, rawget(mod, "stddev") or std, -2, 2)
    zero_bias(mod)
  end
end

--- torchvision's initialisation for its mobile and VGG families.
function B.init_weights(model) B.init_modules(model, B.kaiming_fan_out, B.normal_001) end

return B
