#!/usr/bin/env lua5.4
-- tests/720-data.t — data sets and the loader: Fashion-MNIST against PyTorch reading the
-- same files; an ImageFolder tree of PNGs written by examples/fmnist_to_folder.lua (labels,
-- pixels, hidden files, bad files, empty classes); the loader's batches are the same for 0,
-- 1 and 2 worker threads and equal ds:get with the per-sample generator; shuffling per
-- (seed, epoch); drop_last; Subsets, random_split, per_class; resuming a loader's state.
local T, graft, oracle = require "tap", require "graft", require "oracle"
local data, tf = graft.data, graft.data.transforms
local warnings = {}
function data.warn(msg) warnings[#warnings + 1] = msg end

-- Fashion-MNIST: every image and label as torchvision's reader gives them.
local train, test = data.FashionMNIST("train"), data.FashionMNIST("test")
T.is(#train, 60000, "Fashion-MNIST train has 60,000 images")
T.is(#test, 10000, "Fashion-MNIST test has 10,000 images")
local ref = oracle.run([==[
import gzip, os, tempfile
from torchvision.datasets.mnist import read_image_file, read_label_file
root = "/usr/share/datasets/fashion-mnist"
def read(name, fn):
    with tempfile.NamedTemporaryFile() as f:
        f.write(gzip.open(os.path.join(root, name)).read()); f.flush()
        return fn(f.name)
for split, prefix in (("train", "train"), ("test", "t10k")):
    out[split + "_images"] = read(prefix + "-images-idx3-ubyte.gz", read_image_file)
    out[split + "_labels"] = read(prefix + "-labels-idx1-ubyte.gz", read_label_file).long() + 1
]==], {})
for _, s in ipairs {{"train", train}, {"test", test}} do
  local name, ds = s[1], s[2]
  T.ok(graft.allclose(ds.images:to("f32"), ref[name .. "_images"]:to("f32"), 0, 0), name .. ": every pixel equals torchvision's reader")
  T.ok(graft.allclose(ds.labels:to("f32"), ref[name .. "_labels"]:to("f32"), 0, 0), name .. ": every label (1-based) equals torchvision's + 1")
end
local x1, y1 = train:get(1)
T.ok(T.render(x1:shape()) == "{1, 28, 28}" and x1:dtype() == "f32" and x1:max():item() <= 1 and y1 == ref.train_labels:get(1),
     "FashionMNIST:get gives f32 {1, 28, 28} in [0, 1] and a Lua label")
T.error_like(function() data.FashionMNIST("train", {root = "/nonexistent"}) end, "dataset-fashion-mnist",
             "missing files name the Debian package")
T.error_like(function() data.FashionMNIST("val") end, 'split must be "train" or "test"', "an unknown split")

-- An ImageFolder tree made by the example script.
local dir = oracle.tmpname()
local script = "examples/fmnist_to_folder.lua"
assert(os.execute(("lua5.4 %s %s --limit 120 > /dev/null"):format(script, dir)), "fmnist_to_folder.lua failed")
local folder = data.ImageFolder(dir .. "/train", {channels = 1})
T.is(#folder, 120, "ImageFolder finds the 120 PNGs")
T.is(#folder.classes, 10, "one class per folder")
T.is(folder.classes[10], "10-Ankle_boot", "class names are the sorted folder names")
local same_pixels, same_labels = true, true
for i = 1, #folder do
  local x, y = folder:get(i)
  local k = tonumber(folder.samples[i]:match("(%d+)%.png$"))
  local fx, fy = train:get(k)
  same_pixels = same_pixels and graft.allclose(x, fx, 0, 0)
  same_labels = same_labels and y == fy
end
T.ok(same_pixels and same_labels, "every image and label of the folder equals the Fashion-MNIST item it came from")
T.is(T.render(data.ImageFolder(dir .. "/train"):get(1):shape()), "{3, 28, 28}", "ImageFolder loads RGB by default, as torchvision")

-- Hidden files are skipped; non-images and empty classes are errors, or skipped with a warning.
local function touch(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text or "")
  f:close()
end
touch(dir .. "/train/01-T_shirt_top/.hidden.png", "not an image")
assert(os.execute(("mkdir -p %s/train/.cache && cp %s %s/train/.cache/x.png"):format(dir, folder.samples[1], dir)))
T.is(#data.ImageFolder(dir .. "/train"), 120, "hidden files and folders are skipped")
assert(os.execute(("cp %s %s/train/02-Trouser/UPPER.PNG"):format(folder.samples[1], dir)))
T.is(#data.ImageFolder(dir .. "/train"), 121, "extensions match without case")
T.is(#data.ImageFolder(dir .. "/train", {extensions = {"jpg"}, on_error = "skip"}), 0, "extensions limits the files (skip: every class empty)")
touch(dir .. "/train/03-Pullover/notes.png", "these are notes")
T.error_like(function() data.ImageFolder(dir .. "/train") end, "notes.png: not a PNG or JPEG file", "a non-image is an error naming it")
local skipped = data.ImageFolder(dir .. "/train", {on_error = "skip"})
T.ok(#skipped == 121 and warnings[#warnings]:find("notes.png: not a PNG or JPEG file", 1, true),
     "on_error = \"skip\" leaves it out, with a warning naming it")
assert(os.execute("mkdir -p " .. dir .. "/train/11-Empty"))
T.error_like(function() data.ImageFolder(dir .. "/train", {on_error = "error"}) end, "notes.png", "the first problem is reported")
os.remove(dir .. "/train/03-Pullover/notes.png")
T.error_like(function() data.ImageFolder(dir .. "/train") end, "11-Empty has no images", "an empty class folder is an error")
T.is(#data.ImageFolder(dir .. "/train", {classes = {"02-Trouser", "01-T_shirt_top"}}).classes, 2, "classes picks and orders classes")
assert(os.execute("rmdir " .. dir .. "/train/11-Empty"))
os.remove(dir .. "/train/02-Trouser/UPPER.PNG")
T.error_like(function() data.ImageFolder(dir .. "/nowhere") end, "nowhere: cannot list", "a missing root is named")

-- The loader: identical batches for 0, 1 and 2 workers, equal to ds:get with the sample's generator.
local augment = tf.Compose {tf.RandomResizedCrop(20, {scale = {0.3, 1}}), tf.RandomHorizontalFlip(), tf.ColorJitter(0.3, 0.3),
                            tf.Normalize({0.5}, {0.25})}
local aug = data.ImageFolder(dir .. "/train", {channels = 1, transform = augment})
local function epoch_of(loader)
  local xs, ys = {}, {}
  for x, y in loader:iter() do xs[#xs + 1], ys[#ys + 1] = x, y end
  return xs, ys
end
local function same_batches(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do
    if T.render(a[i]:shape()) ~= T.render(b[i]:shape()) or not graft.allclose(a[i]:to("f32"), b[i]:to("f32"), 0, 0) then return false end
  end
  return true
end
local runs = {}
for _, w in ipairs {0, 1, 2} do
  local loader = data.Loader(aug, {batch_size = 16, shuffle = true, seed = 77, workers = w})
  runs[w] = {epoch_of(loader)}
  runs[w][3] = {epoch_of(loader)}
end
T.ok(same_batches(runs[0][1], runs[1][1]) and same_batches(runs[0][1], runs[2][1]) and same_batches(runs[0][2], runs[2][2]),
     "batches (random crops, flips, jitter) are identical with 0, 1 and 2 workers")
T.ok(same_batches(runs[0][3][1], runs[2][3][1]), "and in the second epoch")
T.ok(not same_batches(runs[0][1], runs[0][3][1]), "the second epoch differs from the first")
local loader = data.Loader(aug, {batch_size = 16, shuffle = true, seed = 77, workers = 2})
local order = loader:order(1)
local xb = runs[2][1][1]
local by_get = true
for k = 1, 16 do
  local x = aug:get(order[k], data.rng(77, 1, order[k]))
  by_get = by_get and graft.allclose(xb:select(1, k), x, 0, 0)
end
T.ok(by_get, "a loader batch equals ds:get(i, rng(seed, epoch, i)) item by item (C threads = Lua thread)")
T.is(#loader, 8, "#loader counts the last partial batch")
T.is(runs[2][1][8]:size(1), 120 - 7 * 16, "the last batch is partial")
T.is(#data.Loader(aug, {batch_size = 16, drop_last = true}), 7, "drop_last drops it")
local labels_ok, seen = true, {}
for k, y in ipairs(runs[2][2]) do
  for j = 1, y:size(1) do
    local i = order[(k - 1) * 16 + j]
    labels_ok = labels_ok and y:get(j) == aug.targets[i]
    seen[i] = (seen[i] or 0) + 1
  end
end
local once = true
for i = 1, #aug do once = once and seen[i] == 1 end
T.ok(labels_ok and once and runs[2][2][1]:dtype() == "i64", "each item appears once per epoch, with its i64 label")
local o1, o2 = data.Loader(aug, {shuffle = true, seed = 1}):order(1), data.Loader(aug, {shuffle = true, seed = 2}):order(1)
T.ok(table.concat(o1, ",") ~= table.concat(o2, ","), "another seed shuffles otherwise")
T.is(table.concat(data.Loader(aug, {}):order(3), ",", 1, 5), "1,2,3,4,5", "without shuffle the order is the data set's")

-- Leaving an epoch early and resuming from a state dict.
local l1 = data.Loader(aug, {batch_size = 16, shuffle = true, seed = 77, workers = 2})
for _ in l1:iter() do break end
local state = l1:state_dict()
local l2 = data.Loader(aug, {batch_size = 16, seed = 1, shuffle = true, workers = 1})
l2:load_state_dict(state)
T.ok(same_batches(epoch_of(l2), runs[0][3][1]), "a loader restored from state_dict() continues with the next epoch's batches")
T.ok(same_batches(epoch_of(l1), runs[0][3][1]), "an epoch left early does not disturb the next")
l1:close()

-- A Lua function after built-in steps runs on the Lua thread with the sample's generator.
local mixed = data.ImageFolder(dir .. "/train", {channels = 1,
  transform = tf.Compose {tf.RandomCrop(24), function(x, rng) return x + rng:uniform() end}})
local mx = epoch_of(data.Loader(mixed, {batch_size = 40, seed = 3, workers = 2}))
local want = mixed:get(2, data.rng(3, 1, 2))
T.ok(graft.allclose(mx[1]:select(1, 2), want, 0, 0), "Lua transforms continue the sample's generator after the C steps")

-- Subsets (random_split) of an ImageFolder still load in the C threads.
local a, b = data.random_split(folder, {100, 20}, 4)
local a2 = data.random_split(folder, {100, 20}, 4)
T.ok(#a == 100 and #b == 20 and table.concat(a.indices, ",") == table.concat(a2.indices, ","), "random_split: sizes, repeatable for a seed")
local inter = {}
for _, i in ipairs(a.indices) do inter[i] = true end
local disjoint = true
for _, i in ipairs(b.indices) do disjoint = disjoint and not inter[i] end
T.ok(disjoint, "random_split's parts are disjoint")
local f1, f2, f3 = data.random_split(train, {0.7, 0.2, 0.1}, 1)
T.ok(#f1 + #f2 + #f3 == 60000 and #f1 == 42000, "random_split by fractions")
local sx, sy = epoch_of(data.Loader(b, {batch_size = 8}))
local sub_ok = true
for k = 1, #sx do
  for j = 1, sx[k]:size(1) do
    local x, y = b:get((k - 1) * 8 + j)
    sub_ok = sub_ok and graft.allclose(sx[k]:select(1, j), x, 0, 0) and sy[k]:get(j) == y
  end
end
T.ok(sub_ok, "a Subset of an ImageFolder batches the right images and labels")

-- per_class: k items of each class, the rest apart.
local shots, rest = data.per_class(train, 5, {seed = 9})
local counts = {}
for i = 1, #shots do counts[data.label(shots, i)] = (counts[data.label(shots, i)] or 0) + 1 end
local five = true
for c = 1, 10 do five = five and counts[c] == 5 end
T.ok(#shots == 50 and five and #rest == 59950, "per_class(train, 5): 5 of each of the 10 classes, 59,950 others")
local half = data.per_class(train, 3, {seed = 9, classes = {1, 2, 3, 4, 5}})
T.is(#half, 15, "per_class limited to some classes")
T.error_like(function() data.per_class(b, 30) end, "fewer than k = 30", "a class with fewer than k items")

-- Tensor data sets batch with one gather; other data sets item by item.
local tx = data.Loader(train, {batch_size = 1000, shuffle = true, seed = 2})
local first_x, first_y = tx:iter()()
local k1 = tx:order(1)[1]
T.ok(first_x:size(1) == 1000 and graft.allclose(first_x:select(1, 1), (train:get(k1)), 0, 0) and first_y:get(1) == train:label(k1),
     "Fashion-MNIST batches by gather equal its items")
local xs_t, ys_t = graft.randn(10, 4), graft.arange(1, 11)
local tl = {epoch_of(data.Loader(data.TensorDataset(xs_t, ys_t), {batch_size = 4}))}
T.ok(graft.allclose(tl[1][1], xs_t:narrow(1, 1, 4), 0, 0) and tl[2][3]:size(1) == 2, "TensorDataset batches")
local custom = setmetatable({}, {__len = function() return 5 end})
function custom:get(i, rng) return graft.full({2}, i + rng:uniform() * 0), i * 10 end
local cx, cy = epoch_of(data.Loader(custom, {batch_size = 5}))
T.ok(graft.allclose(cx[1]:select(2, 1), graft.arange(1, 6):to("f32"), 0, 0) and cy[1]:get(5) == 50, "any table with # and get batches item by item")

-- A corrupt image found while loading: an error naming it, or skipped with on_error = "skip".
local victim = folder.samples[5]
local f = assert(io.open(victim, "rb"))
local bytes = f:read("a")
f:close()
touch(victim, bytes:sub(1, #bytes // 2))
local strict = data.ImageFolder(dir .. "/train", {channels = 1})
T.error_like(function() for _ in data.Loader(strict, {batch_size = 8, workers = 2}):iter() do end end,
             victim:match("[^/]+/[^/]+$") .. ": bad PNG", "a truncated image stops the loader with its name")
local lenient = data.ImageFolder(dir .. "/train", {channels = 1, on_error = "skip"})
local ll = data.Loader(lenient, {batch_size = 8, workers = 2})
local lx = epoch_of(ll)
T.ok(lx[1]:size(1) == 7 and #ll.skipped == 1 and ll.skipped[1]:find(victim, 1, true) and warnings[#warnings]:find(victim, 1, true),
     "on_error = \"skip\" drops it from its batch, warns and lists it")
T.ok(ll.stats.items == 119 and ll.stats.items_per_second > 0, "the loader reports items and items/s")

os.execute("rm -rf " .. dir)
T.done()
