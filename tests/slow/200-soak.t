#!/usr/bin/env lua5.4
-- tests/slow/200-soak.t — a long run stays bounded: rounds of fit (one epoch of a small CNN on
-- 6,000 Fashion-MNIST images), extract (500 PNG files through the loader's C workers) and
-- evaluate (2,000 test images), for SOAK_SECONDS (default 180; 7200 is the two-hour run).
-- After three rounds of warm-up, the process's RSS and graft's live tensor bytes must stay
-- flat: the end is within 5% + 16 MB of the warm-up level, and the fitted growth per
-- round is under 1 MB. The RSS at start, after warm-up and at the end are printed.
local T, graft, oracle = require "tap", require "graft", require "oracle"
local nn, data = graft.nn, graft.data

local seconds = tonumber(os.getenv("SOAK_SECONDS")) or 180
local function rss_mb()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmRSS:%s+(%d+)")
    if kb then return tonumber(kb) / 1024 end
  end
end
local start_rss = rss_mb()

graft.manual_seed(0)
local train = data.FashionMNIST("train")
local test = data.FashionMNIST("test")
local function tensors(ds, n)
  local idx = graft.arange(1, n + 1)
  return data.TensorDataset((ds.images:index_select(1, idx):to("f32") / 255 - 0.286):unsqueeze(2) / 0.353,
                            ds.labels:index_select(1, idx))
end
local train_ds, test_ds = tensors(train, 6000), tensors(test, 2000)
local dir = oracle.tmpname()
for c = 1, 10 do os.execute(("mkdir -p %s/%02d"):format(dir, c)) end
for i = 1, 500 do graft.image.save(("%s/%02d/%04d.png"):format(dir, test:label(i), i), test:get(i)) end
local folder = data.ImageFolder(dir, {channels = 1, transform = data.transforms.Normalize({0.286}, {0.353})})

local model = nn.Sequential {
  nn.Conv2d(1, 16, 3, {padding = 1}), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
  nn.Conv2d(16, 32, 3, {padding = 1}), nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
  nn.Flatten(), nn.Linear(32, 10),
}
local opt = graft.optim.AdamW(model:parameters(), {lr = 2e-3})
local train_loader = data.Loader(train_ds, {batch_size = 64, shuffle = true, seed = 1})
local test_loader = data.Loader(test_ds, {batch_size = 250})
local folder_loader = data.Loader(folder, {batch_size = 50, workers = 2})

local rounds, rss, live, steps, acc = 0, {}, {}, 0, 0
local began = graft.clock()
while graft.clock() - began < seconds or rounds < 6 do
  rounds = rounds + 1
  local h = graft.fit(model, train_loader, {epochs = 1, optimizer = opt, progress = false})
  steps = steps + h[1].steps
  graft.extract(model, folder_loader, {layer = "8", progress = false})
  acc = graft.evaluate(model, test_loader, {progress = false}).accuracy
  collectgarbage()
  rss[rounds], live[rounds] = rss_mb(), graft.memory().allocated / 2 ^ 20
end
os.execute("rm -rf " .. dir)

local warm = 3
local function slope(ys)   -- least-squares growth per round after warm-up
  local n, sx, sy, sxx, sxy = 0, 0, 0, 0, 0
  for i = warm + 1, #ys do
    n, sx, sy, sxx, sxy = n + 1, sx + i, sy + ys[i], sxx + i * i, sxy + i * ys[i]
  end
  return (n * sxy - sx * sy) / (n * sxx - sx * sx)
end
local warm_rss, end_rss = rss[warm], rss[#rss]
T.diag(("%d rounds, %d training steps, %d s; test accuracy %.3f"):format(rounds, steps, math.floor(graft.clock() - began), acc))
T.diag(("RSS: start %.1f MB, after warm-up %.1f MB, end %.1f MB; live tensors %.1f -> %.1f MB"):format(
  start_rss, warm_rss, end_rss, live[warm], live[#live]))
T.ok(end_rss <= warm_rss * 1.05 + 16, ("RSS stays flat: %.1f MB after warm-up, %.1f MB at the end"):format(warm_rss, end_rss))
T.ok(slope(rss) < 1, ("RSS grows %.3f MB per round after warm-up (under 1)"):format(slope(rss)))
T.ok(live[#live] <= live[warm] + 1, ("graft's live tensor memory stays flat: %.1f -> %.1f MB"):format(live[warm], live[#live]))
T.ok(acc > 0.7, ("the model learns meanwhile (test accuracy %.3f)"):format(acc))
T.done()
