-- tests/slow/alloc-faults.lua SCENARIO FROM DIR [sticky] — the child of
-- tests/slow/920-alloc-faults.t, run under the sanitizer build (the allocation-fault hook,
-- core/alloc.h). It runs one scenario once to learn its result, then again with the n-th
-- allocation failing (sticky: and every later one, as when memory has run out), for
-- n = FROM, FROM + 1, ... until a run no longer reaches the armed allocation. Each run
-- must end in a Lua error naming the lack of memory, or (when the binding's collect-and-
-- retry recovered) in the unfaulted result. Before each run it prints "start n" (so the
-- parent knows where a crash happened), after it "run n ok|error|WRONG ...", and at the
-- end "site FILE:LINE" for every allocation site the scenarios reached, then "done".
local graft = require "graft"
local core = require "graft.core"
local nn, F = graft.nn, graft.F

local name, from, dir, sticky = arg[1], tonumber(arg[2]), arg[3], arg[4] == "sticky"
io.stdout:setvbuf("line")

-- A checksum of tensors: their sums, to 6 significant digits.
local function sums(...)
  local out = {}
  for i = 1, select("#", ...) do
    local t = select(i, ...)
    out[#out + 1] = ("%.6g"):format(t:to("f32"):sum():item())
  end
  return table.concat(out, " ")
end

local scenarios = {}

function scenarios.tensors()
  graft.manual_seed(1)
  local a, b = graft.randn{6, 5}, graft.randn{5, 7}
  local c = a:matmul(b)
  local d = (c * 2 + 1):relu():exp():clamp(0, 10)
  local e = graft.tensor({{1, 2, 3}, {4, 5, 6}}, "i64") + (1 << 40)
  local idx = graft.tensor({3, 1, 2}, "i64")
  local v, i = c:topk(3, 2)
  local s = c:t():contiguous():reshape{42}:index_select(1, idx)
  local m = c:sum(2) + c:mean(1):sum() + c:max(2)
  local g = c:gather(2, graft.ones({6, 2}, "i64"))
  local w = graft.where(c:gt(0), c, 0)
  local z = graft.zeros{3, 4}:fill_(2):add_(graft.ones{3, 4}, 3)
  return sums(c, d, e, v, i, s, m, g, w, z, c:argmax(2), c:to("i64"), graft.arange(10), e:eq((1 << 40) + 1))
end

function scenarios.conv2d()
  graft.manual_seed(2)
  local x = graft.randn{2, 3, 9, 9}:requires_grad_()
  local w = graft.randn{4, 3, 3, 3}:requires_grad_()
  local b = graft.randn{4}:requires_grad_()
  local y = F.conv2d(x, w, b, {padding = 1, stride = 2})
  local w2 = graft.randn{5, 4, 1, 1}:requires_grad_()
  local z = F.conv2d(F.relu(y), w2)
  local p = F.max_pool2d(z, 2)
  ;(p * p):sum():backward()
  local dw = graft.randn{4, 1, 3, 3}
  local q = F.conv2d(y, dw, nil, {padding = 1, groups = 4})
  -- 3x3 stride 1 with more channels (the Winograd and packed paths), forward and backward
  local x3 = graft.randn{1, 16, 12, 12}:requires_grad_()
  local w3 = graft.randn{16, 16, 3, 3}:requires_grad_()
  local y3 = F.conv2d(x3, w3, nil, {padding = 1})
  y3:sum():backward()
  local y4 = graft.no_grad(function() return F.conv2d(x3, w3, nil, {padding = 1}) end)
  return sums(y, z, p, x.grad, w.grad, b.grad, w2.grad, q, y3, x3.grad, w3.grad, y4)
end

function scenarios.nn()
  graft.manual_seed(6)
  local x = graft.randn{2, 5, 8}:requires_grad_()
  local w, b = graft.randn{6, 8}:requires_grad_(), graft.randn{6}:requires_grad_()
  local h = F.linear(x, w, b)
  local ln = F.layer_norm(h, {6}, graft.ones{6}, graft.zeros{6})
  local q4 = ln:reshape{2, 1, 5, 6}
  local att = F.scaled_dot_product_attention(q4, q4, q4, {mask = graft.tensor{{1, 1, 1, 1, 0}, {1, 1, 1, 0, 0}}}):reshape{2, 5, 6}
  local sm = F.log_softmax(att, -1) + F.softmax(att, 2)
  local act = F.gelu(sm) + F.silu(sm) + F.tanh(sm) + F.sigmoid(sm)
  local emb = F.embedding(graft.tensor({{1, 3}, {2, 2}}, "i64"), graft.randn{4, 6}:requires_grad_())
  local cat = F.cat({act, emb}, 2)
  local loss = F.mse_loss(cat:sum(2), graft.zeros{2, 6}) + F.cross_entropy(cat:reshape{14, 6}, graft.ones({14}, "i64"))
  loss:backward()
  local img = graft.randn{2, 3, 7, 7}:requires_grad_()
  local pooled = F.adaptive_avg_pool2d(F.avg_pool2d(img, 2), 1)
  local bn = F.batch_norm(img, graft.zeros{3}, graft.ones{3}, graft.ones{3}, graft.zeros{3}, true, 0.1, 1e-5)
  ;(pooled:sum() + bn:sum()):backward()
  return ("%.6g "):format(loss:item()) .. sums(h, ln, att, cat, x.grad, w.grad, b.grad, pooled, bn, img.grad)
end

function scenarios.idx()
  -- a 3x4x5 u8 IDX file, uncompressed (zlib's gzread reads those too), and a 1-D i32 one
  local function write(path, code, dims, bytes)
    local f = assert(io.open(path, "wb"))
    f:write(string.char(0, 0, code, #dims))
    for _, d in ipairs(dims) do f:write(string.pack(">I4", d)) end
    f:write(bytes)
    f:close()
  end
  local u8 = {}
  for i = 1, 60 do u8[i] = string.char(i * 7 % 256) end
  write(dir .. "/images.idx", 0x08, {3, 4, 5}, table.concat(u8))
  write(dir .. "/labels.idx", 0x0C, {3}, string.pack(">i4>i4>i4", 7, -2, 100000))
  return sums(core.read_idx(dir .. "/images.idx"), core.read_idx(dir .. "/labels.idx"))
end

function scenarios.safetensors()
  graft.manual_seed(3)
  local path = dir .. "/faults.safetensors"
  local t = {weight = graft.randn{4, 3}, ids = graft.tensor({1, 2, 3}, "i64"), mask = graft.ones({5}, "u8"),
             strided = graft.randn{3, 4}:t()}
  graft.save(path, t, {format = "pt", note = "fault sweep"})
  local back, meta = graft.load(path)
  return sums(back.weight, back.ids, back.mask, back.strided) .. " " .. tostring(meta and meta.note)
end

function scenarios.images()
  graft.manual_seed(5)
  local out = {}
  for _, f in ipairs {"rgb.png", "palette.png", "gray16.png", "rgba.png"} do
    out[#out + 1] = sums(graft.image.load("tests/fuzz/corpus/png/" .. f))
  end
  for _, f in ipairs {"rgb.jpg", "gray.jpg", "progressive.jpg", "subsampled.jpg"} do
    out[#out + 1] = sums(graft.image.load("tests/fuzz/corpus/jpeg/" .. f))
  end
  graft.image.save(dir .. "/out.png", graft.rand{3, 5, 6})
  out[#out + 1] = sums(graft.image.load(dir .. "/out.png", {channels = 1}))
  return table.concat(out, " ")
end

function scenarios.model()
  graft.manual_seed(4)
  local model = nn.Sequential {
    nn.Conv2d(3, 4, 3, {padding = 1}), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(4 * 4 * 4, 3),
  }
  local opt = graft.optim.AdamW(model:parameters(), {lr = 1e-2})
  local x, y = graft.randn{2, 3, 8, 8}, graft.tensor({1, 3}, "i64")
  local loss = F.cross_entropy(model(x), y)
  opt:zero_grad()
  loss:backward()
  opt:step()
  model:eval()
  local p = model(x)
  return ("%.6g "):format(loss:item()) .. sums(p, table.unpack(model:parameters()))
end

local run = assert(scenarios[name], "unknown scenario " .. tostring(name))
local want = run()
collectgarbage()
local n = from
while true do
  print("start " .. n)
  core._alloc_faults(n, sticky)
  local ok, got = pcall(run)
  local _, fired = core._alloc_fault_stats()
  core._alloc_faults(0)
  if not fired then
    print(("run %d unreached"):format(n))
    break
  end
  if ok and got == want then
    print(("run %d ok (recovered)"):format(n))
  elseif not ok and tostring(got):find("out of memory", 1, true) then
    print(("run %d error"):format(n))
  else
    print(("run %d WRONG %s"):format(n, ok and ("result " .. tostring(got) .. " instead of " .. want) or tostring(got)))
  end
  collectgarbage()
  collectgarbage()
  n = n + 1
end
local _, _, sites = core._alloc_fault_stats()
for _, s in ipairs(sites) do print("site " .. s) end
print("done")
