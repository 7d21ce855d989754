-- VGG-11/13/16/19, with and without BatchNorm, as torchvision builds them: features, a 7x7
-- adaptive average pool, and a three-layer classifier (head: classifier.6).
local nn = require "graft.nn"
local B = require "graft.models.blocks"

return function(models)
  local cfgs = {
    A = {64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"},
    B = {64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"},
    D = {64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"},
    E = {64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"},
  }

  local VGG = models.ZooModel:extend "VGG"
  VGG.head_path, VGG.first_conv = "classifier.6", "features.0.weight"
  function VGG:init(cfg, batch_norm, args)
    local layers, cin = {}, args.in_chans or 3
    for _, v in ipairs(cfg) do
      if v == "M" then
        layers[#layers + 1] = nn.MaxPool2d(2, {stride = 2})
      else
        layers[#layers + 1] = nn.Conv2d(cin, v, 3, {padding = 1})
        if batch_norm then layers[#layers + 1] = nn.BatchNorm2d(v) end
        layers[#layers + 1] = nn.ReLU()
        cin = v
      end
    end
    self.features = nn.Sequential(layers)
    self.avgpool = nn.AdaptiveAvgPool2d(7)
    local p = args.dropout or 0.5
    self.classifier = nn.Sequential{nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(p), nn.Linear(4096, 4096),
                                    nn.ReLU(), nn.Dropout(p), nn.Linear(4096, args.num_classes)}
    rawset(self, "num_features", 4096)
    self:init_weights()
  end
  VGG.init_weights = B.init_weights
  VGG.reset_parameters = VGG.init_weights
  --- The 4096 features the last classifier layer consumes.
  function VGG:forward_pooled(x)
    x = self.avgpool(self:get("features")(x)):flatten(2)
    for i = 1, 6 do x = self.classifier:at(i)(x) end
    return x
  end
  function VGG:forward(x) return self.classifier:at(7)(self:forward_pooled(x)) end

  for _, v in ipairs {{"vgg11", "A"}, {"vgg13", "B"}, {"vgg16", "D"}, {"vgg19", "E"}} do
    models.register(v[1], function(args) return VGG(cfgs[v[2]], false, args) end, nil, {options = {dropout = "number"}})
    models.register(v[1] .. "_bn", function(args) return VGG(cfgs[v[2]], true, args) end, nil, {options = {dropout = "number"}})
  end
  models.VGG = VGG
end
