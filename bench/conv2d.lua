-- bench/conv2d.lua — conv2d forward and forward+backward for ResNet-shaped layers (batch 16)
-- through graft.F and through PyTorch (oneDNN) in one run, same threads; prints medians
-- and the time ratios (graft / PyTorch: below 1 is faster). Run with `make bench`.
local graft, B = require "graft", require "benchlib"
local F = graft.F
local threads = graft.get_num_threads()

local layers = {   -- name, input {N, C, H, W}, weight {O, I, kh, kw}, options
  {"3x3 64->64 @56", {16, 64, 56, 56}, {64, 64, 3, 3}, {padding = 1}},
  {"3x3 256->256 @14", {16, 256, 14, 14}, {256, 256, 3, 3}, {padding = 1}},
  {"1x1 256->64 @56", {16, 256, 56, 56}, {64, 256, 1, 1}, {}},
  {"dw 3x3 32 @112", {16, 32, 112, 112}, {32, 1, 3, 3}, {padding = 1, groups = 32}},
}

local function time_graft(l, backward, reps)
  local x = graft.randn(l[2]):requires_grad_(backward)
  local w = graft.randn(l[3]):requires_grad_(backward)
  local times = {}
  for r = -1, reps do
    local t0 = graft.clock()
    local y = F.conv2d(x, w, nil, l[4])
    if backward then
      y:sum():backward()
      x.grad, w.grad = nil, nil
    end
    if r >= 1 then times[#times + 1] = graft.clock() - t0 end
    y = nil
  end
  return B.median(times)
end

local py = [[
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
layers = [((16, 64, 56, 56), (64, 64, 3, 3), 1, 1), ((16, 256, 14, 14), (256, 256, 3, 3), 1, 1),
          ((16, 256, 56, 56), (64, 256, 1, 1), 0, 1), ((16, 32, 112, 112), (32, 1, 3, 3), 1, 32)]
reps = int(sys.argv[2])
for xs, ws, pad, groups in layers:
    for backward in (False, True):
        x = torch.randn(xs, requires_grad=backward); w = torch.randn(ws, requires_grad=backward)
        ts = []
        for r in range(reps + 2):
            t0 = time.perf_counter()
            y = torch.nn.functional.conv2d(x, w, None, padding=pad, groups=groups)
            if backward:
                y.sum().backward(); x.grad = None; w.grad = None
            if r >= 2: ts.append(time.perf_counter() - t0)
        ts.sort(); print("%.6f" % ts[(len(ts) - 1) // 2])
]]
local reps = tonumber(os.getenv("REPS") or "") or 5
local torch_times = B.torch(py, threads, reps)

print(("conv2d, batch 16, %d threads, median of %d (ms)"):format(threads, reps))
print(("%-18s  %10s %10s %7s   %10s %10s %7s"):format("layer", "graft fwd", "torch fwd", "ratio", "graft f+b", "torch f+b", "ratio"))
for i, l in ipairs(layers) do
  local gf, gb = time_graft(l, false, reps), time_graft(l, true, reps)
  local tf, tb = torch_times[2 * i - 1], torch_times[2 * i]
  print(("%-18s  %10.1f %10.1f %7.2f   %10.1f %10.1f %7.2f"):format(l[1], gf * 1e3, tf * 1e3, gf / tf, gb * 1e3, tb * 1e3, gb / tb))
end
