#!/usr/bin/env lua5.4
-- tests/710-transforms.t — graft.data.transforms against torchvision's tensor transforms on
-- the same inputs: antialiased Resize (shrink, enlarge, bicubic, max_size), CenterCrop
-- (with its rounding and padding), Normalize, Grayscale, flips, each ColorJitter
-- adjustment, RandomCrop windows, RandomResizedCrop geometry, the ImageNet recipes and
-- for_model; per-sample generators make random transforms repeatable.
local T, graft, oracle = require "tap", require "graft", require "oracle"
local tf = graft.data.transforms

graft.manual_seed(11)
local x = graft.rand(3, 37, 53)
local big = graft.rand(3, 280, 330)
local gray = graft.rand(1, 40, 30)
local ref = oracle.run([==[
import torchvision.transforms as TV
import torchvision.transforms.functional as TF
x, big, gray = inp["x"], inp["big"], inp["gray"]
R = lambda *a, **k: TV.Resize(*a, antialias=True, **k)
BIC = TV.InterpolationMode.BICUBIC
out["resize24"] = R(24)(x)
out["resize_hw"] = R([20, 31])(x)
out["resize_up"] = R([50, 80])(x)
out["resize_mixed"] = R([60, 20])(x)
out["resize_bicubic"] = R(24, interpolation=BIC)(x)
out["resize_bicubic_up"] = R([70, 90], interpolation=BIC)(x)
out["resize_max"] = R(30, max_size=40)(x)
out["resize_gray"] = R(17)(gray)
out["resize_big"] = R(7)(big)
out["center20"] = TV.CenterCrop(20)(x)
out["center_odd"] = TV.CenterCrop([30, 44])(x)
out["center_pad"] = TV.CenterCrop([41, 60])(x)
out["normalize"] = TV.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])(x)
out["gray1"] = TV.Grayscale(1)(x)
out["gray3"] = TV.Grayscale(3)(x)
out["hflip"] = TF.hflip(x)
out["bright"] = TF.adjust_brightness(x, 1.3)
out["contrast"] = TF.adjust_contrast(x, 0.6)
out["contrast_gray"] = TF.adjust_contrast(gray, 1.4)
out["saturation"] = TF.adjust_saturation(x, 1.7)
out["hue"] = TF.adjust_hue(x, 0.23)
out["hue_neg"] = TF.adjust_hue(x, -0.4)
out["padded"] = TF.pad(x, [3, 3, 3, 3])
out["eval"] = TV.Compose([R(256), TV.CenterCrop(224), TV.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])(big)
out["eval_effnet"] = TV.Compose([R(256, interpolation=BIC), TV.CenterCrop(224), TV.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])(big)
out["full_resize"] = R([32, 32])(x)
]==], {x = x, big = big, gray = gray})

local function check(name, got, want, tol)
  local same = T.render(got:shape()) == T.render(want:shape())
  local err = same and (got - want):abs():max():item() or math.huge
  T.ok(same and err <= (tol or 1e-5), ("%s: %s, max abs diff %.2g from torchvision"):format(name, T.render(want:shape()), err))
end

local rng = graft.data.rng(1, 2, 3)
check("Resize(24) shrinks the shorter side, antialiased", tf.Resize(24)(x, rng), ref.resize24)
check("Resize{20, 31}", tf.Resize({20, 31})(x), ref.resize_hw)
check("Resize{50, 80} enlarges (plain bilinear)", tf.Resize({50, 80})(x), ref.resize_up)
check("Resize{60, 20} enlarges one axis and shrinks the other", tf.Resize({60, 20})(x), ref.resize_mixed)
check("Resize(24, bicubic)", tf.Resize(24, "bicubic")(x), ref.resize_bicubic)
check("Resize{70, 90} bicubic enlarges", tf.Resize({70, 90}, {interpolation = "bicubic"})(x), ref.resize_bicubic_up)
check("Resize(30, {max_size = 40})", tf.Resize(30, {max_size = 40})(x), ref.resize_max)
check("Resize on one channel", tf.Resize(17)(gray), ref.resize_gray)
check("Resize 280x330 down to 7 (wide filter)", tf.Resize(7)(big), ref.resize_big)
check("CenterCrop(20)", tf.CenterCrop(20)(x), ref.center20)
check("CenterCrop{30, 44} rounds offsets as torchvision", tf.CenterCrop({30, 44})(x), ref.center_odd)
check("CenterCrop{41, 60} pads with zeros", tf.CenterCrop({41, 60})(x), ref.center_pad)
check("Normalize", tf.Normalize({0.485, 0.456, 0.406}, {0.229, 0.224, 0.225})(x), ref.normalize)
check("Grayscale(1)", tf.Grayscale()(x), ref.gray1)
check("Grayscale(3)", tf.Grayscale(3)(x), ref.gray3)
check("RandomHorizontalFlip(1) flips", tf.RandomHorizontalFlip(1)(x), ref.hflip)
check("RandomHorizontalFlip(0) keeps", tf.RandomHorizontalFlip(0)(x), x)
check("ColorJitter brightness 1.3", tf.ColorJitter {brightness = {1.3, 1.3}}(x), ref.bright)
check("ColorJitter contrast 0.6", tf.ColorJitter {contrast = {0.6, 0.6}}(x), ref.contrast)
check("ColorJitter contrast on gray", tf.ColorJitter {contrast = {1.4, 1.4}}(gray), ref.contrast_gray)
check("ColorJitter saturation 1.7", tf.ColorJitter {saturation = {1.7, 1.7}}(x), ref.saturation)
check("ColorJitter hue +0.23", tf.ColorJitter {hue = {0.23, 0.23}}(x), ref.hue)
check("ColorJitter hue -0.4", tf.ColorJitter {hue = {-0.4, -0.4}}(x), ref.hue_neg)
check("imagenet_eval(224) = Resize(256) + CenterCrop(224) + Normalize", tf.imagenet_eval(224)(big), ref.eval, 2e-4)
check("for_model(efficientnet_b0): bicubic 256 -> 224", tf.for_model(graft.models.efficientnet_b0 {num_classes = 2})(big),
      ref.eval_effnet, 2e-4)
