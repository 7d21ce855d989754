#!/usr/bin/env lua5.4
-- tests/815-cli-data.t — bin/graft on data and files that are not quite what it expects:
-- eval matches class folders to the model's class names (a folder of a subset of classes
-- is scored against the right labels; an unknown folder, a folder of train/ and val/, or a
-- count that does not match a model without names is an error, never a NaN); predict goes
-- on past bad images; finetune starts from a torchvision .pth or safetensors state dict;
-- every command refuses unknown or mistyped flags with exit 2 and a suggestion; a checkout's
-- bin/graft runs without LUA_PATH. Real Fashion-MNIST images and the shipped model.
local T, graft, oracle = require "tap", require "graft", require "oracle"

local root = os.getenv("PWD")
local dir = oracle.tmpname()
assert(os.execute("mkdir -p " .. dir))
local function read(path)
  local f = io.open(path, "rb")
  local s = f and f:read("a") or ""
  if f then f:close() end
  return s
end
local function sh(cmd)
  local p = assert(io.popen(("cd %s && %s 2>%s/stderr"):format(root, cmd, dir)))
  local out = p:read("a")
  local ok, _, code = p:close()
  return out, ok and 0 or code, read(dir .. "/stderr")
end
local function lines(s)
  local out = {}
  for line in s:gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end
local cli = "lua5.4 bin/graft"
local shipped = "models/resnet20_fmnist_a.safetensors"
local model = graft.load_model(shipped)   -- classes T-shirt/top, Trouser, Pullover, Dress, Coat

