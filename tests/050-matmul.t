#!/usr/bin/env lua5.4
-- tests/050-matmul.t — matmul on every shape rule of torch.matmul: vectors, matrices,
-- batches with broadcasting, transposed and strided views, empty dims, integers.
local T, graft, oracle = require "tap", require "graft", require "oracle"
graft.manual_seed(T.seed())

local cases = {
  {"vector . vector", {5}, {5}},
  {"matrix @ vector", {3, 5}, {5}},
  {"vector @ matrix", {5}, {5, 4}},
  {"matrix @ matrix", {3, 5}, {5, 4}},
  {"1x1 @ 1x1", {1, 1}, {1, 1}},
  {"row @ column", {1, 7}, {7, 1}},
  {"column @ row", {7, 1}, {1, 7}},
  {"batch @ batch", {2, 3, 5}, {2, 5, 4}},
  {"batch @ matrix (broadcast)", {2, 3, 5}, {5, 4}},
  {"matrix @ batch (broadcast)", {3, 5}, {2, 5, 4}},
  {"batch @ vector", {2, 3, 5}, {5}},
  {"vector @ batch", {5}, {2, 5, 4}},
  {"4-D broadcast batch dims", {2, 1, 3, 5}, {1, 4, 5, 2}},
  {"large enough for threads", {64, 300}, {300, 65}},
  {"many small products", {40, 6, 7}, {40, 7, 5}},
  {"empty inner dim", {3, 0}, {0, 4}},
  {"empty outer dim", {0, 5}, {5, 4}},
}
local inputs = {}
for i, c in ipairs(cases) do
  c.a, c.b = graft.randn(c[2]), graft.randn(c[3])
  inputs["a" .. i], inputs["b" .. i] = c.a, c.b
end
-- strided operands: transposed (BLAS reads them as such), narrowed (BLAS reads with ld),
-- and a stepped view that BLAS cannot read directly (copied first)
local m = graft.randn{6, 8}
inputs.mt, inputs.mn, inputs.ms = m:t():contiguous(), m:narrow(2, 2, 5):contiguous(), m:transpose(1, 2):narrow(1, 1, 6):contiguous()
local ia, ib = graft.randint(-5, 6, {3, 4}), graft.randint(-5, 6, {4, 2})
inputs.ia, inputs.ib = ia, ib
local want = oracle.run([==[
for k in list(inp):
    if k[0] == "a" and k[1:].isdigit():
        out["r" + k[1:]] = torch.matmul(inp[k], inp["b" + k[1:]])
m_t, m_n = inp["mt"], inp["mn"]
out["tt"] = torch.matmul(m_t, m_n)           # (8x6) @ (6x5)
out["nt"] = torch.matmul(m_n.T, m_n)         # (5x6) @ (6x5)
out["ii"] = torch.matmul(inp["ia"], inp["ib"])
]==], inputs)

for i, c in ipairs(cases) do
  T.close(c.a:matmul(c.b), want["r" .. i], "matmul: " .. c[1], 1e-4, 1e-4)
end
T.close(m:t():matmul(m:narrow(2, 2, 5)), want.tt, "transposed @ narrowed view (no copies)", 1e-4, 1e-4)
T.close(m:narrow(2, 2, 5):t():matmul(m:narrow(2, 2, 5)), want.nt, "narrowed-transposed @ narrowed", 1e-4, 1e-4)
local stepped = graft.randn{4, 10}
local sv = stepped:view(4, 5, 2):select(3, 1)    -- stride 2 in the last dim
T.close(sv:matmul(graft.ones{5, 1}), sv:sum(2, true), "a view BLAS cannot read is copied", 1e-5, 1e-5)
local ii = ia:matmul(ib)
T.is(ii:dtype(), "i64", "integer matmul stays i64")
T.equal(ii, want.ii, "integer matmul is exact")
T.is(graft.randn{5}:matmul(graft.randn{5}):dim(), 0, "vector . vector is 0-dim")
T.error_like(function() graft.zeros{2, 3}:matmul(graft.zeros{4, 2}) end,
             "matmul: inner dims differ: {2,3} @ {4,2} (3 vs 4)", "inner dims must agree")
T.error_like(function() graft.zeros{2, 2, 3}:matmul(graft.zeros{3, 3, 2}) end,
             "matmul: shapes {2} and {3} cannot be broadcast", "batch dims must broadcast")
T.error_like(function() graft.zeros{}:matmul(graft.zeros{2}) end, "matmul: both operands need at least 1 dim", "0-dim operands")

-- results do not depend on the thread count
local a, b = graft.randn{200, 300}, graft.randn{300, 100}
local n0 = graft.get_num_threads()
graft.set_num_threads(1)
local one = a:matmul(b)
graft.set_num_threads(2)
local two = a:matmul(b)
graft.set_num_threads(n0)
T.close(one, two, "1 and 2 threads agree (to float rounding)", 1e-4, 1e-4)
T.done()
