--- graft.data.transforms: image transforms as torchvision has them, on f32 {C, H, W}
-- tensors. Each is a callable t(img [, rng]); random ones draw from rng (the loader's
-- per-sample generator; without one, a generator seeded from graft's own). The built-in
-- ones are plain data (`steps`) that C runs, on the Lua thread when called and in the
-- loader's worker threads when a data set of image files uses them.
-- @module graft.data.transforms
local core = require "graft.core"
local checker = require "graft.options"

local transforms = {}

local IMAGENET_MEAN, IMAGENET_STD = {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}

local Transform = {__name = "graft.data.Transform"}
Transform.__index = Transform

-- A transform from step descriptions (built in) and, after them, Lua callables (`rest`).
local function make(steps, rest, name)
  return setmetatable({steps = steps, rest = rest or {}, name = name}, Transform)
end

function Transform:__call(img, rng)
  rng = rng or core.rng()
  if #self.steps > 0 then img = core.transform(self.steps, img, rng) end
  for _, f in ipairs(self.rest) do img = f(img, rng) end
  return img
end

function Transform:__tostring() return "graft.data.transforms." .. (self.name or "Compose") end

--- True when t runs entirely in C (so loader threads can run it).
function transforms.is_builtin(t) return getmetatable(t) == Transform and #t.rest == 0 end

local function check_size(size, fn)
  if math.type(size) == "integer" and size > 0 then return size, size end
  if type(size) == "table" and math.type(size[1]) == "integer" and math.type(size[2]) == "integer" and size[1] > 0 and size[2] > 0 then
    return size[1], size[2]
  end
  error(("%s: size must be a positive integer or {h, w}, not %s"):format(fn, tostring(size)), 3)
end

local function check_filter(interpolation, fn)
  interpolation = interpolation or "bilinear"
  if interpolation ~= "bilinear" and interpolation ~= "bicubic" then
    error(("%s: interpolation must be \"bilinear\" or \"bicubic\", not %q"):format(fn, tostring(interpolation)), 3)
  end
  return interpolation
end

local function check_range(v, fn, what)
  if type(v) ~= "table" or type(v[1]) ~= "number" or type(v[2]) ~= "number" or v[1] > v[2] then
    error(("%s: %s must be {lo, hi} with lo <= hi"):format(fn, what), 3)
  end
  return {v[1], v[2]}
end

-- Options may be a table or, as torchvision's second positional argument, an interpolation name.
-- A transform's options (checked by graft.options); a string alone is the interpolation.
local function options(fn, opts, spec)
  if type(opts) == "string" then return {interpolation = opts} end
  return checker.check(fn, opts, spec)
end

--- Compose{t1, t2, ...}: applies the transforms in order. Built-in steps are merged, so a
-- Compose of built-ins is itself built in; a Lua function may follow them.
function transforms.Compose(list)
  if type(list) ~= "table" then error("Compose: expects an array of transforms", 2) end
  local steps, rest = {}, {}
  for i, t in ipairs(list) do
    if getmetatable(t) == Transform and #rest == 0 then
      for _, s in ipairs(t.steps) do steps[#steps + 1] = s end
      for _, f in ipairs(t.rest) do rest[#rest + 1] = f end
    elseif getmetatable(t) == Transform or type(t) == "function" or (getmetatable(t) or {}).__call then
      rest[#rest + 1] = t
    else
      error(("Compose: item %d is not a transform or a function"):format(i), 2)
    end
  end
  return make(steps, rest, "Compose")
end

--- Resize(size [, {interpolation, max_size}]): a number resizes the shorter side to size
-- (the longer to floor(size * long / short), as torchvision); {h, w} resizes exactly.
-- Bilinear (or bicubic), antialiased when shrinking.
function transforms.Resize(size, opts)
  opts = options("Resize", opts, {interpolation = "string", max_size = "integer"})
  local step = {kind = "resize", filter = check_filter(opts.interpolation, "Resize"), max_size = opts.max_size}
  if math.type(size) == "integer" and size > 0 then
    step.h, step.w = size, 0
  else
    step.h, step.w = check_size(size, "Resize")
  end
  return make({step}, nil, "Resize")
end

--- CenterCrop(size | {h, w}): the central window (zero-padded if the image is smaller).
function transforms.CenterCrop(size)
  local h, w = check_size(size, "CenterCrop")
  return make({{kind = "center_crop", h = h, w = w}}, nil, "CenterCrop")
end

--- RandomCrop(size [, {padding, pad_if_needed}]): a window at a random place.
function transforms.RandomCrop(size, opts)
  opts = checker.check("RandomCrop", opts, {padding = "integer", pad_if_needed = "boolean"})
  local h, w = check_size(size, "RandomCrop")
  return make({{kind = "random_crop", h = h, w = w, padding = opts.padding or 0, pad_if_needed = opts.pad_if_needed}},
              nil, "RandomCrop")
end

--- RandomResizedCrop(size [, {scale = {0.08, 1}, ratio = {3/4, 4/3}, interpolation}]):
-- a random area and aspect ratio, resized to size (antialiased).
function transforms.RandomResizedCrop(size, opts)
  opts = options("RandomResizedCrop", opts, {scale = "table", ratio = "table", interpolation = "string"})
  local h, w = check_size(size, "RandomResizedCrop")
  return make({{kind = "random_resized_crop", h = h, w = w,
                scale = check_range(opts.scale or {0.08, 1.0}, "RandomResizedCrop", "scale"),
                ratio = check_range(opts.ratio or {3 / 4, 4 / 3}, "RandomResizedCrop", "ratio"),
                filter = check_filter(opts.interpolation, "RandomResizedCrop")}}, nil, "RandomResizedCrop")
end

--- RandomHorizontalFlip([p = 0.5]).
function transforms.RandomHorizontalFlip(p)
  p = p or 0.5
  if type(p) ~= "number" or p < 0 or p > 1 then error("RandomHorizontalFlip: p must be in [0, 1]", 2) end
  return make({{kind = "hflip", p = p}}, nil, "RandomHorizontalFlip")
end

--- ColorJitter(brightness, contrast, saturation, hue) or ColorJitter{brightness = ..., ...}:
-- as torchvision, a number b means a factor in [max(0, 1 - b), 1 + b] (hue: a shift in
-- [-h, h], h <= 0.5); {lo, hi} gives the range itself; the four are applied in random order.
function transforms.ColorJitter(brightness, contrast, saturation, hue)
  if type(brightness) == "table" and brightness[1] == nil then
    local range = "number|table"
    local o = checker.check("ColorJitter", brightness, {brightness = range, contrast = range, saturation = range, hue = range})
    brightness, contrast, saturation, hue = o.brightness, o.contrast, o.saturation, o.hue
  end
  local step = {kind = "color_jitter"}
  local function factor(name, v)
    if v == nil or v == 0 then return end
    if type(v) == "number" then
      if v < 0 then error(("ColorJitter: %s must be non-negative"):format(name), 3) end
      v = {math.max(0, 1 - v), 1 + v}
    end
    step[name] = check_range(v, "ColorJitter", name)
  end
  factor("brightness", brightness)
  factor("contrast", contrast)
  factor("saturation", saturation)
  if hue ~= nil and hue ~= 0 then
    if type(hue) == "number" then hue = {-hue, hue} end
    step.hue = check_range(hue, "ColorJitter", "hue")
    if step.hue[1] < -0.5 or step.hue[2] > 0.5 then error("ColorJitter: hue must lie in [-0.5, 0.5]", 2) end
  end
  return make({step}, nil, "ColorJitter")
end

--- Normalize(mean, std): (x - mean[c]) / std[c] per channel.
function transforms.Normalize(mean, std)
  if type(mean) ~= "table" or type(std) ~= "table" or #mean ~= #std or #mean == 0 then
    error("Normalize: mean and std must be arrays of one length", 2)
  end
  for _, s in ipairs(std) do if s == 0 then error("Normalize: a std of 0", 2) end end
  return make({{kind = "normalize", mean = mean, std = std}}, nil, "Normalize")
end

--- Grayscale([channels = 1]): ITU-R 601-2 luma, in 1 or 3 identical channels.
function transforms.Grayscale(channels)
  channels = channels or 1
  if channels ~= 1 and channels ~= 3 then error("Grayscale: channels must be 1 or 3", 2) end
  return make({{kind = "grayscale", channels = channels}}, nil, "Grayscale")
end

--- imagenet_train(size): torchvision's training recipe — RandomResizedCrop(size),
-- RandomHorizontalFlip(), Normalize(ImageNet mean, std).
function transforms.imagenet_train(size, opts)
  opts = checker.check("imagenet_train", opts, {interpolation = "string", mean = "table", std = "table"})
  return transforms.Compose {
    transforms.RandomResizedCrop(size or 224, {interpolation = opts.interpolation}),
    transforms.RandomHorizontalFlip(),
    transforms.Normalize(opts.mean or IMAGENET_MEAN, opts.std or IMAGENET_STD),
  }
end

--- imagenet_eval(size): torchvision's evaluation recipe — Resize(floor(size * 256 / 224)),
-- CenterCrop(size), Normalize(ImageNet mean, std).
function transforms.imagenet_eval(size, opts)
  size = size or 224
  opts = checker.check("imagenet_eval", opts, {crop_pct = "number", interpolation = "string", mean = "table", std = "table"})
  local crop_pct = opts.crop_pct or 224 / 256
  local function scaled(n) return math.floor(n / crop_pct + 1e-9) end
  local h, w = check_size(size, "imagenet_eval")
  local resize = h == w and scaled(h) or {scaled(h), scaled(w)}
  return transforms.Compose {
    transforms.Resize(resize, {interpolation = opts.interpolation}),
    transforms.CenterCrop(size),
    transforms.Normalize(opts.mean or IMAGENET_MEAN, opts.std or IMAGENET_STD),
  }
end

--- for_model(model): the model's own evaluation transform, from model.config (input size,
-- interpolation, crop_pct, mean and std: Inception resizes to 342 for 299, EfficientNet
-- uses bicubic, Xception mean = std = 0.5 ...).
function transforms.for_model(model)
  local cfg = type(model) == "table" and model.config
  if type(cfg) ~= "table" or type(cfg.input_size) ~= "table" then
    error("for_model: the model has no config.input_size (zoo models and graft.load_model models have one)", 2)
  end
  local size = cfg.input_size
  return transforms.imagenet_eval({size[2], size[3]}, {crop_pct = cfg.crop_pct, interpolation = cfg.interpolation,
                                                       mean = cfg.mean, std = cfg.std})
end

return transforms
