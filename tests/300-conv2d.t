#!/usr/bin/env lua5.4
-- tests/300-conv2d.t — F.conv2d forward and every gradient against PyTorch over a grid of
-- shapes and options, finite differences as a second opinion, and its error messages.
local T, graft, oracle, gradcheck = require "tap", require "graft", require "oracle", require "gradcheck"
local F = graft.F
-- Kept weights take the forms below on graft's AVX-512 packed GEMM; on other instruction sets
-- (GRAFT_ISA, tests/057) they take the forms graft's plain GEMM gives them.
local packed = graft.info().isa == "avx512"
graft.manual_seed(T.seed())

-- {x shape, w shape, options, bias?, non-contiguous input?}
local grid = {
  {{2, 3, 7, 7}, {4, 3, 3, 3}, {}, true},
  {{1, 3, 8, 9}, {5, 3, 3, 3}, {stride = 2, padding = 1}, true},
  {{2, 4, 9, 8}, {6, 2, 3, 3}, {stride = 3, padding = 2, groups = 2}, false},
  {{2, 3, 11, 10}, {4, 3, 3, 2}, {dilation = 2, padding = {2, 1}}, true},
  {{3, 4, 6, 6}, {4, 1, 3, 3}, {padding = 1, groups = 4}, true},           -- depthwise
  {{2, 4, 7, 7}, {8, 1, 3, 3}, {stride = 2, padding = 1, groups = 4}, false}, -- depthwise x2
  {{2, 5, 13, 29}, {5, 1, 5, 5}, {padding = 2, groups = 5}, true},          -- depthwise, rows > 8 lanes
  {{1, 3, 17, 23}, {3, 1, 3, 3}, {stride = 2, padding = {0, 1}, groups = 3}, false},
  {{2, 6, 5, 5}, {4, 6, 1, 1}, {}, true},                                    -- pointwise
  {{2, 6, 5, 5}, {4, 6, 1, 1}, {stride = 2}, false},                         -- 1x1 strided
  {{1, 2, 5, 7}, {3, 2, 5, 7}, {}, true},                                    -- kernel = input
  {{4, 3, 9, 9}, {2, 3, 3, 3}, {stride = {2, 1}, padding = {0, 1}}, true, true},
  {{2, 8, 6, 6}, {8, 2, 3, 3}, {groups = 4, padding = 1, dilation = 2}, true},
  {{1, 16, 20, 21}, {24, 16, 3, 3}, {padding = 1}, true},   -- one image, threads split columns
  {{1, 32, 9, 9}, {40, 32, 3, 3}, {padding = 1}, true},     -- one small map, threads split channels
  {{1, 48, 17, 17}, {24, 48, 1, 1}, {}, true},              -- one image, pointwise
  {{3, 16, 10, 11}, {20, 16, 3, 3}, {padding = 1}, true},   -- Winograd F(2x2, 3x3), images in parallel
  {{2, 17, 11, 10}, {16, 17, 3, 3}, {}, false},             -- Winograd, odd output, d/dx padded by 2
  {{2, 16, 8, 9}, {16, 16, 3, 3}, {padding = 2}, true},     -- Winograd, padding 2, d/dx unpadded
  {{2, 16, 7, 7}, {24, 16, 3, 3}, {padding = 1}, true},     -- Winograd on ResNet's last stage's 7x7 maps
  {{3, 16, 4, 5}, {16, 16, 3, 3}, {padding = 1}, false},    -- Winograd on the smallest maps it takes
}

local inputs, py = {}, {}
for i, c in ipairs(grid) do
  local x = graft.randn(c[1])
  if c[5] then x = graft.randn{c[1][1], c[1][2], c[1][4], c[1][3]}:transpose(3, 4) end   -- strided view
  c.x, c.w = x, graft.randn(c[2]) * 0.3
  c.b = c[4] and graft.randn{c[2][1]} or nil
  inputs["x" .. i], inputs["w" .. i] = x, c.w
  if c.b then inputs["b" .. i] = c.b end
  local o = c[3]
  local function pair(v, d)
    v = v or d
    return type(v) == "table" and ("(%d, %d)"):format(v[1], v[2]) or tostring(v)
  end
  py[#py + 1] = ([[
x, w = inp["x%d"].clone().requires_grad_(), inp["w%d"].clone().requires_grad_()
b = inp["b%d"].clone().requires_grad_() if "b%d" in inp else None
y = F.conv2d(x, w, b, stride=%s, padding=%s, dilation=%s, groups=%d)
r = torch.randn(y.shape, generator=torch.Generator().manual_seed(%d))
(y * r).sum().backward()
out["y%d"], out["r%d"], out["gx%d"], out["gw%d"] = y.detach(), r, x.grad, w.grad
if b is not None: out["gb%d"] = b.grad]]):format(i, i, i, i, pair(o.stride, 1), pair(o.padding, 0),
    pair(o.dilation, 1), o.groups or 1, i, i, i, i, i, i)
