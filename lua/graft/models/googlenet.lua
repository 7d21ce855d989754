-- GoogLeNet (Inception v1) as torchvision builds it: BasicConv2d blocks (BatchNorm eps
-- 0.001), ceil-mode pooling, optional auxiliary heads (aux1, aux2) that run in training, and
-- transform_input, which pretrained weights expect on.
local core = require "graft.core"
local nn = require "graft.nn"
local F = require "graft.functional"
local B = require "graft.models.blocks"

return function(models)
  local BasicConv2d = nn.Module:extend "BasicConv2d"
  function BasicConv2d:init(cin, cout, k, opts)
    local o = {bias = false}
    for key, v in pairs(opts or {}) do o[key] = v end
    self.conv = nn.Conv2d(cin, cout, k, o)
    self.bn = nn.BatchNorm2d(cout, {eps = 0.001})
  end
  function BasicConv2d:forward(x) return F.relu(nn.conv_bn(self.conv, self.bn, x)) end
  models.BasicConv2d = BasicConv2d

  local Inception = nn.Module:extend "Inception"
  function Inception:init(cin, c1, c3r, c3, c5r, c5, pool)
    self.branch1 = BasicConv2d(cin, c1, 1)
    self.branch2 = nn.Sequential{BasicConv2d(cin, c3r, 1), BasicConv2d(c3r, c3, 3, {padding = 1})}
    self.branch3 = nn.Sequential{BasicConv2d(cin, c5r, 1), BasicConv2d(c5r, c5, 3, {padding = 1})}
    self.branch4 = nn.Sequential{nn.MaxPool2d(3, {stride = 1, padding = 1, ceil_mode = true}), BasicConv2d(cin, pool, 1)}
  end
  function Inception:forward(x)
    return F.cat({self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)}, 2)
  end

  local InceptionAux = nn.Module:extend "InceptionAux"
  function InceptionAux:init(cin, num_classes, dropout)
    self.conv = BasicConv2d(cin, 128, 1)
    self.fc1 = nn.Linear(2048, 1024)
    self.fc2 = nn.Linear(1024, num_classes)
    self.dropout = nn.Dropout(dropout)
  end
  function InceptionAux:forward(x)
    x = self.conv(F.adaptive_avg_pool2d(x, 4)):flatten(2)
    return self.fc2(self.dropout(F.relu(self.fc1(x))))
  end

  --- transform_input: images normalised with ImageNet's mean and std, re-normalised as the
  -- original weights expect ((x - 0.5) / 0.5), as torchvision does.
  local function transform(x)
    local mean, std = {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}
    local parts = {}
    for c = 1, 3 do parts[c] = x:narrow(2, c, 1) * (std[c] / 0.5) + (mean[c] - 0.5) / 0.5 end
    return F.cat(parts, 2)
  end
  models.transform_input = transform

  local GoogLeNet = models.ZooModel:extend "GoogLeNet"
  GoogLeNet.head_path, GoogLeNet.first_conv = "fc", "conv1.conv.weight"
  GoogLeNet.aux_prefixes = {"aux1.", "aux2."}
  function GoogLeNet:init(args)
    rawset(self, "aux_logits", args.aux_logits ~= false)
    rawset(self, "transform_input", args.transform_input or false)
    self.conv1 = BasicConv2d(args.in_chans or 3, 64, 7, {stride = 2, padding = 3})
    self.maxpool1 = nn.MaxPool2d(3, {stride = 2, ceil_mode = true})
    self.conv2 = BasicConv2d(64, 64, 1)
    self.conv3 = BasicConv2d(64, 192, 3, {padding = 1})
    self.maxpool2 = nn.MaxPool2d(3, {stride = 2, ceil_mode = true})
    self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
    self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
    self.maxpool3 = nn.MaxPool2d(3, {stride = 2, ceil_mode = true})
    self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
    self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
    self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
    self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
    self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
    self.maxpool4 = nn.MaxPool2d(2, {stride = 2, ceil_mode = true})
    self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
    self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
    if self.aux_logits then
      self.aux1 = InceptionAux(512, args.num_classes, args.dropout_aux or 0.7)
      self.aux2 = InceptionAux(528, args.num_classes, args.dropout_aux or 0.7)
    end
    self.avgpool = nn.AdaptiveAvgPool2d(1)
    self.dropout = nn.Dropout(args.dropout or 0.2)
    self.fc = nn.Linear(1024, args.num_classes)
    rawset(self, "num_features", 1024)
    self:init_weights()
  end
  --- torchvision's initialisation: truncated N(0, 0.01) convolutions and linear layers.
  function GoogLeNet:init_weights() B.init_modules(self, B.trunc_normal(0.01), B.trunc_normal(0.01)) end
  GoogLeNet.reset_parameters = GoogLeNet.init_weights
  -- The trunk; with aux heads in training, also their outputs.
  local function trunk(self, x)
    if self.transform_input then x = transform(x) end
    x = self.maxpool1(self.conv1(x))
    x = self.maxpool2(self.conv3(self.conv2(x)))
    x = self.maxpool3(self.inception3b(self.inception3a(x)))
    x = self.inception4a(x)
    local aux = self.aux_logits and self.training
    local aux1 = aux and self.aux1(x) or nil
    x = self.inception4d(self.inception4c(self.inception4b(x)))
    local aux2 = aux and self.aux2(x) or nil
    x = self.maxpool4(self.inception4e(x))
    x = self.inception5b(self.inception5a(x))
    return self.avgpool(x):flatten(2), aux2, aux1
  end
  function GoogLeNet:forward_pooled(x) return (trunk(self, x)) end
  --- forward(x): logits; in training with aux_logits, logits, aux2, aux1 (torchvision's order).
  function GoogLeNet:forward(x)
    local f, aux2, aux1 = trunk(self, x)
    local logits = self:get(self.head_path)(self.dropout(f))
    if aux2 then return logits, aux2, aux1 end
    return logits
  end
  models.register("googlenet", function(args) return GoogLeNet(args) end, nil, {transform_input = true,
    options = {aux_logits = "boolean", transform_input = "boolean", dropout = "number", dropout_aux = "number"}})
end
