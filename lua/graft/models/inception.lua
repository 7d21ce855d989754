-- Inception-v3 as torchvision builds it: 299x299 input, the Mixed_5b..7c blocks of factorised
-- convolutions, an optional auxiliary head (AuxLogits) in training, and transform_input,
-- which pretrained weights expect on.
local nn = require "graft.nn"
local F = require "graft.functional"
local B = require "graft.models.blocks"

return function(models)
  local Conv = models.BasicConv2d
  local function conv(cin, cout, k, opts) return Conv(cin, cout, k, opts) end

  local A = nn.Module:extend "InceptionA"
  function A:init(cin, pool)
    self.branch1x1 = conv(cin, 64, 1)
    self.branch5x5_1 = conv(cin, 48, 1)
    self.branch5x5_2 = conv(48, 64, 5, {padding = 2})
    self.branch3x3dbl_1 = conv(cin, 64, 1)
    self.branch3x3dbl_2 = conv(64, 96, 3, {padding = 1})
    self.branch3x3dbl_3 = conv(96, 96, 3, {padding = 1})
    self.branch_pool = conv(cin, pool, 1)
  end
  function A:forward(x)
    return F.cat({self.branch1x1(x), self.branch5x5_2(self.branch5x5_1(x)),
                  self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                  self.branch_pool(F.avg_pool2d(x, 3, {stride = 1, padding = 1}))}, 2)
  end

  local Bk = nn.Module:extend "InceptionB"
  function Bk:init(cin)
    self.branch3x3 = conv(cin, 384, 3, {stride = 2})
    self.branch3x3dbl_1 = conv(cin, 64, 1)
    self.branch3x3dbl_2 = conv(64, 96, 3, {padding = 1})
    self.branch3x3dbl_3 = conv(96, 96, 3, {stride = 2})
  end
  function Bk:forward(x)
    return F.cat({self.branch3x3(x), self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                  F.max_pool2d(x, 3, {stride = 2})}, 2)
  end

  local C = nn.Module:extend "InceptionC"
  function C:init(cin, c7)
    local row, col = {{1, 7}, {padding = {0, 3}}}, {{7, 1}, {padding = {3, 0}}}
    self.branch1x1 = conv(cin, 192, 1)
    self.branch7x7_1 = conv(cin, c7, 1)
    self.branch7x7_2 = conv(c7, c7, row[1], row[2])
    self.branch7x7_3 = conv(c7, 192, col[1], col[2])
    self.branch7x7dbl_1 = conv(cin, c7, 1)
    self.branch7x7dbl_2 = conv(c7, c7, col[1], col[2])
    self.branch7x7dbl_3 = conv(c7, c7, row[1], row[2])
    self.branch7x7dbl_4 = conv(c7, c7, col[1], col[2])
    self.branch7x7dbl_5 = conv(c7, 192, row[1], row[2])
    self.branch_pool = conv(cin, 192, 1)
  end
  function C:forward(x)
    local b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
    local d = self.branch7x7dbl_1(x)
    for i = 2, 5 do d = self["branch7x7dbl_" .. i](d) end
    return F.cat({self.branch1x1(x), b7, d, self.branch_pool(F.avg_pool2d(x, 3, {stride = 1, padding = 1}))}, 2)
  end

  local D = nn.Module:extend "InceptionD"
  function D:init(cin)
    self.branch3x3_1 = conv(cin, 192, 1)
    self.branch3x3_2 = conv(192, 320, 3, {stride = 2})
    self.branch7x7x3_1 = conv(cin, 192, 1)
    self.branch7x7x3_2 = conv(192, 192, {1, 7}, {padding = {0, 3}})
    self.branch7x7x3_3 = conv(192, 192, {7, 1}, {padding = {3, 0}})
    self.branch7x7x3_4 = conv(192, 192, 3, {stride = 2})
  end
  function D:forward(x)
    local b = self.branch7x7x3_1(x)
    for i = 2, 4 do b = self["branch7x7x3_" .. i](b) end
    return F.cat({self.branch3x3_2(self.branch3x3_1(x)), b, F.max_pool2d(x, 3, {stride = 2})}, 2)
  end

  local E = nn.Module:extend "InceptionE"
  function E:init(cin)
    self.branch1x1 = conv(cin, 320, 1)
    self.branch3x3_1 = conv(cin, 384, 1)
    self.branch3x3_2a = conv(384, 384, {1, 3}, {padding = {0, 1}})
    self.branch3x3_2b = conv(384, 384, {3, 1}, {padding = {1, 0}})
    self.branch3x3dbl_1 = conv(cin, 448, 1)
    self.branch3x3dbl_2 = conv(448, 384, 3, {padding = 1})
    self.branch3x3dbl_3a = conv(384, 384, {1, 3}, {padding = {0, 1}})
    self.branch3x3dbl_3b = conv(384, 384, {3, 1}, {padding = {1, 0}})
    self.branch_pool = conv(cin, 192, 1)
  end
  function E:forward(x)
    local b3 = self.branch3x3_1(x)
    local d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
    return F.cat({self.branch1x1(x), F.cat({self.branch3x3_2a(b3), self.branch3x3_2b(b3)}, 2),
                  F.cat({self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)}, 2),
                  self.branch_pool(F.avg_pool2d(x, 3, {stride = 1, padding = 1}))}, 2)
  end

  local Aux = nn.Module:extend "InceptionAux"
  function Aux:init(cin, num_classes)
    self.conv0 = conv(cin, 128, 1)
    self.conv1 = conv(128, 768, 5)
    rawset(self.conv1, "stddev", 0.01)
    self.fc = nn.Linear(768, num_classes)
    rawset(self.fc, "stddev", 0.001)
  end
  function Aux:forward(x)
    x = self.conv1(self.conv0(F.avg_pool2d(x, 5, {stride = 3})))
    return self.fc(F.adaptive_avg_pool2d(x, 1):flatten(2))
  end

  local Inception3 = models.ZooModel:extend "Inception3"
  Inception3.head_path, Inception3.first_conv = "fc", "Conv2d_1a_3x3.conv.weight"
  Inception3.aux_prefixes = {"AuxLogits."}
  function Inception3:init(args)
    rawset(self, "aux_logits", args.aux_logits ~= false)
    rawset(self, "transform_input", args.transform_input or false)
    self.Conv2d_1a_3x3 = conv(args.in_chans or 3, 32, 3, {stride = 2})
    self.Conv2d_2a_3x3 = conv(32, 32, 3)
    self.Conv2d_2b_3x3 = conv(32, 64, 3, {padding = 1})
    self.maxpool1 = nn.MaxPool2d(3, {stride = 2})
    self.Conv2d_3b_1x1 = conv(64, 80, 1)
    self.Conv2d_4a_3x3 = conv(80, 192, 3)
    self.maxpool2 = nn.MaxPool2d(3, {stride = 2})
    self.Mixed_5b = A(192, 32)
    self.Mixed_5c = A(256, 64)
    self.Mixed_5d = A(288, 64)
    self.Mixed_6a = Bk(288)
    self.Mixed_6b = C(768, 128)
    self.Mixed_6c = C(768, 160)
    self.Mixed_6d = C(768, 160)
    self.Mixed_6e = C(768, 192)
    if self.aux_logits then self.AuxLogits = Aux(768, args.num_classes) end
    self.Mixed_7a = D(768)
    self.Mixed_7b = E(1280)
    self.Mixed_7c = E(2048)
    self.avgpool = nn.AdaptiveAvgPool2d(1)
    self.dropout = nn.Dropout(args.dropout or 0.5)
    self.fc = nn.Linear(2048, args.num_classes)
    rawset(self, "num_features", 2048)
    self:init_weights()
  end
  --- torchvision's initialisation: truncated normals, std 0.1 (0.01, 0.001 in the aux head).
  function Inception3:init_weights() B.init_modules(self, B.trunc_normal(0.1), B.trunc_normal(0.1)) end
  Inception3.reset_parameters = Inception3.init_weights
  local function trunk(self, x)
    if self.transform_input then x = models.transform_input(x) end
    x = self.maxpool1(self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x))))
    x = self.maxpool2(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)))
    x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x)))
    x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(self.Mixed_6a(x)))))
    local aux = self.aux_logits and self.training and self.AuxLogits(x) or nil
    x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
    return self.avgpool(x):flatten(2), aux
  end
  function Inception3:forward_pooled(x) return (trunk(self, x)) end
  --- forward(x): logits; in training with aux_logits, logits and the aux head's logits.
  function Inception3:forward(x)
    local f, aux = trunk(self, x)
    local logits = self:get(self.head_path)(self.dropout(f))
    if aux then return logits, aux end
    return logits
  end
  models.register("inception_v3", function(args) return Inception3(args) end,
                  {input_size = {3, 299, 299}, crop_pct = 299 / 342},
                  {transform_input = true, options = {aux_logits = "boolean", transform_input = "boolean", dropout = "number"}})
end