-- Eight test images each of two of the model's five classes, in folders named as people
-- name them: "Trouser", and "05-Coat" (a number that orders the folders).
local test = graft.data.FashionMNIST("test")
local folders = {[2] = "Trouser", [5] = "05-Coat"}
local count, xs, ys = {[2] = 0, [5] = 0}, {}, {}
for i = 1, #test do
  local x, y = test:get(i)
  if folders[y] and count[y] < 8 then
    count[y] = count[y] + 1
    for _, sub in ipairs {"subset", "splits/train", "splits/val", "unknown"} do
      assert(os.execute(("mkdir -p '%s/%s/%s'"):format(dir, sub, folders[y])))
      graft.image.save(("%s/%s/%s/%d.png"):format(dir, sub, folders[y], i), x)
    end
    xs[#xs + 1], ys[#ys + 1] = x:unsqueeze(1), y
  end
end
-- cp runs without the sanitizer runtime that `make test SANITIZE=1` preloads: under it, cp of
-- several files exits 1 with no message.
assert(os.execute(("mkdir -p %s/unknown/Sneaker && env -u LD_PRELOAD cp %s/subset/Trouser/*.png %s/unknown/Sneaker/"):format(dir, dir, dir)))

-- eval -----------------------------------------------------------------------------------------
local cfg = model.config
local x = (graft.F.cat(xs, 1) - cfg.mean[1]) / cfg.std[1]
local want = graft.evaluate(model, graft.data.Loader(graft.data.TensorDataset(x, graft.tensor(ys, "i64")), {batch_size = 16}),
                            {progress = false})
local out, code, err = sh(("%s eval %s %s/subset"):format(cli, shipped, dir))
local acc = tonumber(out:match("\naccuracy: ([%d.]+)"))
T.ok(code == 0 and acc and math.abs(acc - want.accuracy) < 1e-4 and want.accuracy > 0.8,
     ("eval scores Trouser/ and 05-Coat/ as the model's classes 2 and 5: accuracy %s, graft.evaluate's %.4f"):format(
       tostring(acc), want.accuracy))
if code ~= 0 then T.diag(err) end
T.ok(out:find("class Trouser: %d") and out:find("class Coat: %d") and out:find("class T-shirt/top: no images", 1, true)
     and not out:lower():find("nan", 1, true), "per-class lines: an accuracy for classes with images, 'no images' for the others, no NaN")

out, code, err = sh(("%s eval %s %s/splits"):format(cli, shipped, dir))
T.ok(code == 2 and err:find("holds split folders (train, val)", 1, true) and err:find(dir .. "/splits/val", 1, true)
     and #lines(err) == 1 and out == "", "a folder of train/ and val/ is a usage error that names the split to pass")
out, code, err = sh(("%s extract %s %s/splits %s/f.safetensors"):format(cli, shipped, dir, dir))
T.ok(code == 2 and err:find("holds split folders", 1, true), "extract refuses it too")

out, code, err = sh(("%s eval %s %s/unknown"):format(cli, shipped, dir))
T.ok(code == 1 and err:find('folder "Sneaker"', 1, true) and err:find("T-shirt/top, Trouser, Pullover, Dress, Coat", 1, true)
     and out == "", "a folder the model has no class for is an error naming it and the model's classes")

-- A model without class names: the folders in sorted order, as many as its classes.
graft.manual_seed(0)
graft.save_model(graft.models.resnet20_cifar {num_classes = 3, in_chans = 1}, dir .. "/nameless.safetensors")
out, code, err = sh(("%s eval %s/nameless.safetensors %s/subset"):format(cli, dir, dir))
T.ok(code == 1 and err:find("has 2 class folders (05-Coat, Trouser) but the model has 3 classes", 1, true),
     "a model without class names: a folder count that differs from its classes is an error")
assert(os.execute(("env -u LD_PRELOAD cp -r %s/unknown/Sneaker %s/subset/"):format(dir, dir)))
local nameless = graft.load_model(dir .. "/nameless.safetensors")
local ds = graft.data.ImageFolder(dir .. "/subset", {transform = graft.data.transforms.for_model(nameless), channels = 1})
want = graft.evaluate(nameless, graft.data.Loader(ds, {batch_size = 32}), {progress = false})
out, code = sh(("%s eval %s/nameless.safetensors %s/subset"):format(cli, dir, dir))
acc = tonumber(out:match("\naccuracy: ([%d.]+)"))
T.ok(code == 0 and acc and math.abs(acc - want.accuracy) < 1e-4 and out:find("class Sneaker: ", 1, true),
     "and as many folders as classes are its labels in sorted order")

-- predict --------------------------------------------------------------------------------------
-- Good images (Fashion-MNIST PNGs, and JPEGs from /usr/share when there are some) between a
-- text file named .png, a missing file and a truncated PNG.
local good = {dir .. "/subset/Trouser/" .. (io.popen("ls " .. dir .. "/subset/Trouser"):read("l"))}
for path in io.popen("find /usr/share -name '*.jpg' -size +1k 2>/dev/null | sort | head -2"):lines() do good[#good + 1] = path end
good[#good + 1] = dir .. "/subset/05-Coat/" .. (io.popen("ls " .. dir .. "/subset/05-Coat"):read("l"))
local f = assert(io.open(dir .. "/notes.png", "w"))
f:write("not an image\n")
f:close()
local png = read(good[1])
f = assert(io.open(dir .. "/cut.png", "wb"))
f:write(png:sub(1, 60))
f:close()
local bad = {dir .. "/notes.png", dir .. "/missing.png", dir .. "/cut.png"}
local args = {good[1], bad[1], good[2], bad[2], bad[3]}
for i = 3, #good do args[#args + 1] = good[i] end
out, code, err = sh(("%s predict %s %s --topk 2"):format(cli, shipped, table.concat(args, " ")))
local rows, errs = lines(out), lines(err)
local same = #rows == #good
for i, path in ipairs(good) do
  local cells = {}
  for cell in (rows[i] or ""):gmatch("[^\t]+") do cells[#cells + 1] = cell end
  local p = graft.predict(model, {path}, {topk = 2})[1]
  same = same and cells[1] == path and cells[2] == p.classes[1] and math.abs(tonumber(cells[3]) - p.probs[1]) < 1e-4
end
T.ok(same, ("predict prints every good image's classes, in order (%d of %d lines)"):format(#rows, #good))
local named = #errs == #bad + 1
for i, path in ipairs(bad) do named = named and errs[i] and errs[i]:find("graft predict: " .. path .. ": ", 1, true) == 1 and #errs[i] > #path + 20 end
T.ok(code == 1 and named and errs[#errs]:find("3 of " .. #args .. " images failed", 1, true),
     "each bad image is one line on standard error naming the file and why, and the exit status is 1")
if not named then T.diag(err) end

-- finetune from a state dict -------------------------------------------------------------------
graft.manual_seed(3)
for c, name in ipairs {"red", "green", "blue"} do
  assert(os.execute(("mkdir -p %s/colors/%s"):format(dir, name)))
  for i = 1, 4 do
    local img = graft.rand(3, 32, 32) * 0.3
    graft.no_grad(function() img:narrow(1, c, 1):add_(0.6) end)
    graft.image.save(("%s/colors/%s/%d.png"):format(dir, name, i), img)
  end
end
oracle.run(([[
import torchvision
torch.manual_seed(0)
sd = torchvision.models.resnet18(num_classes=10).state_dict()
torch.save(sd, "%s/resnet18-5c106cde.pth")
torch.save(sd, "%s/weights.pth")
save("%s/weights.safetensors", sd)
]]):format(dir, dir, dir), {})
local pth = graft.load(dir .. "/weights.pth")
local function finetune(model_file, extra, out_file)
  return sh(("%s finetune %s %s/colors --epochs 1 --size 32 --batch-size 6 --freeze '^layer1%%.' --out %s %s"):format(
    cli, model_file, dir, out_file, extra))
end
local function started_from_pth(path)
  local ok, m = pcall(graft.load_model, path)
  return ok and m.config.arch == "resnet18" and table.concat(m.config.classes, ",") == "blue,green,red"
         and m.fc.weight:size(1) == 3 and graft.allclose(m.layer1["1"].conv2.weight, pth["layer1.1.conv2.weight"], 0, 0)
end
out, code, err = finetune(dir .. "/resnet18-5c106cde.pth", "", dir .. "/a.safetensors")
T.ok(code == 0 and started_from_pth(dir .. "/a.safetensors"),
     "finetune starts from torchvision's resnet18 .pth, its architecture named by the file (as torchvision's downloads)")
if code ~= 0 then T.diag(err) end
out, code, err = finetune(dir .. "/weights.safetensors", "--arch resnet18", dir .. "/b.safetensors")
T.ok(code == 0 and started_from_pth(dir .. "/b.safetensors"), "and from a safetensors state dict with --arch")
if code ~= 0 then T.diag(err) end
out, code, err = finetune(dir .. "/weights.pth", "", dir .. "/c.safetensors")
T.ok(code == 2 and err:find("state dict", 1, true) and err:find("--arch", 1, true), "a state dict its name does not place: asks for --arch")
out, code, err = finetune(dir .. "/weights.pth", "--arch resnet34", dir .. "/c.safetensors")
T.ok(code == 1 and err:find("do not fit resnet34", 1, true) and #lines(err) == 1, "weights of another architecture: one line, exit 1")
out, code, err = finetune(shipped, "--arch resnet18", dir .. "/c.safetensors")
T.ok(code == 2 and err:find("architecture resnet20_cifar, not resnet18", 1, true), "--arch that contradicts a graft model file")

-- flags ----------------------------------------------------------------------------------------
local model_dir = ("%s %s/subset"):format(shipped, dir)
local cases = {
  {"info " .. shipped .. " --topk 3", "graft info: unknown option --topk (graft info takes no options)"},
  {"predict " .. shipped .. " " .. good[1] .. " --top-k 2", "graft predict: unknown option --top-k (did you mean --topk?)"},
  {"extract " .. model_dir .. " " .. dir .. "/o.safetensors --pol avg", "graft extract: unknown option --pol (did you mean --pool?)"},
  {"finetune " .. model_dir .. " --epoch 2", "graft finetune: unknown option --epoch (did you mean --epochs?)"},
  {"finetune " .. model_dir .. " --bach-size=4", "graft finetune: unknown option --bach-size (did you mean --batch-size?)"},
  {"eval " .. model_dir .. " --bach-size 4", "graft eval: unknown option --bach-size (did you mean --batch-size?)"},
  {"eval " .. model_dir .. " -b 4", "graft eval: unknown option -b"},
  {"predict " .. shipped .. " " .. good[1] .. " --topk two", 'graft predict: --topk expects an integer, not "two"'},
  {"extract " .. model_dir .. " " .. dir .. "/o.safetensors --batch-size 0", 'graft extract: --batch-size expects a positive integer, not "0"'},
  {"extract " .. model_dir .. " " .. dir .. "/o.safetensors --pool mean", 'graft extract: --pool expects one of avg, max, none, not "mean"'},
  {"finetune " .. model_dir .. " --epochs abc", 'graft finetune: --epochs expects an integer, not "abc"'},
  {"finetune " .. model_dir .. " --lr fast", 'graft finetune: --lr expects a positive number, not "fast"'},
  {"finetune " .. model_dir .. " --arch resnet81", 'graft finetune: --arch: unknown value "resnet81" (did you mean resnet18?)'},
  {"finetune " .. model_dir .. " --freeze '^fc.('", 'graft finetune: --freeze: "^fc.(" is not a valid Lua pattern (unfinished capture)'},
  {"finetune " .. model_dir .. " --seed", "graft finetune: --seed needs a value (integer)"},
  {"eval " .. model_dir .. " --batch-size 2.5", 'graft eval: --batch-size expects an integer, not "2.5"'},
  {"eval " .. model_dir .. " extra", 'graft eval: unexpected argument "extra"'},
  {"evl " .. model_dir, 'graft: unknown command "evl" (did you mean eval?)'},
}
local wrong = {}
for _, case in ipairs(cases) do
  out, code, err = sh(cli .. " " .. case[1])
  if not (code == 2 and out == "" and err:find(case[2], 1, true) == 1 and #lines(err) == 1) then
    wrong[#wrong + 1] = ("graft %s -> exit %s: %s"):format(case[1], tostring(code), err)
  end
end
T.ok(#wrong == 0, ("%d flag errors, each one line naming the flag, a suggestion or the type expected, exit 2"):format(#cases))
for _, w in ipairs(wrong) do T.diag(w) end

-- run from a checkout, without LUA_PATH ---------------------------------------------------------
assert(os.execute(("mkdir -p %s/bin && ln -sf %s/bin/graft %s/bin/graft"):format(dir, root, dir)))
out, code, err = sh(("cd %s && env -u LUA_PATH -u LUA_CPATH %s/bin/graft info %s/%s"):format(dir, root, root, shipped))
T.ok(code == 0 and out:find("model: resnet20_cifar", 1, true), "the checkout's bin/graft runs from elsewhere without LUA_PATH")
if code ~= 0 then T.diag(err) end
out, code, err = sh(("cd %s && env -u LUA_PATH -u LUA_CPATH PATH=%s/bin:\"$PATH\" graft eval %s/%s %s/subset"):format(
  dir, dir, root, shipped, dir))
T.ok(code == 1 and err:find('folder "Sneaker"', 1, true), "and through a symlink to it on PATH (its real path is followed)")

-- an error from inside graft reaches the command's user without Lua positions
assert(os.execute(("mkdir -p %s/emptyclass/Trouser %s/emptyclass/Coat && env -u LD_PRELOAD cp %s/subset/Trouser/*.png %s/emptyclass/Trouser/"):format(
  dir, dir, dir, dir)))
out, code, err = sh(("%s eval %s %s/emptyclass"):format(cli, shipped, dir))
T.ok(code == 1 and err:find("Coat has no images", 1, true) and not err:find(":%d+: "),
     "an empty class folder is reported without a Lua position")
if not err:find("Coat has no images", 1, true) or err:find(":%d+: ") then T.diag(err) end

os.execute("rm -rf " .. dir)
T.done()
