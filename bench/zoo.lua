-- bench/zoo.lua — eval-mode images/s at 224x224 through graft's zoo and through
-- torchvision in one run, same threads; prints both and the ratio (graft / PyTorch: above 1
-- means graft is faster). Run with `make bench` (REPS=n for more repeats).
local graft, B = require "graft", require "benchlib"
local threads = graft.get_num_threads()
local reps = tonumber(os.getenv("REPS") or "") or 5
local cases = {{"resnet18", 1}, {"resnet18", 16}, {"resnet50", 16}, {"mobilenet_v2", 16}, {"efficientnet_b0", 16}}

local py = [[
import sys, time, torch, torchvision, warnings
warnings.filterwarnings("ignore")
torch.set_num_threads(int(sys.argv[1]))
reps = int(sys.argv[2])
for arch, batch in [("resnet18", 1), ("resnet18", 16), ("resnet50", 16), ("mobilenet_v2", 16), ("efficientnet_b0", 16)]:
    m = getattr(torchvision.models, arch)().eval()
    x = torch.randn(batch, 3, 224, 224)
    ts = []
    with torch.no_grad():
        for r in range(reps + 1):
            t0 = time.perf_counter(); m(x); dt = time.perf_counter() - t0
            if r >= 1: ts.append(dt)
    ts.sort(); print("%.6f" % ts[(len(ts) - 1) // 2])
]]
local torch_times = B.torch(py, threads, reps)

print(("zoo eval at 224x224, %d threads, median of %d (images/s)"):format(threads, reps))
print(("%-16s %5s  %10s %10s %7s"):format("model", "batch", "graft", "torch", "ratio"))
for i, c in ipairs(cases) do
  local m = graft.models[c[1]]{}
  m:eval()
  local x = graft.randn{c[2], 3, 224, 224}
  local times = {}
  graft.no_grad(function()
    for r = 0, reps do
      local t0 = graft.clock()
      m(x)
      if r >= 1 then times[#times + 1] = graft.clock() - t0 end
    end
  end)
  local g, t = c[2] / B.median(times), c[2] / torch_times[i]
  print(("%-16s %5d  %10.1f %10.1f %7.2f"):format(c[1], c[2], g, t, g / t))
end
