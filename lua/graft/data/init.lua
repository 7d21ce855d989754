--- graft.data: data sets with 1-based indices and labels (#ds, ds:get(i) -> x, y).
-- A data set is any table with `#ds` (or `ds:len()`), `ds:get(i [, rng])` returning an
-- input and a label, and optionally `ds:label(i)` (the label without loading the input)
-- and `ds.classes`; the built-in ones below have all of them.
-- @module graft.data
local core = require "graft.core"
local options = require "graft.options"

local T = core.Tensor
local data = {}
data.transforms = require "graft.data.transforms"

--- rng(seed, epoch, index): the per-sample generator the loader hands to transforms
-- (rng:uniform([a, b]), rng:integer(a, b)); rng() seeds one from graft's own generator.
function data.rng(seed, epoch, index)
  if seed == nil then return core.rng() end
  return core.rng(seed, epoch or 0, index or 0)
end

-- A data-set class: instances answer #ds through the class's len().
local function dataset_class(name)
  local c = {__name = name}
  c.__index = c
  c.__len = function(self) return self:len() end
  setmetatable(c, {__call = function(cls, ...) return cls.new(...) end})
  return c
end

--- FashionMNIST(split [, {root, transform}]): split "train" (60000) or "test" (10000); x
-- is f32 {1, 28, 28} in [0, 1] (then `transform`, if given), y is 1..10 in the data set's
-- class order (ds.classes). The files are read and checked when the data set is made.
-- ds.images (u8 {N, 28, 28}) and ds.labels (i64 {N}, 1-based) hold everything, so the
-- loader batches without copies per item.
-- @function FashionMNIST
local FashionMNIST = dataset_class "FashionMNIST"
FashionMNIST.classes = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                        "Sneaker", "Bag", "Ankle boot"}
function FashionMNIST.new(split, opts)
  opts = options.check("FashionMNIST", opts, {root = "string", transform = "callable"})
  local root = opts and opts.root or "/usr/share/datasets/fashion-mnist"
  local prefix = ({train = "train", test = "t10k"})[split]
  if not prefix then error(('FashionMNIST: split must be "train" or "test", not %q'):format(tostring(split)), 3) end
  local function read(kind)
    local path = ("%s/%s-%s-idx%d-ubyte.gz"):format(root, prefix, kind, kind == "images" and 3 or 1)
    local ok, t = pcall(core.read_idx, path)
    if not ok then error("FashionMNIST: " .. tostring(t) .. " (Debian's package dataset-fashion-mnist has the files)", 4) end
    return t, path
  end
  local images, ipath = read("images")
  local labels, lpath = read("labels")
  local is, ls = T.shape(images), T.shape(labels)
  if T.dtype(images) ~= "u8" or #is ~= 3 or is[2] ~= 28 or is[3] ~= 28 then
    error(("FashionMNIST: %s holds %s, not u8 images {N, 28, 28}"):format(ipath, T.dtype(images)), 3)
  end
  if T.dtype(labels) ~= "u8" or #ls ~= 1 or ls[1] ~= is[1] then
    error(("FashionMNIST: %s does not hold one u8 label per image (%d images)"):format(lpath, is[1]), 3)
  end
  if ls[1] > 0 and T.max(labels):item() > 9 then error(("FashionMNIST: %s has a label above 9"):format(lpath), 3) end
  return setmetatable({split = split, images = images, labels = T.to(labels, "i64") + 1,
                       transform = opts and opts.transform}, FashionMNIST)
end
function FashionMNIST:len() return T.size(self.images, 1) end
function FashionMNIST:get(i, rng)
  local x = T.to(T.unsqueeze(T.select(self.images, 1, i), 1), "f32") / 255
  if self.transform then x = self.transform(x, rng) end
  return x, T.get(self.labels, i)
end
function FashionMNIST:label(i) return T.get(self.labels, i) end
-- A whole batch at once (no transform): one gather and one conversion.
function FashionMNIST:_batch(idx)
  local x = T.to(T.unsqueeze(T.index_select(self.images, 1, idx), 2), "f32") / 255
  return x, T.index_select(self.labels, 1, idx)
end
data.FashionMNIST = FashionMNIST

