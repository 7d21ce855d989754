-- ResNet-18/34/50/101/152 as torchvision builds them (v1.5: the stride is in the 3x3
-- convolution of a bottleneck), with torchvision's state-dict keys and initialisation.
local nn = require "graft.nn"
local F = require "graft.functional"
local B = require "graft.models.blocks"

return function(models)
  local BasicBlock = nn.Module:extend "BasicBlock"
  BasicBlock.expansion = 1
  function BasicBlock:init(cin, planes, stride, downsample)
    self.conv1 = nn.Conv2d(cin, planes, 3, {stride = stride, padding = 1, bias = false})
    self.bn1 = nn.BatchNorm2d(planes)
    self.conv2 = nn.Conv2d(planes, planes, 3, {padding = 1, bias = false})
    self.bn2 = nn.BatchNorm2d(planes)
    if downsample then self.downsample = downsample end
  end
  function BasicBlock:forward(x)
    local out = F.relu(self.bn1(self.conv1(x)))
    out = self.bn2(self.conv2(out))
    local identity = self.downsample and self.downsample(x) or x
    return F.relu(out + identity)
  end

  local Bottleneck = nn.Module:extend "Bottleneck"
  Bottleneck.expansion = 4
  function Bottleneck:init(cin, planes, stride, downsample)
    self.conv1 = nn.Conv2d(cin, planes, 1, {bias = false})
    self.bn1 = nn.BatchNorm2d(planes)
    self.conv2 = nn.Conv2d(planes, planes, 3, {stride = stride, padding = 1, bias = false})
    self.bn2 = nn.BatchNorm2d(planes)
    self.conv3 = nn.Conv2d(planes, planes * 4, 1, {bias = false})
    self.bn3 = nn.BatchNorm2d(planes * 4)
    if downsample then self.downsample = downsample end
  end
  function Bottleneck:forward(x)
    local out = F.relu(self.bn1(self.conv1(x)))
    out = F.relu(self.bn2(self.conv2(out)))
    out = self.bn3(self.conv3(out))
    local identity = self.downsample and self.downsample(x) or x
    return F.relu(out + identity)
  end

  local ResNet = models.ZooModel:extend "ResNet"
  ResNet.head_path, ResNet.first_conv = "fc", "conv1.weight"
  function ResNet:init(block, layers, args)
    local inplanes = 64
    self.conv1 = nn.Conv2d(args.in_chans or 3, 64, 7, {stride = 2, padding = 3, bias = false})
    self.bn1 = nn.BatchNorm2d(64)
    self.relu = nn.ReLU()
    self.maxpool = nn.MaxPool2d(3, {stride = 2, padding = 1})
    for i, planes in ipairs {64, 128, 256, 512} do
      local stride = i == 1 and 1 or 2
      local downsample
      if stride ~= 1 or inplanes ~= planes * block.expansion then
        downsample = nn.Sequential{nn.Conv2d(inplanes, planes * block.expansion, 1, {stride = stride, bias = false}),
                                   nn.BatchNorm2d(planes * block.expansion)}
      end
      local blocks = {block(inplanes, planes, stride, downsample)}
      inplanes = planes * block.expansion
      for _ = 2, layers[i] do blocks[#blocks + 1] = block(inplanes, planes, 1) end
      self["layer" .. i] = nn.Sequential(blocks)
    end
    self.avgpool = nn.AdaptiveAvgPool2d(1)
    rawset(self, "num_features", 512 * block.expansion)
    self.fc = nn.Linear(512 * block.expansion, args.num_classes)
    self:init_weights()
  end
  --- torchvision's initialisation: kaiming-normal (fan_out, relu) convolutions, BN 1 and 0.
  function ResNet:init_weights() B.init_modules(self, B.kaiming_fan_out) end
  ResNet.reset_parameters = ResNet.init_weights
  function ResNet:forward_pooled(x)
    x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
    x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
    return self.avgpool(x):flatten(2)
  end

  for name, spec in pairs {resnet18 = {BasicBlock, {2, 2, 2, 2}}, resnet34 = {BasicBlock, {3, 4, 6, 3}},
                           resnet50 = {Bottleneck, {3, 4, 6, 3}}, resnet101 = {Bottleneck, {3, 4, 23, 3}},
                           resnet152 = {Bottleneck, {3, 8, 36, 3}}} do
    models.register(name, function(args) return ResNet(spec[1], spec[2], args) end)
  end
  models.ResNet = ResNet
end