end
local want = oracle.run(table.concat(py, "\n"), inputs)

for i, c in ipairs(grid) do
  local name = ("conv2d x%s w%s %s"):format(T.render(c[1]), T.render(c[2]), T.render(c[3]))
  local x, w = c.x:clone():requires_grad_(), c.w:clone():requires_grad_()
  local b = c.b and c.b:clone():requires_grad_()
  if c[5] then x = c.x:contiguous():clone():requires_grad_() end
  local xin = c[5] and c.x or x     -- the strided view itself goes in (its grad is checked on x)
  local y = F.conv2d(c[5] and graft.no_grad(function() return xin end) or x, w, b, c[3])
  T.close(y, want["y" .. i], name .. ": forward", 1e-4, 1e-4)
  ;(y * want["r" .. i]):sum():backward()
  if not c[5] then T.close(x.grad, want["gx" .. i], name .. ": d/dx", 1e-4, 1e-4) end
  T.close(w.grad, want["gw" .. i], name .. ": d/dw", 1e-4, 1e-4)
  if b then T.close(b.grad, want["gb" .. i], name .. ": d/db", 1e-4, 1e-4) end
end

-- f() on one thread, graft's thread count restored after; also returns that count.
local function on_one_thread(f)
  local threads = graft.get_num_threads()
  graft.set_num_threads(1)
  local r = f()
  graft.set_num_threads(threads)
  return r, threads
end

-- y = conv2d(x, w, b, {padding}): its error against float64, as a fraction of the largest
-- output, and that of PyTorch's direct float32 convolution.
local function float64_error(x, w, b, padding, y)
  local e = oracle.run([[
p = int(inp["p"].item())
y64 = F.conv2d(inp["x"].double(), inp["w"].double(), inp["b"].double(), padding=p)
scale = y64.abs().max()
out["err"] = ((inp["y"].double() - y64).abs().max() / scale).float()
out["direct"] = ((F.conv2d(inp["x"], inp["w"], inp["b"], padding=p).double() - y64).abs().max() / scale).float()]],
    {x = x, w = w, b = b, y = y, p = graft.tensor{padding}})
  return e.err:item(), e.direct:item()
end

-- Winograd's own error: 3x3 stride-1 convolutions with 16+ channels run as F(2x2, 3x3). Against
-- a float64 reference its error must stay within a few times that of PyTorch's direct float32
-- convolution (measured here: about 2x; docs/performance.md).
do
  local x, w = graft.randn{2, 64, 28, 28}, graft.randn{64, 64, 3, 3} * 0.05
  local xg, wg = x:clone():requires_grad_(), w:clone():requires_grad_()
  local y = F.conv2d(xg, wg, nil, {padding = 1})
  local r = graft.randn(y:shape());
  (y * r):sum():backward()
  local e = oracle.run([[
x, w, r = inp["x"].double(), inp["w"].double(), inp["r"].double()
y64 = F.conv2d(x, w, padding=1)
gx64 = F.conv_transpose2d(r, w, padding=1)
gw64 = torch.nn.grad.conv2d_weight(x, w.shape, r, padding=1)
scale, gscale, wscale = y64.abs().max(), gx64.abs().max(), gw64.abs().max()
out["winograd"] = ((inp["y"].double() - y64).abs().max() / scale).float()
out["direct"] = ((F.conv2d(inp["x"], inp["w"], padding=1).double() - y64).abs().max() / scale).float()
out["grad"] = ((inp["gx"].double() - gx64).abs().max() / gscale).float()
out["wgrad"] = ((inp["gw"].double() - gw64).abs().max() / wscale).float()
direct_gw = torch.nn.grad.conv2d_weight(inp["x"], w.shape, inp["r"], padding=1)
out["wdirect"] = ((direct_gw.double() - gw64).abs().max() / wscale).float()]],
    {x = x, w = w, r = r, y = y:detach(), gx = xg.grad, gw = wg.grad})
  local err, direct, gerr = e.winograd:item(), e.direct:item(), e.grad:item()
  T.diag(("Winograd forward: max error %.3g of the largest output; direct float32 (PyTorch) %.3g"):format(err, direct))
  T.ok(err <= 4 * direct and err < 1e-5, "Winograd forward stays within 4x the direct convolution's float32 error")
  T.diag(("Winograd input gradient: max error %.3g of the largest"):format(gerr))
  T.ok(gerr < 1e-5, "Winograd input gradient is within 1e-5 of the float64 reference")
  local werr, wdirect = e.wgrad:item(), e.wdirect:item()
  T.diag(("Winograd weight gradient: max error %.3g of the largest; direct float32 (PyTorch) %.3g"):format(werr, wdirect))
  T.ok(werr <= 4 * wdirect and werr < 1e-5, "Winograd weight gradient stays within 4x the direct float32 error")
  local gw1 = on_one_thread(function()
    local w1 = w:clone():requires_grad_();
    (F.conv2d(x, w1, nil, {padding = 1}) * r):sum():backward()
    return w1.grad
  end)
  T.equal(gw1, wg.grad, "the Winograd weight gradient is the same bit for bit on one thread")
  local y1, threads = on_one_thread(function() return F.conv2d(x, w, nil, {padding = 1}) end)
  T.close(y1, y:detach(), "Winograd on one thread gives the same result as on " .. threads, 1e-6, 1e-6)