--- TensorDataset(x [, y]): item i is x[i] (and y[i], a Lua number when y is i64).
-- @function TensorDataset
local TensorDataset = dataset_class "TensorDataset"
function TensorDataset.new(x, y)
  if y and T.size(y, 1) ~= T.size(x, 1) then
    error(("TensorDataset: %d inputs but %d targets"):format(T.size(x, 1), T.size(y, 1)), 3)
  end
  return setmetatable({x = x, y = y}, TensorDataset)
end
function TensorDataset:len() return T.size(self.x, 1) end
function TensorDataset:get(i)
  local x = T.select(self.x, 1, i)
  if not self.y then return x end
  local y = T.select(self.y, 1, i)
  return x, T.dim(y) == 0 and T.item(y) or y
end
function TensorDataset:label(i) return self.y and T.get(self.y, i) end
function TensorDataset:_batch(idx)
  return T.index_select(self.x, 1, idx), self.y and T.index_select(self.y, 1, idx)
end
data.TensorDataset = TensorDataset

--- Subset(ds, indices): the items of ds at the given 1-based positions (array or i64 tensor).
-- @function Subset
local Subset = dataset_class "Subset"
function Subset.new(ds, indices)
  local list = type(indices) == "table" and indices or T.totable(indices)
  local n = #ds
  for k, i in ipairs(list) do
    if math.type(i) ~= "integer" or i < 1 or i > n then
      error(("Subset: index %s (position %d) is out of range for a data set of %d"):format(tostring(i), k, n), 3)
    end
  end
  return setmetatable({dataset = ds, indices = list}, Subset)
end
function Subset:len() return #self.indices end
function Subset:get(i, rng) return self.dataset:get(self.indices[i], rng) end
function Subset:label(i) return data.label(self.dataset, self.indices[i]) end
data.Subset = Subset

--- label(ds, i): item i's label without loading its input where the data set knows it.
function data.label(ds, i)
  if ds.label then return ds:label(i) end
  local _, y = ds:get(i)
  return y
end

-- A permutation of 1..n that depends only on the generator (Fisher-Yates).
local function permutation(n, rng)
  local p = {}
  for i = 1, n do p[i] = i end
  for i = n, 2, -1 do
    local j = rng:integer(1, i)
    p[i], p[j] = p[j], p[i]
  end
  return p
end
data._permutation = permutation

-- A seed from graft's own generator (so graft.manual_seed governs defaults).
local function fresh_seed() return core.rng():integer(0, (1 << 53) - 1) end
data._fresh_seed = fresh_seed

