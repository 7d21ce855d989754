-- Xception with timm's legacy_xception keys (the paper's network, Keras's weights via
-- Cadene's port): a stem without padding, entry/middle/exit blocks of separable
-- convolutions in pre-activation order, and 299x299 inputs normalised with mean = std = 0.5.
local nn = require "graft.nn"
local F = require "graft.functional"
local B = require "graft.models.blocks"

return function(models)
  --- A depthwise 3x3 convolution (conv1) then a pointwise one (pointwise), both bias-free.
  local SeparableConv2d = nn.Module:extend "SeparableConv2d"
  function SeparableConv2d:init(cin, cout, k, stride, padding)
    self.conv1 = nn.Conv2d(cin, cin, k, {stride = stride or 1, padding = padding or 0, groups = cin, bias = false})
    self.pointwise = nn.Conv2d(cin, cout, 1, {bias = false})
  end
  function SeparableConv2d:forward(x) return self.pointwise(self.conv1(x)) end
  -- It ends in its pointwise convolution: a BatchNorm after it (nn.conv_bn, or its neighbour
  -- in a Sequential) folds into that one.
  function SeparableConv2d:forward_bn(x, bn)
    if self.forward ~= SeparableConv2d.forward then return bn(self(x)) end
    return nn.conv_bn(self.pointwise, bn, self.conv1(x))
  end

  local Block = nn.Module:extend "XceptionBlock"
  function Block:init(cin, cout, reps, stride, start_with_relu, grow_first)
    if cout ~= cin or stride ~= 1 then
      self.skip = nn.Conv2d(cin, cout, 1, {stride = stride, bias = false})
      self.skipbn = nn.BatchNorm2d(cout)
    end
    local rep = {}
    for i = 1, reps do
      local inc, outc
      if grow_first then inc, outc = i == 1 and cin or cout, cout
      else inc, outc = cin, i < reps and cin or cout end
      rep[#rep + 1] = nn.ReLU()
      rep[#rep + 1] = SeparableConv2d(inc, outc, 3, 1, 1)
      rep[#rep + 1] = nn.BatchNorm2d(outc)
    end
    if not start_with_relu then table.remove(rep, 1) end
    if stride ~= 1 then rep[#rep + 1] = nn.MaxPool2d(3, {stride = stride, padding = 1}) end
    self.rep = nn.Sequential(rep)
  end
  function Block:forward(x)
    local skip = self.skip and nn.conv_bn(self.skip, self.skipbn, x) or x
    return self.rep(x) + skip
  end

  local Xception = models.ZooModel:extend "Xception"
  Xception.head_path, Xception.first_conv = "fc", "conv1.weight"
  function Xception:init(args)
    self.conv1 = nn.Conv2d(args.in_chans or 3, 32, 3, {stride = 2, bias = false})
    self.bn1 = nn.BatchNorm2d(32)
    self.conv2 = nn.Conv2d(32, 64, 3, {bias = false})
    self.bn2 = nn.BatchNorm2d(64)
    self.block1 = Block(64, 128, 2, 2, false, true)
    self.block2 = Block(128, 256, 2, 2, true, true)
    self.block3 = Block(256, 728, 2, 2, true, true)
    for i = 4, 11 do self["block" .. i] = Block(728, 728, 3, 1, true, true) end
    self.block12 = Block(728, 1024, 2, 2, true, false)
    self.conv3 = SeparableConv2d(1024, 1536, 3, 1, 1)
    self.bn3 = nn.BatchNorm2d(1536)
    self.conv4 = SeparableConv2d(1536, 2048, 3, 1, 1)
    self.bn4 = nn.BatchNorm2d(2048)
    rawset(self, "drop_rate", args.drop_rate or 0)
    self.fc = nn.Linear(2048, args.num_classes)
    rawset(self, "num_features", 2048)
    self:init_weights()
  end
  --- timm's initialisation: kaiming-normal (fan_out, relu) convolutions, BatchNorm 1 and 0.
  function Xception:init_weights() B.init_modules(self, B.kaiming_fan_out) end
  Xception.reset_parameters = Xception.init_weights
  function Xception:forward_pooled(x)
    x = F.relu(nn.conv_bn(self.conv2, self.bn2, F.relu(nn.conv_bn(self.conv1, self.bn1, x))))
    for i = 1, 12 do x = self["block" .. i](x) end
    x = F.relu(nn.conv_bn(self.conv3, self.bn3, x))
    x = F.relu(nn.conv_bn(self.conv4, self.bn4, x))
    return F.adaptive_avg_pool2d(x, 1):flatten(2)
  end
  function Xception:forward(x)
    return self.fc(F.dropout(self:forward_pooled(x), self.drop_rate, self.training))
  end
  models.register("xception", function(args) return Xception(args) end,
                  {input_size = {3, 299, 299}, mean = {0.5, 0.5, 0.5}, std = {0.5, 0.5, 0.5},
                   interpolation = "bicubic", crop_pct = 0.8975}, {options = {drop_rate = "number"}})
end
