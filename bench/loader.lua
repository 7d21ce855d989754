-- bench/loader.lua — the input pipeline: an ImageFolder of 256x256 PNGs (and one of JPEGs)
-- through imagenet_train(224) into batches of 32. graft's Loader with 1 and 2 worker
-- threads against torchvision's ImageFolder + DataLoader with num_workers 0 and 2, in the
-- same run, on the same files. Prints images/s and the ratios.
--   lua5.4 bench/loader.lua [N images per format = 2000] [epochs = 2]
local graft = require "graft"
local B = require "benchlib"

local n = tonumber(arg[1]) or 2000
local epochs = tonumber(arg[2]) or 2
local root = os.getenv("GRAFT_BENCH_DIR") or "/tmp/graft-bench-loader"

-- The image sets: Fashion-MNIST items upscaled to 256x256 and tinted, so the files hold
-- smooth photo-like content; made once and reused.
local function ensure(format)
  local dir = ("%s/%s%d"):format(root, format, n)
  if os.execute(("test -f %s/.done"):format(dir)) then return dir end
  B.torch(([==[
import gzip, os, numpy as np
from PIL import Image
d, fmt, n = "%s", "%s", %d
raw = gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").read()[16:]
imgs = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 28, 28)
labels = np.frombuffer(gzip.open("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz").read()[8:], dtype=np.uint8)
rng = np.random.RandomState(0)
for c in range(10): os.makedirs(f"{d}/class{c}", exist_ok=True)
for i in range(n):
    g = np.asarray(Image.fromarray(imgs[i]).resize((256, 256), Image.BILINEAR), dtype=np.float32)
    tint = rng.uniform(0.4, 1.0, 3)
    rgb = np.clip(g[:, :, None] * tint + rng.uniform(0, 60, 3), 0, 255).astype(np.uint8)
    im = Image.fromarray(rgb)
    path = f"{d}/class{labels[i]}/{i:05d}." + ("png" if fmt == "png" else "jpg")
    im.save(path, quality=90) if fmt == "jpeg" else im.save(path)
open(f"{d}/.done", "w").close()
print(n)
]==]):format(dir, format, n))
  return dir
end

local function graft_rate(dir, workers)
  local ds = graft.data.ImageFolder(dir, {transform = graft.data.transforms.imagenet_train(224)})
  local loader = graft.data.Loader(ds, {batch_size = 32, shuffle = true, seed = 1, workers = workers})
  local rates = {}
  for _ = 1, epochs do
    local t0, items = graft.clock(), 0
    for x in loader:iter() do items = items + x:size(1) end
    rates[#rates + 1] = items / (graft.clock() - t0)
  end
  loader:close()
  return B.median(rates)
end

local TORCH = [==[
import sys, time, torch
from torchvision import datasets, transforms as T
torch.set_num_threads(2)
root, workers, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tf = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(),
                T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
loader = torch.utils.data.DataLoader(datasets.ImageFolder(root, tf), batch_size=32, shuffle=True, num_workers=workers)
rates = []
for _ in range(epochs):
    t0, items = time.perf_counter(), 0
    for x, y in loader: items += x.shape[0]
    rates.append(items / (time.perf_counter() - t0))
print(sorted(rates)[(len(rates) - 1) // 2])
]==]

print(("%-6s %-30s %10s %8s"):format("files", "loader", "images/s", "ratio"))
for _, format in ipairs {"png", "jpeg"} do
  local dir = ensure(format)
  local torch0 = B.torch(TORCH, dir, 0, epochs)[1]
  local torch2 = B.torch(TORCH, dir, 2, epochs)[1]
  local g1, g2 = graft_rate(dir, 1), graft_rate(dir, 2)
  local rows = {
    {"torchvision DataLoader, 0 workers", torch0}, {"torchvision DataLoader, 2 workers", torch2},
    {"graft Loader, 1 worker", g1}, {"graft Loader, 2 workers", g2},
  }
  for _, r in ipairs(rows) do
    print(("%-6s %-34s %8.0f %8s"):format(format, r[1], r[2], r[1]:match("^graft") and ("%.2fx"):format(r[2] / torch2) or ""))
  end
  print(("%-6s graft 2 workers / torchvision 0 workers: %.2fx"):format(format, g2 / torch0))
end