check("RandomResizedCrop with scale 1 and the image's ratio is a full Resize",
      tf.RandomResizedCrop(32, {scale = {1, 1}, ratio = {53 / 37, 53 / 37}})(x, graft.data.rng(0, 0, 0)), ref.full_resize)

-- RandomCrop: the result is one window of the padded image; all windows turn up.
local seen, all_windows = {}, true
for i = 1, 60 do
  local out = tf.RandomCrop({37, 53}, {padding = 3})(x, graft.data.rng(5, 0, i))
  local found
  for top = 1, 7 do
    for left = 1, 7 do
      if not found and graft.allclose(out, ref.padded:narrow(2, top, 37):narrow(3, left, 53), 0, 0) then found = top * 10 + left end
    end
  end
  all_windows = all_windows and found ~= nil
  if found then seen[found] = true end
end
local distinct = 0
for _ in pairs(seen) do distinct = distinct + 1 end
T.ok(all_windows and distinct > 20, ("RandomCrop(padding = 3): every output is a window of the padded image (%d distinct of 49)"):format(distinct))
T.is(T.render(tf.RandomCrop(60, {pad_if_needed = true})(x):shape()), "{3, 60, 60}", "RandomCrop pads when needed")
T.error_like(function() tf.RandomCrop(60)(x) end, "larger than the 37x53 image", "RandomCrop larger than the image is an error")

-- RandomResizedCrop: always the requested size; areas and ratios drawn from their ranges.
local rrc, sizes_ok = tf.RandomResizedCrop({24, 20}), true
for i = 1, 50 do
  local out = rrc(big, graft.data.rng(9, 1, i))
  sizes_ok = sizes_ok and T.render(out:shape()) == "{3, 24, 20}"
end
T.ok(sizes_ok, "RandomResizedCrop always gives the requested {h, w}")

-- Determinism: the generator's state decides everything.
local train = tf.imagenet_train(64)
local a = train(big, graft.data.rng(42, 3, 7))
local b = train(big, graft.data.rng(42, 3, 7))
local c = train(big, graft.data.rng(42, 3, 8))
T.ok(graft.allclose(a, b, 0, 0), "imagenet_train with the same (seed, epoch, index) gives the same image")
T.ok(not graft.allclose(a, c, 0, 0), "another index gives another crop")
T.is(T.render(a:shape()), "{3, 64, 64}", "imagenet_train(64) gives 64x64")
local jit = tf.ColorJitter(0.4, 0.4, 0.4, 0.1)
T.ok(graft.allclose(jit(x, graft.data.rng(1, 1, 1)), jit(x, graft.data.rng(1, 1, 1)), 0, 0), "ColorJitter is repeatable for a generator state")
local g = graft.data.rng(1, 2, 3)
local u, n = g:uniform(), g:integer(5, 9)
local g2 = graft.data.rng(1, 2, 3)
T.ok(u >= 0 and u < 1 and n >= 5 and n <= 9 and g2:uniform() == u and g2:integer(5, 9) == n, "rng:uniform and rng:integer are repeatable")

-- Lua functions compose with built-ins; a Compose of built-ins stays built in.
local composed = tf.Compose {tf.CenterCrop(20), function(img) return img * 2 end}
check("Compose runs a Lua function after the built-ins", composed(x), ref.center20 * 2)
T.ok(tf.is_builtin(tf.Compose {tf.Resize(8), tf.CenterCrop(8)}) and not tf.is_builtin(composed), "is_builtin tells C-only pipelines apart")

-- Errors name the transform and the problem.
T.error_like(function() tf.Normalize({0.5}, {0.5})(x) end, "Normalize: 1 means and stds for a 3-channel image", "Normalize with the wrong channel count")
T.error_like(function() tf.Resize(0) end, "Resize: size must be a positive integer", "Resize(0)")
T.error_like(function() tf.Resize(8, "nearest") end, "interpolation must be", "an unknown interpolation")
T.error_like(function() tf.ColorJitter {hue = 0.7} end, "hue must lie in [-0.5, 0.5]", "a hue over 0.5")
T.error_like(function() tf.Compose {42} end, "item 1 is not a transform", "Compose of a number")
T.done()
