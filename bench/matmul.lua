-- bench/matmul.lua — f32 matrix products: graft against a direct cblas_sgemm call and
-- against PyTorch's torch.mm, in one run on this machine with the same thread count.
-- graft is timed through its Lua API and through its C core (interleaved with cblas, rep
-- by rep, since this machine drifts by several percent from one run to the next).
-- Prints GFLOP/s (medians) and the ratios. Run with `make bench`.
local graft, B = require "graft", require "benchlib"
local build = os.getenv("GRAFT_BUILD") or "build"
local threads = graft.get_num_threads()

local function graft_seconds(n, reps)
  local a, b = graft.randn{n, n}, graft.randn{n, n}
  local times = {}
  for r = -1, reps do          -- two warm-up runs
    local t0 = graft.clock()
    local c = a:matmul(b)
    local dt = graft.clock() - t0
    if r >= 1 then times[#times + 1] = dt end
    c = nil
  end
  return B.median(times)
end

local torch_code = [[
import sys, time, torch
n, reps, threads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
a, b = torch.randn(n, n), torch.randn(n, n)
ts = []
for r in range(reps + 2):
    t0 = time.perf_counter(); c = torch.mm(a, b); dt = time.perf_counter() - t0
    if r >= 2: ts.append(dt)
ts.sort(); print("%.6f" % ts[(len(ts) - 1) // 2])
]]
print(("matmul f32, %d threads, median seconds -> GFLOP/s"):format(threads))
print(("%6s  %10s  %10s  %10s  %10s  %11s  %11s"):format("n", "graft(Lua)", "graft(C)", "cblas",
  "torch.mm", "graft/cblas", "graft/torch"))
for _, n in ipairs {1024, 2048} do
  local reps = n <= 1024 and 21 or 9
  local flop = 2 * n ^ 3
  local tg = graft_seconds(n, reps)
  local tgc, tc = table.unpack(B.numbers(("%s/bench/matmul_core %d %d %d"):format(build, n, reps, threads)))
  local tt = B.torch(torch_code, n, reps, threads)[1]
  local g = function(t) return flop / t / 1e9 end
  print(("%6d  %10.1f  %10.1f  %10.1f  %10.1f  %11.3f  %11.3f"):format(n, g(tg), g(tgc), g(tc), g(tt),
    tc / tgc, tt / tg))
end
