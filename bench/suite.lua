-- bench/suite.lua — `make bench`: every workload of docs/performance.md, the same computation
-- through graft and through PyTorch (bench/torch_side.py) in one run, each side in its own
-- process (so peak RSS is its own), same threads, two warm-up runs, median of REPS (default 5)
-- steps; the two sides take turns ROUNDS times (default 3) and each keeps its median round.
-- Prints a table and writes bench/results.json. Ratios are graft time / PyTorch time: below 1
-- is faster. GFLOP/s count convolutions and linear layers (3x the forward for a train step);
-- % of peak divides by the FMA peak bench/peak measures on this machine. The table opens
-- with graft.info(). Training rows run twice: as the environment is, and with both sides
-- under OPENBLAS_CORETYPE=Prescott (OpenBLAS's SSE3 kernels, which Debian's OpenBLAS 0.3.21
-- picks on CPUs newer than its table), titled " [Prescott]"; results.json rows say which in
-- `env` ("" for the environment as it is).
--   lua5.4 bench/suite.lua [--only PATTERN]      (the --run form is the graft side's process)
local graft, B = require "graft", require "benchlib"
local nn, F = graft.nn, graft.F
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "bench"

local CONV = {   -- x shape, w shape, options: ResNet/MobileNet-shaped layers at batch 16
  c64 = {{16, 64, 56, 56}, {64, 64, 3, 3}, {padding = 1}},
  c256 = {{16, 256, 14, 14}, {256, 256, 3, 3}, {padding = 1}},
  p256 = {{16, 256, 56, 56}, {64, 256, 1, 1}, {}},
  dw32 = {{16, 32, 112, 112}, {32, 1, 3, 3}, {padding = 1, groups = 32}},
}

-- BERT-base (bert-base-uncased's shape) and the small BERT of examples/text_transfer.lua,
-- dropout 0 on both sides.
local BERT = {
  base = {vocab_size = 30522, hidden_size = 768, num_hidden_layers = 12, num_attention_heads = 12,
          intermediate_size = 3072, hidden_dropout_prob = 0, attention_probs_dropout_prob = 0},
  mini = {vocab_size = 8000, hidden_size = 128, num_hidden_layers = 4, num_attention_heads = 4,
          intermediate_size = 512, max_position_embeddings = 64, hidden_dropout_prob = 0, attention_probs_dropout_prob = 0},
}

local function small_cnn()
  return nn.Sequential{
    nn.Conv2d(1, 16, 3, {padding = 1}), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(16, 32, 3, {padding = 1}), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Dropout(0.2), nn.Linear(32 * 7 * 7, 10)}
end

-- The graft side of a workload: a function that runs one step.
local function build(name)
  local kind, arg = name:match("^(%w+):(.*)$")
  if kind == "conv" or kind == "convbw" then
    local c, bw = CONV[arg], kind == "convbw"
    local x, w = graft.randn(c[1]):requires_grad_(bw), graft.randn(c[2]):requires_grad_(bw)
    return function()
      local y = F.conv2d(x, w, nil, c[3])
      if bw then
        y:sum():backward()
        x.grad, w.grad = nil, nil
      end
    end
  end
  if kind == "bert" or kind == "berttrain" then   -- ARCH@BATCHxTOKENS, ids random, last quarter padded in odd rows
    local arch, batch, len = arg:match("^(.-)@(%d+)x(%d+)$")
    batch, len = tonumber(batch), tonumber(len)
    local m = graft.models.bert_classifier{config = BERT[arch], num_classes = 2}
    local ids = graft.randint(2, BERT[arch].vocab_size + 1, {batch, len})
    local mask = graft.ones({batch, len}, "i64")
    for b = 2, batch, 2 do mask:narrow(1, b, 1):narrow(2, len - len // 4 + 1, len // 4):fill_(0) end
    local y = graft.randint(1, 3, {batch})
    if kind == "bert" then
      m:eval()
      return function() graft.no_grad(function() m.bert(ids, {attention_mask = mask}) end) end
    end
    m:train()
    local opt = graft.optim.AdamW(m:parameters(), {lr = 1e-4})
    return function()
      opt:zero_grad()
      F.cross_entropy(m(ids, {attention_mask = mask}), y):backward()
      opt:step()
    end
  end
  local arch, batch = arg:match("^(.-)@(%d+)$")
  batch = tonumber(batch)
  local m, x, y
  if arch == "cnn" then
    m, x, y = small_cnn(), graft.randn{batch, 1, 28, 28}, graft.randint(1, 11, {batch})
  else
    m, x, y = graft.models[arch]{}, graft.randn{batch, 3, 224, 224}, graft.randint(1, 1001, {batch})
  end
  if kind == "eval" then
    m:eval()
    return function() graft.no_grad(function() m(x) end) end
  end
  if kind == "frozen" then m:freeze(); m:unfreeze("^fc%.") end
  m:train()
  local opt = graft.optim.SGD(m:trainable_parameters(), {lr = 0.01, momentum = 0.9})
  return function()
    opt:zero_grad()
    F.cross_entropy(m(x), y):backward()
    opt:step()
  end
end

local function peak_rss_kb()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%s*(%d+)")
    if kb then return tonumber(kb) end
  end
  return 0
end

if arg[1] == "--run" then   -- the graft side's own process: NAME THREADS REPS
  local name, threads, reps = arg[2], tonumber(arg[3]), tonumber(arg[4])
  graft.set_num_threads(threads)
  graft.manual_seed(0)
  local step, times = build(name), {}
  for r = 1, reps + 2 do
    local t0 = graft.clock()
    step()
    if r > 2 then times[#times + 1] = graft.clock() - t0 end
  end
  print(("%.6f %d"):format(B.median(times), peak_rss_kb()))
  return
end

local only = arg[1] == "--only" and arg[2] or nil
local reps = tonumber(os.getenv("REPS") or "") or 5
local rounds = tonumber(os.getenv("ROUNDS") or "") or 3
local threads = graft.get_num_threads()
local build_dir = os.getenv("GRAFT_BUILD") or "build"
local peaks = B.numbers(build_dir .. "/bench/peak")
local peak = {[1] = peaks[2], [threads] = peaks[#peaks]}

-- name, images per step, the PyTorch workload compared (default: the same name), threads, title,
-- env (variables set for both sides' processes, "" for none). A training row is added twice:
-- the second time on OpenBLAS's oldest x86-64 kernels, to show what a BLAS that does not know
-- the CPU costs each side.
local rows = {}
local PRESCOTT = "OPENBLAS_CORETYPE=Prescott"
local function add(name, images, title, o)
  o = o or {}
  local row = {name = name, images = images, title = title, torch = o.torch or name, threads = o.threads or threads,
               torch_blas_threads = o.torch_blas_threads or 1, env = ""}
  rows[#rows + 1] = row
  if name:match("^train:") or name:match("^frozen:") or name:match("^berttrain:") then
    local again = {}
    for k, v in pairs(row) do again[k] = v end
    again.title, again.env = title .. " [Prescott]", PRESCOTT
    rows[#rows + 1] = again
  end
end
for _, l in ipairs {{"c64", "conv 3x3 64->64 @56"}, {"c256", "conv 3x3 256->256 @14"},
                    {"p256", "conv 1x1 256->64 @56"}, {"dw32", "conv dw 3x3 32 @112"}} do
  add("conv:" .. l[1], 16, l[2] .. " fwd")
  add("convbw:" .. l[1], 16, l[2] .. " f+b")
end
for _, b in ipairs {1, 4, 16, 64} do add("eval:resnet18@" .. b, b, "resnet18 eval b" .. b) end
add("eval:resnet18@16", 16, "resnet18 eval b16, 1 thread", {threads = 1})
for _, a in ipairs {"resnet50", "mobilenet_v2", "efficientnet_b0"} do add("eval:" .. a .. "@16", 16, a .. " eval b16") end
add("train:resnet18@16", 16, "resnet18 train step b16")
add("frozen:resnet18@16", 16, "resnet18 frozen trunk b16 vs best", {torch = "frozen_best:resnet18@16"})
add("frozen:resnet18@16", 16, "resnet18 frozen trunk b16 vs common", {torch = "frozen_common:resnet18@16"})
add("train:cnn@128", 128, "small CNN train step b128")
-- PyTorch runs BERT's linear layers on OpenBLAS (not oneDNN), so it gets the BLAS threads here.
add("bert:base@8x128", 8, "BERT-base forward b8 x 128 tokens", {torch_blas_threads = threads})
add("berttrain:mini@64x64", 64, "BERT mini (4x128) train step b64 x 64", {torch_blas_threads = threads})

local lua = arg[-1] or "lua5.4"
local info = graft.info()
local results = {threads = threads, reps = reps, peak_gflops = {one_thread = peak[1], all_threads = peak[threads]},
                 info = info, workloads = {}}
print(("graft %s on %s (family %d, model %d), isa %s, gemm %s, %s (core %s), %d threads"):format(
  info.version, info.cpu, info.cpu_family, info.cpu_model, info.isa, info.gemm, info.blas, info.blas_core, info.threads))
print(("graft vs PyTorch %s, %d threads, median of %d steps, median of %d rounds taken in turns; FMA peak measured: %.0f GFLOP/s (1 thread), %.0f (%d)"):format(
  "1.13", threads, reps, rounds, peak[1], peak[threads], threads))
local head = "%-38s %9s %9s %6s %8s %7s %6s %8s %8s"
print(head:format("workload", "graft ms", "torch ms", "ratio", "img/s", "GFLOP/s", "%peak", "RSS MB", "torch MB"))
for _, r in ipairs(rows) do
  if not only or r.title:find(only, 1, true) then
    -- The sides take turns, ROUNDS times, and each keeps its median round: this machine's
    -- slow spells last minutes, and would otherwise fall on one side of a ratio only.
    local gs, ts = {}, {}
    for round = 1, rounds do
      gs[round] = B.numbers(("%s%s %s/suite.lua --run %s %d %d"):format(r.env ~= "" and ("env " .. r.env .. " ") or "",
        lua, here, r.name, r.threads, reps))
      ts[round] = B.numbers(("env -u LD_PRELOAD %s OPENBLAS_NUM_THREADS=%d /usr/bin/python3 %s/torch_side.py %s %d %d"):format(
        r.env, r.torch_blas_threads, here, r.torch, r.threads, reps))
    end
    local by_time = function(a, b) return a[1] < b[1] end
    table.sort(gs, by_time)
    table.sort(ts, by_time)
    local g, t = gs[(rounds + 1) // 2], ts[(rounds + 1) // 2]
    local gflops = t[3] / g[1] / 1e9
    local row = {workload = r.title, env = r.env, threads = r.threads, graft_seconds = g[1], torch_seconds = t[1], ratio = g[1] / t[1],
                 images_per_second = r.images / g[1], torch_images_per_second = r.images / t[1], gflops = gflops,
                 torch_gflops = t[3] / t[1] / 1e9, percent_of_peak = 100 * gflops / peak[r.threads],
                 graft_peak_rss_mb = g[2] / 1024, torch_peak_rss_mb = t[2] / 1024, flops = t[3]}
    results.workloads[#results.workloads + 1] = row
    print(("%-38s %9.1f %9.1f %6.2f %8.1f %7.1f %6.1f %8.0f %8.0f"):format(r.title, g[1] * 1e3, t[1] * 1e3, row.ratio,
      row.images_per_second, gflops, row.percent_of_peak, row.graft_peak_rss_mb, row.torch_peak_rss_mb))
    io.stdout:flush()
  end
end
if not only then
  local f = assert(io.open(here .. "/results.json", "w"))
  f:write(graft.json.encode(results), "\n")
  f:close()
  print("wrote " .. here .. "/results.json")
end
