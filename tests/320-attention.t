#!/usr/bin/env lua5.4
-- tests/320-attention.t — F.scaled_dot_product_attention (C forward and backward) against a
-- PyTorch transcription of BERT's self-attention (Hugging Face's additive finfo.min mask):
-- masks with padding, a row with every key masked, Tq ~= Tk and Dv ~= D, heads split from a
-- {B, T, H, D} projection without a copy, keys that need one, a custom scale, and enough
-- heads to run in parallel; finite differences; the output's layout; errors.
local T, graft, gradcases, gradcheck = require "tap", require "graft", require "gradcases", require "gradcheck"
local F = graft.F
graft.manual_seed(T.seed())

local R = graft.randn
local SDPA = "(lambda q, k, v, m, s: torch.softmax(q @ k.transpose(-1, -2) * s"
  .. " + (0 if m is None else (1 - m[:, None, None, :].float()) * torch.finfo(torch.float32).min), -1) @ v)"
local function py(q, k, v, m, s) return ("%s(%s, %s, %s, %s, %s)"):format(SDPA, q, k, v, m or "None", s) end

local pad = graft.tensor({{1, 1, 1, 1, 1, 1}, {1, 1, 1, 0, 0, 0}}, "i64")
local none = graft.tensor({{1, 1, 0, 1, 1}, {0, 0, 0, 0, 0}}, "u8")    -- row 2: every key masked
local big_mask = graft.ones({4, 32}, "i64")
big_mask:narrow(1, 2, 3):narrow(2, 20, 13):fill_(0)
local cases = {
  {py("q", "k", "v", nil, 0.5), {q = R{2, 3, 5, 4}, k = R{2, 3, 5, 4}, v = R{2, 3, 5, 4}}, nil,
   function(x) return F.scaled_dot_product_attention(x.q, x.k, x.v) end},
  {py("q", "k", "v", "m", "8 ** -0.5"), {q = R{2, 2, 4, 8}, k = R{2, 2, 6, 8}, v = R{2, 2, 6, 3}}, {m = pad},
   function(x) return F.scaled_dot_product_attention(x.q, x.k, x.v, {mask = x.m}) end},
  {py("q", "k", "v", "m", "0.5"), {q = R{2, 1, 3, 4}, k = R{2, 1, 5, 4}, v = R{2, 1, 5, 4}}, {m = none},
   function(x) return F.scaled_dot_product_attention(x.q, x.k, x.v, {mask = x.m}) end},
  {py("x.transpose(1, 2)", "y.transpose(1, 2)", "z.transpose(1, 2)", "m", "0.3"),
   {x = R{2, 6, 3, 4}, y = R{2, 6, 3, 4}, z = R{2, 6, 3, 4}}, {m = pad},
   function(a) return F.scaled_dot_product_attention(a.x:transpose(2, 3), a.y:transpose(2, 3), a.z:transpose(2, 3),
     {mask = a.m:view(2, 1, 1, 6), scale = 0.3}) end},
  {py("q", "kt.transpose(-1, -2)", "v", nil, "0.5"), {q = R{1, 2, 3, 4}, kt = R{1, 2, 4, 5}, v = R{1, 2, 5, 2}}, nil,
   function(x) return F.scaled_dot_product_attention(x.q, x.kt:transpose(3, 4), x.v) end},
  {py("q", "k", "v", "m", "0.25"), {q = R{4, 4, 32, 16}, k = R{4, 4, 32, 16}, v = R{4, 4, 32, 16}}, {m = big_mask},
   function(x) return F.scaled_dot_product_attention(x.q, x.k, x.v, {mask = x.m}) end},
}
gradcases.run(cases, {forward_tol = 1e-4})

local q, k, v = R{2, 2, 3, 4}, R{2, 2, 3, 4}, R{2, 2, 3, 4}
local masked = graft.tensor({{1, 1, 0}, {1, 0, 0}}, "i64")
local p = F.scaled_dot_product_attention(q, k, v, {mask = masked})
T.close(p:select(1, 2), v:select(1, 2):narrow(2, 1, 1):expand(2, 3, 4),
        "one key left: every query reads exactly its value", 1e-6, 1e-6)
local y = F.scaled_dot_product_attention(q, k, v)
T.ok(y:transpose(2, 3):is_contiguous(), "the output is stored {B, T, H, D}: merging heads copies nothing")

local gq, gk, gv = R{1, 2, 3, 4}:requires_grad_(), R{1, 2, 4, 4}:requires_grad_(), R{1, 2, 4, 2}:requires_grad_()
local w = R{1, 2, 3, 2}
local m = graft.tensor({{1, 1, 1, 0}}, "i64")
local function loss() return (F.scaled_dot_product_attention(gq, gk, gv, {mask = m}) * w):sum() end
for name, leaf in pairs {q = gq, k = gk, v = gv} do
  T.ok(gradcheck(loss, leaf) < 2e-2, "d/d" .. name .. " matches finite differences")
end

T.error_like(function() F.scaled_dot_product_attention(R{2, 3, 4}, R{2, 3, 4}, R{2, 3, 4}) end,
  "scaled_dot_product_attention: query, key and value must be {B, heads, T, D}, got {2,3,4}", "rank")
T.error_like(function() F.scaled_dot_product_attention(R{1, 2, 3, 4}, R{1, 2, 5, 3}, R{1, 2, 5, 4}) end,
  "query {1,2,3,4}, key {1,2,5,3} and value {1,2,5,4} do not fit", "mismatched head size")
T.error_like(function() F.scaled_dot_product_attention(R{1, 2, 3, 4}, R{1, 2, 5, 4}, R{1, 2, 5, 4}, {mask = graft.ones{1, 3}}) end,
  "the mask must be {B, Tk} = {1, 5}, got {1,3}", "mask shape")
T.done()