--- random_split(ds, sizes [, seed]): Subsets of the given sizes (counts summing to #ds, or
-- fractions summing to 1, the remainder spread one by one as PyTorch does) over a random
-- permutation that depends only on seed.
function data.random_split(ds, sizes, seed)
  local n = #ds
  if type(sizes) ~= "table" or #sizes == 0 then error("random_split: sizes must be a non-empty array", 2) end
  local counts, total, fractional = {}, 0, false
  for _, v in ipairs(sizes) do fractional = fractional or math.type(v) ~= "integer" end
  if fractional then
    local sum = 0
    for _, f in ipairs(sizes) do
      if type(f) ~= "number" or f < 0 then error("random_split: fractions must be non-negative numbers", 2) end
      sum = sum + f
    end
    if math.abs(sum - 1) > 1e-6 then error(("random_split: fractions sum to %g, not 1"):format(sum), 2) end
    for i, f in ipairs(sizes) do counts[i] = math.floor(n * f); total = total + counts[i] end
    for i = 0, n - total - 1 do counts[i % #counts + 1] = counts[i % #counts + 1] + 1 end
  else
    for i, c in ipairs(sizes) do
      if c < 0 then error("random_split: sizes must be non-negative", 2) end
      counts[i] = c
      total = total + c
    end
    if total ~= n then error(("random_split: sizes sum to %d, but the data set has %d items"):format(total, n), 2) end
  end
  local perm = permutation(n, core.rng(seed or fresh_seed(), 0, 0))
  local parts, at = {}, 0
  for i, c in ipairs(counts) do
    parts[i] = Subset.new(ds, table.move(perm, at + 1, at + c, 1, {}))
    at = at + c
  end
  return table.unpack(parts)
end

--- per_class(ds, k [, {seed, classes}]): a Subset with k items of each class (the first k of
-- a seeded shuffle; for few-shot experiments), and a Subset of everything else. `classes`
-- limits it to some labels. A class with fewer than k items is an error.
function data.per_class(ds, k, opts)
  opts = options.check("per_class", opts, {seed = "integer", classes = "table"})
  if math.type(k) ~= "integer" or k < 0 then error("per_class: k must be a non-negative integer", 2) end
  local wanted
  if opts.classes then
    wanted = {}
    for _, c in ipairs(opts.classes) do wanted[c] = true end
  end
  local order = permutation(#ds, core.rng(opts.seed or fresh_seed(), 0, 1))
  local taken, chosen, rest, seen = {}, {}, {}, {}
  for _, i in ipairs(order) do
    local y = data.label(ds, i)
    if not wanted or wanted[y] then
      seen[y] = true
      taken[y] = (taken[y] or 0) + 1
      if taken[y] <= k then chosen[#chosen + 1] = i else rest[#rest + 1] = i end
    else
      rest[#rest + 1] = i
    end
  end
  for y in pairs(wanted or seen) do
    if (taken[y] or 0) < k then
      error(("per_class: class %s has %d items, fewer than k = %d"):format(tostring(y), taken[y] or 0, k), 2)
    end
  end
  table.sort(chosen)
  table.sort(rest)
  return Subset.new(ds, chosen), Subset.new(ds, rest)
end

--- ImageFolder(root [, {transform, extensions, classes, channels, on_error}]): one folder per
-- class under root (found recursively inside it, hidden files and folders skipped); labels
-- follow the sorted class names in ds.classes (or the given `classes`). Images load with
-- `channels` (default 3: RGB, as torchvision) and go through `transform`; built-in transforms
-- run in the loader's C threads. A class folder without images, or a file that is not a
-- PNG/JPEG, is an error; on_error = "skip" leaves such files out (and bad images found while
-- loading) with a warning that lists them.
-- @function ImageFolder
local ImageFolder = dataset_class "ImageFolder"
local DEFAULT_EXTENSIONS = {"png", "jpg", "jpeg"}

--- data.warn(message): where data-set warnings go: graft.warn (standard error unless
-- graft.set_warn installed a handler); replace it to handle only the data sets' warnings.
function data.warn(message) require("graft.runtime").warn(message) end

local function warn_files(what, list)
  data.warn(("graft.data.ImageFolder: %s (%d):\n  %s"):format(what, #list, table.concat(list, "\n  ")))
end

local function walk(dir, accept, out)
  local names, kinds = core.listdir(dir)
  for i, name in ipairs(names) do
    if name:sub(1, 1) ~= "." then
      local path = dir .. "/" .. name
      if kinds[i] == "dir" then walk(path, accept, out)
      elseif kinds[i] == "file" and accept(name) then out[#out + 1] = path end
    end
  end
  return out
end

function ImageFolder.new(root, opts)
  opts = options.check("ImageFolder", opts, {transform = "callable", extensions = "table", classes = "table",
                                             channels = "integer", on_error = "string"})
  if type(root) ~= "string" then error("ImageFolder: root must be a path", 3) end
  local ok, names, kinds = pcall(core.listdir, root)
  if not ok then error("ImageFolder: " .. tostring(names), 3) end
  local skip = opts.on_error == "skip"
  if opts.on_error ~= nil and not skip and opts.on_error ~= "error" then
    error('ImageFolder: on_error must be "error" or "skip"', 3)
  end
  local ext = {}
  for _, e in ipairs(opts.extensions or DEFAULT_EXTENSIONS) do ext[e:lower():gsub("^%.", "")] = true end
  local function accept(name)
    local e = name:match("%.([^.]+)$")
    return e ~= nil and ext[e:lower()] == true
  end
  local classes = {}
  if opts.classes then
    for i, c in ipairs(opts.classes) do classes[i] = c end
  else
    for i, name in ipairs(names) do
      if kinds[i] == "dir" and name:sub(1, 1) ~= "." then classes[#classes + 1] = name end
    end
  end
  if #classes == 0 then error(("ImageFolder: %s has no class folders"):format(root), 3) end
  local samples, targets, empty, bad = {}, {}, {}, {}
  for label, class in ipairs(classes) do
    local files = walk(root .. "/" .. class, accept, {})
    local good = 0
    for _, path in ipairs(files) do
      local format, why = core.image_probe(path)
      if format then
        samples[#samples + 1] = path
        targets[#targets + 1] = label
        good = good + 1
      else
        bad[#bad + 1] = why
      end
    end
    if good == 0 then empty[#empty + 1] = root .. "/" .. class end
  end
  if #bad > 0 then
    if not skip then error(("ImageFolder: %s (and %d more unreadable files; on_error = \"skip\" leaves them out)"):format(bad[1], #bad - 1), 3) end
    warn_files("skipped files that are not readable PNG or JPEG images", bad)
  end
  if #empty > 0 then
    if not skip then
      error(("ImageFolder: class folder %s has no images (extensions: %s)"):format(empty[1], table.concat(opts.extensions or DEFAULT_EXTENSIONS, ", ")), 3)
    end
    warn_files("class folders without images", empty)
  end
  local class_to_idx = {}
  for i, c in ipairs(classes) do class_to_idx[c] = i end
  local channels = opts.channels or 3
  if channels ~= 0 and channels ~= 1 and channels ~= 3 and channels ~= 4 then
    error("ImageFolder: channels must be 1, 3, 4 (or 0: each file's own)", 3)
  end
  return setmetatable({root = root, classes = classes, class_to_idx = class_to_idx, samples = samples,
                       targets = targets, transform = opts.transform, channels = channels, skip_bad = skip},
                      ImageFolder)
end
function ImageFolder:len() return #self.samples end
function ImageFolder:label(i) return self.targets[i] end
function ImageFolder:get(i, rng)
  local path = self.samples[i]
  if not path then error(("ImageFolder: index %s is out of range 1..%d"):format(tostring(i), #self.samples), 2) end
  local x = require("graft.image").load(path, {channels = self.channels})
  if self.transform then x = self.transform(x, rng) end
  return x, self.targets[i]
end
data.ImageFolder = ImageFolder
data._warn_files = warn_files

-- A transform's identity for fingerprints: its built-in steps; Lua functions have none.
local function transform_key(t)
  if t == nil then return "none" end
  if type(t) == "table" and t.steps and #t.rest == 0 then return require("graft.json").encode(t.steps) end
  return nil
end

--- fingerprint(ds): a 64-bit integer that changes when the items would (files: paths, sizes
-- and modification times; tensors: their contents; the transform's steps), or nil when it
-- cannot tell (a Lua transform, a data set of another kind without ds:fingerprint()).
function data.fingerprint(ds)
  local mt = getmetatable(ds)
  if type(ds.fingerprint) == "function" then return ds:fingerprint() end
  local h
  if mt == Subset then
    local parent = data.fingerprint(ds.dataset)
    if not parent then return nil end
    h = core.fingerprint(table.concat(ds.indices, ","), parent)
  else
    local key = transform_key(ds.transform)
    if not key then return nil end
    h = core.fingerprint(key)
    if mt == ImageFolder then
      h = core.fingerprint(tostring(ds.channels), h)
      for i, path in ipairs(ds.samples) do
        local size, mtime = core.stat(path)
        h = core.fingerprint(("%s|%s|%s|%d"):format(path, tostring(size), tostring(mtime), ds.targets[i]), h)
      end
    elseif mt == FashionMNIST then
      h = core.fingerprint(ds.labels, core.fingerprint(ds.images, h))
    elseif mt == TensorDataset then
      h = core.fingerprint(ds.x, h)
      if ds.y then h = core.fingerprint(ds.y, h) end
    else
      return nil
    end
  end
  return h
end

--- Labelled text from a CSV, TSV or JSON-lines file (CSV and TSV with a header row; CSV
-- quoting as RFC 4180). `ds:get(i)` is the text (or `{text, pair}`) and the 1-based class.
-- With a tokenizer, a Loader's batches are `{input_ids, token_type_ids, attention_mask}`
-- (i64 {B, T}, padded to each batch's longest item) and labels, for bert_classifier.
-- @string path the file
-- @tparam[opt] table opts `{text = "text", label = "label", text_pair, format (from the
-- extension), classes (default: the labels seen, sorted; numerically when all are
-- numbers), tokenizer, max_length = 128}`
-- @function TextClassification
data.TextClassification = require "graft.data.text"
data.Loader = require "graft.data.loader"

return data
