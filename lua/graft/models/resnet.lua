-- ResNet-18/34/50/101/152 as torchvision builds them (v1.5: the stride is in the 3x3
-- convolution of a bottleneck), with torchvision's state-dict keys and initialisation; and
-- the CIFAR-style ResNet-20/32/44/56 of He et al. 2016 (Section 4.2) for small images.
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
    local out = F.relu(nn.conv_bn(self.conv1, self.bn1, x))
    out = nn.conv_bn(self.conv2, self.bn2, out)
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
    local out = F.relu(nn.conv_bn(self.conv1, self.bn1, x))
    out = F.relu(nn.conv_bn(self.conv2, self.bn2, out))
    out = nn.conv_bn(self.conv3, self.bn3, out)
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
    x = self.maxpool(self.relu(nn.conv_bn(self.conv1, self.bn1, x)))
    x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
    return self.avgpool(x):flatten(2)
  end

  for name, spec in pairs {resnet18 = {BasicBlock, {2, 2, 2, 2}}, resnet34 = {BasicBlock, {3, 4, 6, 3}},
                           resnet50 = {Bottleneck, {3, 4, 6, 3}}, resnet101 = {Bottleneck, {3, 4, 23, 3}},
                           resnet152 = {Bottleneck, {3, 8, 36, 3}}} do
    models.register(name, function(args) return ResNet(spec[1], spec[2], args) end)
  end
  models.ResNet = ResNet

  -- He et al.'s networks for 32x32 images: a 3x3 stem of 16 channels, three stages of n
  -- basic blocks at 16, 32 and 64 channels (6n + 2 layers), global pooling, the classifier.
  -- Shortcuts that change shape are 1x1 projections (the paper's option B), named as
  -- torchvision names them (downsample.0/1).
  local CifarResNet = models.ZooModel:extend "CifarResNet"
  CifarResNet.head_path, CifarResNet.first_conv = "fc", "conv1.weight"
  function CifarResNet:init(depth, args)
    local n = (depth - 2) // 6
    self.conv1 = nn.Conv2d(args.in_chans or 3, 16, 3, {padding = 1, bias = false})
    self.bn1 = nn.BatchNorm2d(16)
    local inplanes = 16
    for i, planes in ipairs {16, 32, 64} do
      local stride = i == 1 and 1 or 2
      local downsample
      if stride ~= 1 or inplanes ~= planes then
        downsample = nn.Sequential{nn.Conv2d(inplanes, planes, 1, {stride = stride, bias = false}), nn.BatchNorm2d(planes)}
      end
      local blocks = {BasicBlock(inplanes, planes, stride, downsample)}
      inplanes = planes
      for _ = 2, n do blocks[#blocks + 1] = BasicBlock(planes, planes, 1) end
      self["layer" .. i] = nn.Sequential(blocks)
    end
    self.avgpool = nn.AdaptiveAvgPool2d(1)
    rawset(self, "num_features", 64)
    self.fc = nn.Linear(64, args.num_classes)
    B.init_modules(self, B.kaiming_fan_out)
  end
  CifarResNet.reset_parameters = function(self) B.init_modules(self, B.kaiming_fan_out) end
  function CifarResNet:forward_pooled(x)
    x = F.relu(nn.conv_bn(self.conv1, self.bn1, x))
    x = self.layer3(self.layer2(self.layer1(x)))
    return self.avgpool(x):flatten(2)
  end
  local CIFAR = {input_size = {3, 32, 32}, mean = {0.4914, 0.4822, 0.4465}, std = {0.2470, 0.2435, 0.2616},
                 interpolation = "bilinear", crop_pct = 1}
  for _, depth in ipairs {20, 32, 44, 56} do
    models.register(("resnet%d_cifar"):format(depth), function(args) return CifarResNet(depth, args) end, CIFAR)
  end
  models.CifarResNet = CifarResNet
end
