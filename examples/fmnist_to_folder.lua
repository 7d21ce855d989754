#!/usr/bin/env lua5.4
--- Writes Fashion-MNIST as an ImageFolder tree of PNG files:
--   OUT/train/<class>/<n>.png and OUT/test/<class>/<n>.png (28x28 gray).
-- Usage: lua5.4 examples/fmnist_to_folder.lua OUT [--limit N] [--size S]
--   --limit N   at most N images per split (the first N of each file), default all
--   --size S    resize to S x S (e.g. 256, to exercise the ImageNet transforms)
--   --rgb       write 3-channel images
-- Class folders are named "01-T-shirt_top" ... "10-Ankle_boot", so their sorted order is
-- the data set's class order and ImageFolder's labels equal Fashion-MNIST's.
local graft = require "graft"

local out, limit, size, rgb = nil, math.huge, nil, false
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == "--limit" then limit = assert(tonumber(arg[i + 1]), "--limit needs a number"); i = i + 1
  elseif a == "--size" then size = assert(math.tointeger(tonumber(arg[i + 1])), "--size needs an integer"); i = i + 1
  elseif a == "--rgb" then rgb = true
  elseif not out then out = a
  else error("unexpected argument " .. a) end
  i = i + 1
end
if not out then
  io.stderr:write("usage: lua5.4 examples/fmnist_to_folder.lua OUT [--limit N] [--size S] [--rgb]\n")
  os.exit(2)
end

local function folder_name(label, class)
  return ("%02d-%s"):format(label, (class:gsub("[^%w]+", "_")))
end

local resize = size and graft.data.transforms.Resize({size, size})
for _, split in ipairs {"train", "test"} do
  local ds = graft.data.FashionMNIST(split)
  for label, class in ipairs(ds.classes) do
    assert(os.execute(("mkdir -p '%s/%s/%s'"):format(out, split, folder_name(label, class))))
  end
  local n = math.min(#ds, limit)
  for k = 1, n do
    local x, y = ds:get(k)
    if resize then x = resize(x) end
    if rgb then x = x:expand(3, -1, -1) end
    graft.image.save(("%s/%s/%s/%05d.png"):format(out, split, folder_name(y, ds.classes[y]), k), x)
  end
  print(("%s: %d images in %s/%s"):format(split, n, out, split))
end
