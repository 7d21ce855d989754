-- MobileNet-v2 and MobileNet-v3 (small, large) as torchvision builds them: inverted residual
-- blocks with depthwise convolutions; v3 adds squeeze-excitation, hardswish, and BatchNorm
-- with eps 0.001, momentum 0.01.
local nn = require "graft.nn"
local B = require "graft.models.blocks"

return function(models)
  -- v2 ---------------------------------------------------------------------------------------
  local InvertedResidual = nn.Module:extend "InvertedResidual"
  function InvertedResidual:init(cin, cout, stride, expand)
    local hidden = math.floor(cin * expand + 0.5)
    rawset(self, "use_res_connect", stride == 1 and cin == cout)
    local layers = {}
    if expand ~= 1 then layers[#layers + 1] = B.conv_norm_act(cin, hidden, {kernel = 1, activation = nn.ReLU6}) end
    layers[#layers + 1] = B.conv_norm_act(hidden, hidden, {stride = stride, groups = hidden, activation = nn.ReLU6})
    layers[#layers + 1] = nn.Conv2d(hidden, cout, 1, {bias = false})
    layers[#layers + 1] = nn.BatchNorm2d(cout)
    self.conv = nn.Sequential(layers)
  end
  function InvertedResidual:forward(x)
    if self.use_res_connect then return x + self.conv(x) end
    return self.conv(x)
  end

  local MobileNetV2 = models.ZooModel:extend "MobileNetV2"
  MobileNetV2.head_path, MobileNetV2.first_conv = "classifier.1", "features.0.0.weight"
  function MobileNetV2:init(args)
    local width = args.width_mult or 1.0
    local cin = B.make_divisible(32 * width, 8)
    local last = B.make_divisible(1280 * math.max(1.0, width), 8)
    local layers = {B.conv_norm_act(args.in_chans or 3, cin, {stride = 2, activation = nn.ReLU6})}
    for _, s in ipairs {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}} do
      local cout = B.make_divisible(s[2] * width, 8)
      for i = 1, s[3] do
        layers[#layers + 1] = InvertedResidual(cin, cout, i == 1 and s[4] or 1, s[1])
        cin = cout
      end
    end
    layers[#layers + 1] = B.conv_norm_act(cin, last, {kernel = 1, activation = nn.ReLU6})
    self.features = nn.Sequential(layers)
    self.classifier = nn.Sequential{nn.Dropout(args.dropout or 0.2), nn.Linear(last, args.num_classes)}
    rawset(self, "num_features", last)
    B.init_weights(self)
  end
  MobileNetV2.reset_parameters = B.init_weights
  function MobileNetV2:forward_pooled(x)
    return require("graft.functional").adaptive_avg_pool2d(self:get("features")(x), 1):flatten(2)
  end
  models.register("mobilenet_v2", function(args) return MobileNetV2(args) end, nil,
                  {options = {width_mult = "number", dropout = "number"}})

  -- v3 ---------------------------------------------------------------------------------------
  local BN3 = {eps = 0.001, momentum = 0.01}
  local BlockV3 = nn.Module:extend "InvertedResidualV3"
  -- c = {cin, kernel, expanded, cout, use_se, activation ("RE" | "HS"), stride, dilation}
  function BlockV3:init(c)
    local cin, k, exp, cout, se, act, stride, dil = table.unpack(c)
    local activation = act == "HS" and nn.Hardswish or nn.ReLU
    rawset(self, "use_res_connect", stride == 1 and cin == cout)
    local layers = {}
    if exp ~= cin then layers[#layers + 1] = B.conv_norm_act(cin, exp, {kernel = 1, activation = activation, bn = BN3}) end
    layers[#layers + 1] = B.conv_norm_act(exp, exp, {kernel = k, stride = dil > 1 and 1 or stride, dilation = dil,
                                                     groups = exp, activation = activation, bn = BN3})
    if se then layers[#layers + 1] = B.SqueezeExcitation(exp, B.make_divisible(exp // 4, 8), nn.ReLU, nn.Hardsigmoid) end
    layers[#layers + 1] = B.conv_norm_act(exp, cout, {kernel = 1, activation = false, bn = BN3})
    self.block = nn.Sequential(layers)
  end
  function BlockV3:forward(x)
    local y = self.block(x)
    if self.use_res_connect then return y + x end
    return y
  end

  local configs = {
    mobilenet_v3_large = {{
      {16, 3, 16, 16, false, "RE", 1, 1}, {16, 3, 64, 24, false, "RE", 2, 1}, {24, 3, 72, 24, false, "RE", 1, 1},
      {24, 5, 72, 40, true, "RE", 2, 1}, {40, 5, 120, 40, true, "RE", 1, 1}, {40, 5, 120, 40, true, "RE", 1, 1},
      {40, 3, 240, 80, false, "HS", 2, 1}, {80, 3, 200, 80, false, "HS", 1, 1}, {80, 3, 184, 80, false, "HS", 1, 1},
      {80, 3, 184, 80, false, "HS", 1, 1}, {80, 3, 480, 112, true, "HS", 1, 1}, {112, 3, 672, 112, true, "HS", 1, 1},
      {112, 5, 672, 160, true, "HS", 2, 1}, {160, 5, 960, 160, true, "HS", 1, 1}, {160, 5, 960, 160, true, "HS", 1, 1},
    }, 1280},
    mobilenet_v3_small = {{
      {16, 3, 16, 16, true, "RE", 2, 1}, {16, 3, 72, 24, false, "RE", 2, 1}, {24, 3, 88, 24, false, "RE", 1, 1},
      {24, 5, 96, 40, true, "HS", 2, 1}, {40, 5, 240, 40, true, "HS", 1, 1}, {40, 5, 240, 40, true, "HS", 1, 1},
      {40, 5, 120, 48, true, "HS", 1, 1}, {48, 5, 144, 48, true, "HS", 1, 1}, {48, 5, 288, 96, true, "HS", 2, 1},
      {96, 5, 576, 96, true, "HS", 1, 1}, {96, 5, 576, 96, true, "HS", 1, 1},
    }, 1024},
  }

  local MobileNetV3 = models.ZooModel:extend "MobileNetV3"
  MobileNetV3.head_path, MobileNetV3.first_conv = "classifier.3", "features.0.0.weight"
  function MobileNetV3:init(setting, last_channel, args)
    local layers = {B.conv_norm_act(args.in_chans or 3, setting[1][1], {stride = 2, activation = nn.Hardswish, bn = BN3})}
    for _, c in ipairs(setting) do layers[#layers + 1] = BlockV3(c) end
    local lastconv_in = setting[#setting][4]
    layers[#layers + 1] = B.conv_norm_act(lastconv_in, 6 * lastconv_in, {kernel = 1, activation = nn.Hardswish, bn = BN3})
    self.features = nn.Sequential(layers)
    self.avgpool = nn.AdaptiveAvgPool2d(1)
    self.classifier = nn.Sequential{nn.Linear(6 * lastconv_in, last_channel), nn.Hardswish(), nn.Dropout(args.dropout or 0.2),
                                    nn.Linear(last_channel, args.num_classes)}
    rawset(self, "num_features", last_channel)
    B.init_weights(self)
  end
  MobileNetV3.reset_parameters = B.init_weights
  function MobileNetV3:forward_pooled(x)
    x = self.avgpool(self:get("features")(x)):flatten(2)
    for i = 1, 3 do x = self.classifier:at(i)(x) end
    return x
  end
  for name, c in pairs(configs) do
    models.register(name, function(args) return MobileNetV3(c[1], c[2], args) end, nil, {options = {dropout = "number"}})
  end
end
