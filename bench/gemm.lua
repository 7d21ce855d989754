-- bench/gemm.lua — graft's GEMM on each instruction set this CPU has against cblas_sgemm,
-- on the products a resnet18 train step at batch 16 spends its time in (per image: forward,
-- input gradient and weight gradient of the 7x7, 14x14 and 56x56 stages, Winograd's
-- per-position products), with OpenBLAS as it chose its core and as it runs under
-- OPENBLAS_CORETYPE=Prescott (Debian's 0.3.21 on a CPU newer than its table). One thread:
-- the train step runs one product per thread. Prints GFLOP/s (medians of REPS, default 9).
local graft = require "graft"
local build = os.getenv("GRAFT_BUILD") or "build"
local reps = tonumber(os.getenv("REPS") or "") or 9

local SHAPES = {   -- m, n, k, trans_a, trans_b, what
  {512, 49, 4608, 0, 0, "conv 3x3 512 @7 forward"},
  {4608, 49, 512, 1, 0, "conv 3x3 512 @7 input gradient"},
  {512, 4608, 49, 0, 1, "conv 3x3 512 @7 weight gradient"},
  {256, 196, 1152, 0, 0, "conv 3x3 s2 256 @14 forward"},
  {64, 3136, 576, 0, 0, "conv 3x3 64 @56 forward (im2col)"},
  {64, 576, 3136, 0, 1, "conv 3x3 64 @56 weight gradient"},
  {576, 3136, 64, 1, 0, "conv 3x3 64 @56 input gradient"},
  {64, 784, 64, 0, 0, "Winograd F(4x4) position, 64 @56"},
  {256, 98, 256, 0, 0, "Winograd F(2x2) position, 256 @14"},
  {1024, 1024, 1024, 0, 0, "square 1024"},
}

local info = graft.info()
print(("graft %s on %s (family %d, model %d), isa %s, %s (core %s); 1 thread, median of %d, GFLOP/s"):format(
  info.version, info.cpu, info.cpu_family, info.cpu_model, info.isa, info.blas, info.blas_core, reps))
print(("%-36s %8s %8s %8s %10s %10s %8s"):format("product (m x n x k)", "generic", "avx2", "avx512", "openblas",
  "[Prescott]", "best/ob"))
for _, s in ipairs(SHAPES) do
  local function run(env)
    local cmd = ("env %s %s/bench/gemm_core %d %d %d %d %d 1 %d"):format(env, build, s[1], s[2], s[3], s[4], s[5], reps)
    local p = assert(io.popen(cmd))
    local out = p:read("a")
    p:close()
    local r = {}
    for name, gf in out:gmatch("(%a+%d*)%s+[%d%.]+%s+([%d%.]+)") do r[name] = tonumber(gf) end
    return r
  end
  local native, prescott = run(""), run("OPENBLAS_CORETYPE=Prescott")
  local best = math.max(native.avx512 or 0, native.avx2 or 0, native.generic or 0)
  local cell = function(v) return v and ("%.1f"):format(v) or "-" end
  print(("%-36s %8s %8s %8s %10s %10s %8.2f"):format(("%s (%dx%dx%d)"):format(s[6], s[1], s[2], s[3]):sub(1, 36),
    cell(native.generic), cell(native.avx2), cell(native.avx512), cell(native.openblas), cell(prescott.openblas),
    best / native.openblas))
end
