#!/usr/bin/env lua5.4
-- tests/630-pth.t — torch.save'd .pth state dicts load through graft's own safe reader: the
-- same tensors as their safetensors twins; pickles that name other globals are refused and
-- never run; truncated or corrupted files give clean errors.
local T, graft, oracle = require "tap", require "graft", require "oracle"
local dir = oracle.tmpname()
assert(os.execute("mkdir -p " .. dir))

oracle.run(([==[
import os, torchvision
torch.manual_seed(0)
m = torchvision.models.resnet18(num_classes=10)
sd = m.state_dict()
torch.save(sd, "%s/r18.pth")
save("%s/r18.safetensors", sd)
base = torch.randn(4, 6)
odd = {"tied_a": base, "tied_b": base, "view": base.t()[1:3], "half": torch.randn(5).half(),
       "flags": torch.tensor([True, False, True]), "scalar": torch.tensor(7), "empty": torch.zeros(0, 3)}
torch.save(odd, "%s/odd.pth")
save("%s/odd.safetensors", {k: v.contiguous() for k, v in odd.items()})
class Evil:
    def __reduce__(self):
        return (os.system, ("echo graft-should-never-run-this > %s/pwned",))
torch.save({"x": Evil()}, "%s/evil.pth")
torch.save(m, "%s/module.pth")
torch.save({"w": torch.ones(2)}, "%s/old.pth", _use_new_zipfile_serialization=False)
]==]):format(dir, dir, dir, dir, dir, dir, dir, dir), {})

local function same(a, b)
  local na, nb = 0, 0
  for k, v in pairs(a) do
    na = na + 1
    if not b[k] or v:dtype() ~= b[k]:dtype() or not graft.allclose(v:to("f32"), b[k]:to("f32"), 0, 0) then return false, k end
  end
  for _ in pairs(b) do nb = nb + 1 end
  return na == nb, "count"
end
local ok, where = same(graft.load(dir .. "/r18.pth"), graft.load(dir .. "/r18.safetensors"))
T.ok(ok, "a torchvision state dict from torch.save loads with the same tensors as its safetensors twin" .. (ok and "" or (" (" .. where .. ")")))
local odd = graft.load(dir .. "/odd.pth")
ok, where = same(odd, graft.load(dir .. "/odd.safetensors"))
T.ok(ok, "shared storages, strided views, f16, bool, 0-dim and empty tensors load right" .. (ok and "" or (" (" .. where .. ")")))
T.ok(not odd.tied_a:shares_storage(odd.tied_b), "tensors that shared a storage in the file do not alias after loading")
local m = graft.models.resnet18{num_classes = 10, weights = dir .. "/r18.pth"}
local twin = graft.models.resnet18{num_classes = 10, weights = dir .. "/r18.safetensors"}
m:eval(); twin:eval()
local x = graft.randn{1, 3, 64, 64}
T.equal(graft.no_grad(m, x), graft.no_grad(twin, x), "a zoo model built from the .pth gives its twin's logits")

T.error_like(function() graft.load(dir .. "/evil.pth") end, "the pickle names posix.system, which a state dict does not need: refused",
             "a pickle naming os.system is refused by name")
T.ok(io.open(dir .. "/pwned") == nil, "and nothing in it ran")
T.error_like(function() graft.load(dir .. "/module.pth") end, "the pickle names torchvision.models.resnet.ResNet", "a pickled module (torch.save(model)) is refused")
T.error_like(function() graft.load(dir .. "/old.pth") end, "old.pth: a .pth in PyTorch's format from before 1.6, which graft does not read",
             "the legacy (pre-1.6) format is a clear error")

-- every truncation, and corruptions of the pickle, are clean errors
local bytes = assert(io.open(dir .. "/odd.pth", "rb")):read("a")
local crashes, accepted = 0, 0
for cut = 0, #bytes - 1, math.max(1, #bytes // 300) do
  local f = assert(io.open(dir .. "/cut.pth", "wb")); f:write(bytes:sub(1, cut)); f:close()
  local good, err = pcall(graft.load, dir .. "/cut.pth")
  if good then accepted = accepted + 1 elseif not tostring(err):find("graft.load: ", 1, true) then crashes = crashes + 1 end
end
T.is(crashes, 0, "truncated files give graft.load errors")
T.is(accepted, 0, "and none of them loads")
local pkl = bytes:find("data.pkl", 1, true)
local off = bytes:find("\128\2", pkl, true)   -- PROTO 2: the pickle's first bytes
local odd_errors = 0
for i = 0, 400 do
  local p = off + i
  local b = bytes:sub(1, p - 1) .. string.char((bytes:byte(p) * 7 + 13) % 256) .. bytes:sub(p + 1)
  local f = assert(io.open(dir .. "/flip.pth", "wb")); f:write(b); f:close()
  local good, err = pcall(graft.load, dir .. "/flip.pth")
  if not good and not tostring(err):find("graft.load: ", 1, true) then odd_errors = odd_errors + 1 end
end
T.is(odd_errors, 0, "400 single-byte corruptions of the pickle load or give graft.load errors")
os.execute("rm -rf " .. dir)
T.done()
