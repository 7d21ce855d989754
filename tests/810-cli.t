#!/usr/bin/env lua5.4
-- tests/810-cli.t — bin/graft end to end on a small ImageFolder: info, finetune, eval,
-- predict, extract; their outputs checked against the same work done in-process; usage
-- errors and bad files give one clear line and a non-zero exit.
local T, graft, oracle = require "tap", require "graft", require "oracle"

local dir = oracle.tmpname()
local function sh(cmd)
  local p = assert(io.popen(("cd %s && %s 2>%s/stderr"):format(os.getenv("PWD") or ".", cmd, dir)))
  local out = p:read("a")
  local ok, _, code = p:close()
  local f = io.open(dir .. "/stderr")
  local err = f and f:read("a") or ""
  if f then f:close() end
  return out, ok and 0 or code, err
end
assert(os.execute("mkdir -p " .. dir))
local cli = "lua5.4 bin/graft"

-- Three classes told apart by colour, 6 training and 2 validation images each.
graft.manual_seed(1)
for c = 1, 3 do
  for i = 1, 8 do
    local split = i <= 6 and "train" or "val"
    assert(os.execute(("mkdir -p %s/data/%s/class%d"):format(dir, split, c)))
    local x = graft.rand(3, 32, 32) * 0.3
    graft.no_grad(function() x:narrow(1, c, 1):add_(0.6) end)
    graft.image.save(("%s/data/%s/class%d/%d.png"):format(dir, split, c, i), x)
  end
end
graft.manual_seed(0)
graft.save_model(graft.models.resnet18 {num_classes = 5}, dir .. "/base.safetensors")

local out, code = sh(cli .. " info " .. dir .. "/base.safetensors")
T.ok(code == 0 and out:find("model: resnet18", 1, true) and out:find("fc.weight", 1, true) and out:find("{5, 512}", 1, true),
     "info prints the model and its tensors")

out, code = sh(cli .. " info")
local keys, want_info = {}, graft.info()
for k, v in out:gmatch("([%w_]+): ([^\n]*)") do keys[#keys + 1] = k keys[k] = v end
T.ok(code == 0 and table.concat(keys, " ") == "version lua cpu isa gemm blas blas_core threads"
     and keys.version == graft.version and keys.isa == want_info.isa and keys.gemm == want_info.gemm
     and keys.blas_core == want_info.blas_core and keys.cpu:find(want_info.cpu, 1, true) == 1,
     "info without a file prints graft.info(), one key a line, in a fixed order")
out, code = sh(cli .. " info --help")
T.ok(code == 0 and out:find("usage: graft info [FILE]", 1, true), "info's usage shows FILE as optional")

local ft = dir .. "/ft.safetensors"
out, code = sh(("%s finetune %s %s/data --epochs 3 --size 64 --batch-size 6 --lr 3e-3 --freeze '^layer1%%.' --out %s"):format(
  cli, dir .. "/base.safetensors", dir, ft))
T.ok(code == 0 and out:find(ft .. ": 3 epochs", 1, true) and out:find("val accuracy", 1, true),
     "finetune trains on train/, validates on val/ and writes the model")
local model = graft.load_model(ft)
T.ok(model.config.classes and model.config.classes[3] == "class3" and model.fc.weight:size(1) == 3 and model.config.input_size[2] == 64,
     "the fine-tuned model has a 3-class head, the class names and the training size")
local base = graft.load_model(dir .. "/base.safetensors")
T.ok(graft.allclose(model.layer1["0"].conv1.weight, base.layer1["0"].conv1.weight, 0, 0) and
     not graft.allclose(model.layer2["0"].conv1.weight, base.layer2["0"].conv1.weight, 0, 0),
     "--freeze kept layer1 as it was and trained the rest")

out, code = sh(("%s eval %s %s/data/val"):format(cli, ft, dir))
local acc = tonumber(out:match("accuracy: ([%d.]+)"))
local ds = graft.data.ImageFolder(dir .. "/data/val", {transform = graft.data.transforms.for_model(model)})
local want = graft.evaluate(model, graft.data.Loader(ds, {batch_size = 6}), {progress = false})
T.ok(code == 0 and acc and math.abs(acc - want.accuracy) < 1e-4 and out:find("class3", 1, true),
     ("eval prints accuracy %s, as graft.evaluate computes it, and the confusion matrix"):format(tostring(acc)))

local img1, img2 = dir .. "/data/val/class1/7.png", dir .. "/data/val/class3/8.png"
out, code = sh(("%s predict %s %s %s --topk 2"):format(cli, ft, img1, img2))
local lines = {}
for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
local cells = {}
for cell in (lines[1] or ""):gmatch("[^\t]+") do cells[#cells + 1] = cell end
local pred = graft.predict(model, {img1}, {topk = 2})[1]
T.ok(code == 0 and #lines == 2 and #cells == 5 and cells[1] == img1 and cells[2] == pred.classes[1] and
     math.abs(tonumber(cells[3]) - pred.probs[1]) < 1e-4, "predict: one line per image, IMAGE then class and probability pairs")

out, code = sh(("%s extract %s %s/data/val %s/f.safetensors"):format(cli, ft, dir, dir))
local f, meta = graft.load(dir .. "/f.safetensors")
T.ok(code == 0 and T.render(f.features:shape()) == "{6, 512}" and f.labels:dtype() == "i64" and meta["graft.classes"],
     "extract writes N x D features, labels and the class names")

out, code = sh(cli .. " --help")
T.ok(code == 0 and out:find("finetune MODEL DATA_DIR", 1, true), "--help lists the commands")
out, code = sh(cli .. " finetune --help")
T.ok(code == 0 and out:find("--freeze PATTERN", 1, true), "each command has --help")
local _, err
_, code, err = sh(cli .. " eval")
T.ok(code == 2 and err:find("eval: expected 2 argument", 1, true), "missing arguments: usage and exit 2")
_, code, err = sh(cli .. " frobnicate")
T.ok(code == 2 and err:find('unknown command "frobnicate"', 1, true), "an unknown command: exit 2")
_, code, err = sh(("%s eval %s/missing.safetensors %s/data/val"):format(cli, dir, dir))
T.ok(code == 1 and err:find("missing.safetensors: cannot open", 1, true) and select(2, err:gsub("\n", "")) == 1,
     "a missing model: one line naming the file, exit 1")
_, code, err = sh(("%s finetune %s %s/data --epochs x"):format(cli, ft, dir))
T.ok(code == 2 and err:find('--epochs expects an integer, not "x"', 1, true), "a bad option value: exit 2")

os.execute("rm -rf " .. dir)
T.done()
