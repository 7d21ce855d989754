#!/usr/bin/env lua5.4
-- tests/900-shipped-model.t — the model shipped in models/ (trained by
-- examples/pretrain_fmnist.lua): it loads with graft.load_model, carries its config (class
-- names, normalisation, input size), and reaches its model card's accuracy on split A's
-- 5,000 Fashion-MNIST test images (T-shirt/top, Trouser, Pullover, Dress, Coat).
local T, graft = require "tap", require "graft"
local data = graft.data

local path = "models/resnet20_fmnist_a.safetensors"
local model = graft.load_model(path)
local cfg = model.config
T.is(cfg.arch, "resnet20_cifar", "the shipped model is a ResNet-20")
T.is(table.concat(cfg.classes, ","), "T-shirt/top,Trouser,Pullover,Dress,Coat", "its classes are split A's, in order")
T.ok(cfg.mean[1] == 0.2860 and cfg.std[1] == 0.3530 and cfg.input_size[1] == 1 and cfg.input_size[2] == 28,
     "its normalisation and input size are in the file")
local f = assert(io.open(path, "rb"))
local size = f:seek("end")
f:close()
T.ok(size < 5 * 1024 * 1024, ("the file is %.2f MB (under 5 MB)"):format(size / 2 ^ 20))

local test = data.FashionMNIST("test")
local idx = {}
for i = 1, #test do if test:label(i) <= 5 then idx[#idx + 1] = i end end
local sel = graft.tensor(idx, "i64")
local x = (test.images:index_select(1, sel):to("f32") / 255):unsqueeze(2)
local ds = data.TensorDataset((x - cfg.mean[1]) / cfg.std[1], test.labels:index_select(1, sel))
local r = graft.evaluate(model, data.Loader(ds, {batch_size = 500}), {progress = false})
T.is(r.count, 5000, "split A has 5,000 test images")
T.ok(r.accuracy >= 0.93, ("split-A test accuracy %.4f (>= 0.93)"):format(r.accuracy))
T.ok(math.abs(r.accuracy - cfg.test_accuracy) < 1e-6, "as its model card and config record it")
-- The model's own eval transform gives the same inputs as the normalisation above.
local x1 = data.transforms.for_model(model)((test:get(idx[1])))
T.ok(graft.allclose(x1, ds:get(1), 1e-5, 1e-6), "transforms.for_model(model) is the model's normalisation")
T.done()
