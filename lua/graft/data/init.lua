-- graft.data: data sets with 1-based indices and labels (#ds, ds:get(i) -> x, y).
local core = require "graft.core"

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

--- FashionMNIST(split [, {root}]): split "train" (60000) or "test" (10000); x is f32
-- {1, 28, 28} in [0, 1], y is 1..10 in the data set's class order (ds.classes). The files
-- are read and checked when the data set is made. ds.images (u8 {N, 28, 28}) and ds.labels
-- (i64 {N}, 1-based) hold everything, for batching without copies per item.
local FashionMNIST = dataset_class "FashionMNIST"
FashionMNIST.classes = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                        "Sneaker", "Bag", "Ankle boot"}
function FashionMNIST.new(split, opts)
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
  return setmetatable({split = split, images = images, labels = T.to(labels, "i64") + 1}, FashionMNIST)
end
function FashionMNIST:len() return T.size(self.images, 1) end
function FashionMNIST:get(i)
  local x = T.to(T.unsqueeze(T.select(self.images, 1, i), 1), "f32") / 255
  return x, T.get(self.labels, i)
end
data.FashionMNIST = FashionMNIST

--- TensorDataset(x [, y]): item i is x[i] (and y[i], a Lua number when y is i64).
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
data.TensorDataset = TensorDataset

--- Subset(ds, indices): the items of ds at the given 1-based positions (array or i64 tensor).
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
function Subset:get(i) return self.dataset:get(self.indices[i]) end
data.Subset = Subset

return data