end

-- A layer whose weight does not change keeps its Winograd transform (F.conv2d's keep table), and
-- with it a single image runs by Winograd too, its GEMMs shared between the threads.
do
  local x, w, b = graft.randn{1, 32, 15, 14}, graft.randn{48, 32, 3, 3} * 0.05, graft.randn{48}
  local keep = {}
  local y = F.conv2d(x, w, b, {padding = 1}, keep)
  local made = keep.prepared
  T.ok(made ~= nil and made:size(1) == 16 and made:size(2) >= 48 * 32,
       "the first call leaves the transform (16 positions of a cout x cin matrix) in keep")
  local y2 = F.conv2d(x, w, b, {padding = 1}, keep)
  T.ok(keep.prepared == made and (y2 - y):abs():max():item() == 0, "the next call reuses it, with the same result")
  local err = float64_error(x, w, b, 1, y)
  T.diag(("one image by a kept Winograd transform: max error %.3g of the largest output"):format(err))
  T.ok(err < 1e-5, "one image by a kept Winograd transform is within 1e-5 of the float64 reference")
  local y1, threads = on_one_thread(function() return F.conv2d(x, w, b, {padding = 1}, keep) end)
  T.close(y1, y, "one image on one thread gives the result of the shared " .. threads, 1e-6, 1e-6)
  -- kept transforms on small maps (F(2x2) from 4x4, else im2col or F(4x4), as the map and
  -- the batch's tiles decide): 7x7 (ResNet's last stage), 4x4, an odd 5x3, and 1x1 and 2x2
  -- with padding as large as the map; the forms' positions: 16, 16, 1, 1, 1
  for _, c in ipairs({{{1, 64, 7, 7}, 1, 16}, {{1, 32, 4, 4}, 1, 16}, {{2, 16, 5, 3}, 1, 1},
                      {{1, 16, 1, 1}, 1, 1}, {{1, 16, 2, 2}, 2, 1}}) do
    local xs, ws, bs = graft.randn(c[1]), graft.randn{24, c[1][2], 3, 3} * 0.05, graft.randn{24}
    local kept = {}
    local small = F.conv2d(xs, ws, bs, {padding = c[2]}, kept)
    local serr = float64_error(xs, ws, bs, c[2], small)
    local positions = kept.prepared and kept.prepared:size(1) or 0
    T.ok(serr < 1e-5 and positions == (packed and c[3] or positions), ("a kept transform on x%s, padding %d (%d positions): error %.3g of the largest, within 1e-5"):format(
      T.render(c[1]), c[2], positions, serr))
  end
  local bad = {prepared = graft.zeros{10}}
  local ok, msg = pcall(F.conv2d, x, w, b, {padding = 1}, bad)
  T.ok(not ok and tostring(msg):find("were not made for a {48,32,3,3} weight", 1, true),
       "a kept transform of another weight's size is refused: " .. tostring(msg))
end

-- Kept weights on the other convolutions: packed once for graft's own GEMM (where the CPU
-- has AVX-512), which makes each image's im2col columns a panel at a time (wide maps) or all
-- at once (maps narrower than 16), or reads a 1x1 convolution's input as it lies. Against
-- PyTorch, on shapes around the kernel's edges: channels past whole panels of 12 rows,
-- outputs past whole panels of 32 columns, strides, dilation, padding, one image and three.
do
  local cases = {   -- x, w, stride, padding, dilation
    {{1, 3, 40, 38}, {20, 3, 7, 7}, 2, 3, 1},
    {{3, 8, 9, 11}, {13, 8, 3, 3}, 2, 1, 1},
    {{1, 16, 20, 21}, {36, 16, 1, 1}, 2, 0, 1},
    {{3, 16, 12, 17}, {25, 16, 1, 1}, 1, 0, 1},
    {{1, 8, 19, 23}, {12, 8, 3, 3}, 1, 2, 2},
    {{2, 24, 7, 7}, {40, 24, 3, 3}, 2, 1, 1},
  }
  local inp, code, ys, keeps = {}, {}, {}, {}
  for i, c in ipairs(cases) do
    local x, w, b = graft.randn(c[1]), graft.randn(c[2]) * 0.1, graft.randn{c[2][1]}
    local opts = {stride = c[3], padding = c[4], dilation = c[5]}
    keeps[i] = {}
    F.conv2d(x, w, b, opts, keeps[i])
    ys[i] = F.conv2d(x, w, b, opts, keeps[i])
    inp["x" .. i], inp["w" .. i], inp["b" .. i] = x, w, b
    code[#code + 1] = ("out['y%d'] = F.conv2d(inp['x%d'], inp['w%d'], inp['b%d'], stride=%d, padding=%d, dilation=%d)")
      :format(i, i, i, i, c[3], c[4], c[5])
  end
  local want = oracle.run(table.concat(code, "\n"), inp)
  for i, c in ipairs(cases) do
    local name = ("kept %s weight on x%s, stride %d, padding %d, dilation %d"):format(T.render(c[2]), T.render(c[1]),
      c[3], c[4], c[5])
    local kept = keeps[i].prepared
    T.ok(kept == nil or (kept:size(1) == 1 and kept:size(2) == math.ceil(c[2][1] / 32) * 32 * c[2][2] * c[2][3] * c[2][4]),
         name .. ": the weight is kept packed in panels of 32 rows" .. (kept and "" or " (no AVX-512: nothing kept)"))
    T.close(ys[i], want["y" .. i], name .. ": agrees with PyTorch", 1e-5, 1e-5)
    local y1 = on_one_thread(function() return F.conv2d(inp["x" .. i], inp["w" .. i], inp["b" .. i],
      {stride = c[3], padding = c[4], dilation = c[5]}, keeps[i]) end)
    T.close(y1, ys[i], name .. ": the same on one thread", 1e-6, 1e-6)
  end
end

-- With a kept transform and enough tiles in the batch, the forward runs as F(4x4, 3x3): 36
-- products per 4x4 tile instead of 16 per 2x2, whose transforms amplify rounding more.
-- Shapes: several groups of images, the last partial (whole groups per thread); one group
-- shared by the threads; one image of many tiles; a 7x7 map (resnet's last stage), 16 images
-- to a group; padding 0 and 2; odd sizes whose last tiles hang over the edge.
do
  local cases = {
    {{7, 32, 13, 11}, {40, 32, 3, 3}, 1},
    {{2, 16, 30, 29}, {24, 16, 3, 3}, 0},
    {{1, 24, 33, 30}, {16, 24, 3, 3}, 2},
    {{16, 64, 7, 7}, {64, 64, 3, 3}, 1},
  }
  local worst, worst_direct = 0, 0
  for _, c in ipairs(cases) do
    local x, w, b = graft.randn(c[1]), graft.randn(c[2]) * 0.05, graft.randn{c[2][1]}
    local keep = {}
    local y = F.conv2d(x, w, b, {padding = c[3]}, keep)
    local name = ("F(4x4) %s pad %d"):format(table.concat(c[1], "x"), c[3])
    T.ok(keep.prepared and keep.prepared:size(1) == 36, name .. ": keeps the transform at 36 positions")
    local err, direct = float64_error(x, w, b, c[3], y)
    T.ok(err < 2e-5, ("%s: within 2e-5 of the float64 reference (%.3g; direct float32 %.3g)"):format(name, err, direct))
    worst, worst_direct = math.max(worst, err), math.max(worst_direct, direct)
    local y1, threads = on_one_thread(function() return F.conv2d(x, w, b, {padding = c[3]}, keep) end)
    T.close(y1, y, name .. ": one thread gives the result of " .. threads, 1e-6, 1e-6)
  end
  T.diag(("Winograd F(4x4, 3x3): max error %.3g of the largest output; direct float32 (PyTorch) %.3g"):format(
    worst, worst_direct))
  -- The batch size picks the tile size, and a kept transform of the other size is remade.
  local x, w = graft.randn{8, 32, 12, 12}, graft.randn{32, 32, 3, 3} * 0.05
  local keep = {}
  local y8 = F.conv2d(x, w, nil, {padding = 1}, keep)
  T.is(keep.prepared:size(1), 36, "eight 12x12 images: F(4x4)")
  local one = x:narrow(1, 1, 1):contiguous()
  local y1 = F.conv2d(one, w, nil, {padding = 1}, keep)
  T.is(keep.prepared:size(1), 16, "then one image: F(2x2), its transform made in place of the other")
  -- to the bound F(4x4) is held to above: 2e-5 of the largest output
  T.close(y1, y8:narrow(1, 1, 1), "both give the same first image", 0, 2e-5 * y8:abs():max():item())
  local again = F.conv2d(x, w, nil, {padding = 1}, keep)
  T.ok(keep.prepared:size(1) == 36 and (again - y8):abs():max():item() == 0,
       "and back to eight: F(4x4) again, the same result")
  local empty = F.conv2d(graft.randn{0, 32, 12, 12}, w, nil, {padding = 1}, keep)
  T.is(table.concat(empty:size(), "x"), "0x32x12x12", "an empty batch gives an empty result")
end

-- gradient of a strided input view flows back through the view
local base = graft.randn{2, 3, 6, 5}:requires_grad_()
local w = graft.randn{2, 3, 3, 3}
local y = F.conv2d(base:transpose(3, 4), w, nil, {padding = 1})
;(y * y):sum():backward()
local ref_x = base:detach():transpose(3, 4):contiguous():requires_grad_()
local ref = F.conv2d(ref_x, w, nil, {padding = 1})
;(ref * ref):sum():backward()
T.close(base.grad, ref_x.grad:transpose(3, 4), "a strided input view gets the gradient of its contiguous copy", 1e-5, 1e-5)

-- finite differences as a second opinion
local fx, fw = graft.randn{1, 2, 5, 5}:requires_grad_(), graft.randn{3, 2, 3, 3}:requires_grad_()
local f = function() return F.conv2d(fx, fw, nil, {stride = 2, padding = 1}):pow(2):sum() end
T.ok(gradcheck(f, fx) < 1e-2, "conv2d: d/dx matches finite differences")
T.ok(gradcheck(f, fw) < 1e-2, "conv2d: d/dw matches finite differences")
local dw = graft.randn{2, 1, 3, 3}:requires_grad_()
local fd = function() return F.conv2d(fx, dw, nil, {groups = 2, dilation = 2, padding = 2}):pow(2):sum() end
T.ok(gradcheck(fd, dw) < 1e-2, "depthwise conv2d: d/dw matches finite differences")

-- only the gradients that are needed are computed
local before = graft.stats()
local frozen_w = graft.randn{4, 3, 3, 3}
local xin = graft.randn{2, 3, 8, 8}:requires_grad_()
F.conv2d(xin, frozen_w):sum():backward()
local after = graft.stats()
T.is(after.conv_grad_weight - before.conv_grad_weight, 0, "a frozen weight gets no weight-gradient GEMM")
T.is(after.conv_grad_input - before.conv_grad_input, 1, "the input gradient is computed")
local trainable = graft.randn{4, 3, 3, 3}:requires_grad_()
before = graft.stats()
F.conv2d(graft.randn{2, 3, 8, 8}, trainable):sum():backward()
after = graft.stats()
T.is(after.conv_grad_input - before.conv_grad_input, 0, "an input that needs no gradient gets no input-gradient pass")

T.error_like(function() F.conv2d(graft.randn{2, 4, 7, 7}, graft.randn{6, 3, 3, 3}) end,
             "conv2d: input has 4 channels but weight expects 3 (input {2,4,7,7}, weight {6,3,3,3}, groups 1)",
             "channel mismatch is explained")
T.error_like(function() F.conv2d(graft.randn{1, 3, 2, 2}, graft.randn{1, 3, 3, 3}) end,
             "conv2d: input {1,3,2,2} (padded) is smaller than the kernel {1,3,3,3}", "input too small")
T.error_like(function() F.conv2d(graft.randn{1, 4, 5, 5}, graft.randn{3, 2, 3, 3}, nil, {groups = 2}) end,
             "conv2d: 3 output channels do not split into 2 groups", "groups must divide output channels")
T.error_like(function() F.conv2d(graft.randn{3, 5, 5}, graft.randn{3, 3, 3, 3}) end,
             "conv2d: expects a 4-D input (N, C, H, W)", "3-D input")
T.error_like(function() F.conv2d(graft.randn{1, 3, 5, 5}, graft.randn{2, 3, 3, 3}, nil, {stride = 0}) end,
             "conv2d: stride and dilation must be >= 1", "zero stride")
T.done()
