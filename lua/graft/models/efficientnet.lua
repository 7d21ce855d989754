-- EfficientNet-b0..b7 as torchvision builds them: MBConv blocks (depthwise convolution,
-- squeeze-excitation, SiLU) scaled in width and depth, with stochastic depth on the residual
-- branches in training. b5-b7 use BatchNorm eps 0.001, momentum 0.01, as torchvision.
local core = require "graft.core"
local nn = require "graft.nn"
local B = require "graft.models.blocks"

return function(models)
  --- StochasticDepth(p): in training, drops the whole input of a sample with probability p
  -- and scales the kept ones by 1/(1-p) ("row" mode); the identity in eval.
  local StochasticDepth = nn.Module:extend "StochasticDepth"
  function StochasticDepth:init(p) rawset(self, "p", p) end
  function StochasticDepth:forward(x)
    if not self.training or self.p == 0 then return x end
    local survival = 1 - self.p
    local shape = {x:size(1)}
    for i = 2, x:dim() do shape[i] = 1 end
    return x * (core.rand(shape):lt(survival) * (1 / survival))
  end
  function StochasticDepth:reset_parameters() end
  models.StochasticDepth = StochasticDepth

  local MBConv = nn.Module:extend "MBConv"
  -- c = {expand, kernel, stride, cin, cout}
  function MBConv:init(c, sd_prob, bn)
    local expand, k, stride, cin, cout = table.unpack(c)
    rawset(self, "use_res_connect", stride == 1 and cin == cout)
    local expanded = B.make_divisible(cin * expand, 8)
    local layers = {}
    if expanded ~= cin then layers[#layers + 1] = B.conv_norm_act(cin, expanded, {kernel = 1, activation = nn.SiLU, bn = bn}) end
    layers[#layers + 1] = B.conv_norm_act(expanded, expanded, {kernel = k, stride = stride, groups = expanded,
                                                               activation = nn.SiLU, bn = bn})
    layers[#layers + 1] = B.SqueezeExcitation(expanded, math.max(1, cin // 4), nn.SiLU, nn.Sigmoid)
    layers[#layers + 1] = B.conv_norm_act(expanded, cout, {kernel = 1, activation = false, bn = bn})
    self.block = nn.Sequential(layers)
    self.stochastic_depth = StochasticDepth(sd_prob)
  end
  function MBConv:forward(x)
    local y = self.block(x)
    if self.use_res_connect then return self.stochastic_depth(y) + x end
    return y
  end

  local EfficientNet = models.ZooModel:extend "EfficientNet"
  EfficientNet.head_path, EfficientNet.first_conv = "classifier.1", "features.0.0.weight"
  function EfficientNet:init(width, depth, dropout, bn, args)
    local base = {{1, 3, 1, 32, 16, 1}, {6, 3, 2, 16, 24, 2}, {6, 5, 2, 24, 40, 2}, {6, 3, 2, 40, 80, 3},
                  {6, 5, 1, 80, 112, 3}, {6, 5, 2, 112, 192, 4}, {6, 3, 1, 192, 320, 1}}
    local stages, total = {}, 0
    for i, s in ipairs(base) do
      stages[i] = {s[1], s[2], s[3], B.make_divisible(s[4] * width, 8), B.make_divisible(s[5] * width, 8),
                   math.ceil(s[6] * depth)}
      total = total + stages[i][6]
    end
    local sd = args.stochastic_depth_prob or 0.2
    local layers = {B.conv_norm_act(args.in_chans or 3, stages[1][4], {stride = 2, activation = nn.SiLU, bn = bn})}
    local id = 0
    for _, s in ipairs(stages) do
      local blocks = {}
      for j = 1, s[6] do
        local cin, stride = j == 1 and s[4] or s[5], j == 1 and s[3] or 1
        blocks[j] = MBConv({s[1], s[2], stride, cin, s[5]}, sd * id / total, bn)
        id = id + 1
      end
      layers[#layers + 1] = nn.Sequential(blocks)
    end
    local last_in = stages[#stages][5]
    layers[#layers + 1] = B.conv_norm_act(last_in, 4 * last_in, {kernel = 1, activation = nn.SiLU, bn = bn})
    self.features = nn.Sequential(layers)
    self.avgpool = nn.AdaptiveAvgPool2d(1)
    self.classifier = nn.Sequential{nn.Dropout(args.dropout or dropout), nn.Linear(4 * last_in, args.num_classes)}
    rawset(self, "num_features", 4 * last_in)
    self:init_weights()
  end
  --- torchvision's initialisation; linear layers are U(-1/sqrt(out), 1/sqrt(out)).
  function EfficientNet:init_weights()
    B.init_modules(self, B.kaiming_fan_out, function(mod)
      local r = 1 / math.sqrt(mod.out_features)
      nn.init.uniform_(mod.weight, -r, r)
      nn.init.zeros_(mod.bias)
    end)
  end
  EfficientNet.reset_parameters = EfficientNet.init_weights
  function EfficientNet:forward_pooled(x) return self.avgpool(self:get("features")(x)):flatten(2) end

  local BN_B5 = {eps = 0.001, momentum = 0.01}
  -- name = {width, depth, dropout, crop, resize, batch norm}
  for name, v in pairs {
    efficientnet_b0 = {1.0, 1.0, 0.2, 224, 256}, efficientnet_b1 = {1.0, 1.1, 0.2, 240, 256},
    efficientnet_b2 = {1.1, 1.2, 0.3, 288, 288}, efficientnet_b3 = {1.2, 1.4, 0.3, 300, 320},
    efficientnet_b4 = {1.4, 1.8, 0.4, 380, 384}, efficientnet_b5 = {1.6, 2.2, 0.4, 456, 456, BN_B5},
    efficientnet_b6 = {1.8, 2.6, 0.5, 528, 528, BN_B5}, efficientnet_b7 = {2.0, 3.1, 0.5, 600, 600, BN_B5},
  } do
    models.register(name, function(args) return EfficientNet(v[1], v[2], v[3], v[6], args) end,
                    {input_size = {3, v[4], v[4]}, interpolation = "bicubic", crop_pct = v[4] / v[5]},
                    {options = {dropout = "number", stochastic_depth_prob = "number"}})
  end
end
