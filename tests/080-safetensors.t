#!/usr/bin/env lua5.4
-- tests/080-safetensors.t — graft.save / graft.load: round trips, files PyTorch writes in
-- every dtype, files graft writes read by PyTorch, metadata, atomic writes, sharded indexes.
local T, graft, oracle, stfile = require "tap", require "graft", require "oracle", require "stfile"
graft.manual_seed(T.seed())
local dir = oracle.tmpname()
assert(os.execute("mkdir -p " .. dir))

-- round trip of every graft dtype, odd shapes, a scalar, an empty tensor, a strided view
local x = graft.randn{3, 5, 7}
local sd = {
  ["layer1.0.conv1.weight"] = x, ["bn1.num_batches_tracked"] = graft.tensor(7, "i64"),
  mask = graft.tensor({1, 0, 255}, "u8"), empty = graft.zeros{0, 4}, view = x:transpose(1, 3),
  ["ünïcode name"] = graft.ones{2},
}
local path = dir .. "/rt.safetensors"
graft.save(path, sd, {format = "pt", note = 'quotes " and \\ and\nnewline'})
local back, meta = graft.load(path)
local count = 0
for name, t in pairs(sd) do
  count = count + 1
  T.is(back[name] and back[name]:dtype(), t:dtype(), "round trip keeps the dtype of " .. name)
  T.equal(back[name], t, "round trip keeps the values of " .. name)
end
local n = 0
for _ in pairs(back) do n = n + 1 end
T.is(n, count, "round trip keeps exactly the tensors saved")
T.is_deeply(back["bn1.num_batches_tracked"]:shape(), {}, "a 0-dim tensor stays 0-dim")
T.is(meta.format, "pt", "metadata round trip")
T.is(meta.note, 'quotes " and \\ and\nnewline', "metadata strings are escaped and restored")
local raw = assert(io.open(path, "rb")):read("a")
local hlen = string.unpack("<I8", raw)
T.is((8 + hlen) % 8, 0, "the data section starts 8-byte aligned, as the reference writer pads")
T.is(raw:sub(9, 9), "{", "the header starts with {")
T.ok(raw:find('"__metadata__"', 1, true) < raw:find('"bn1', 1, true), "__metadata__ comes first")
local _, empty_meta = graft.load(stfile.build(dir .. "/nometa.safetensors", {}))
T.is(next(empty_meta), nil, "a file without __metadata__ gives an empty table")

-- PyTorch writes every dtype; graft loads them converted (floats -> f32, ints -> i64, bool -> u8)
local want = oracle.run(string.format([==[
vals = [-3.25, -1.0, 0.0, 0.5, 1.0, 65504.0, 1e-5, 3.0e38]
torch.manual_seed(0)
ref = {
  "f64": torch.tensor(vals, dtype=torch.float64), "f32": torch.tensor(vals, dtype=torch.float32),
  "f16": torch.tensor(vals[:6] + [6e-8, float("inf")], dtype=torch.float16),
  "bf16": torch.tensor(vals, dtype=torch.bfloat16),
  "i64": torch.tensor([-2**62, -1, 0, 2**62], dtype=torch.int64),
  "i32": torch.tensor([-2**31, -1, 0, 2**31 - 1], dtype=torch.int32),
  "i16": torch.tensor([-2**15, -1, 0, 2**15 - 1], dtype=torch.int16),
  "i8": torch.tensor([-128, -1, 0, 127], dtype=torch.int8),
  "u8": torch.tensor([0, 1, 128, 255], dtype=torch.uint8),
  "bool": torch.tensor([True, False, True]),
  "matrix": torch.randn(3, 4), "scalar": torch.tensor(5, dtype=torch.int64),
}
save("%s/torch.safetensors", ref, {"format": "pt"})
for k, v in ref.items():
    out[k] = v.float() if v.is_floating_point() else (v.to(torch.uint8) if v.dtype == torch.bool else v.long())
t = load("%s/graft.safetensors")
out["from_graft"] = t["w"] * 2
out["from_graft_i"] = t["i"] + 1
]==], dir, dir) , (function()
  graft.save(dir .. "/graft.safetensors", {w = graft.tensor{{1.5, -2}, {3, 4}}, i = graft.tensor({1, 2}, "i64")})
  return {}
end)())
local got = graft.load(dir .. "/torch.safetensors")
for _, name in ipairs {"f64", "f32", "f16", "bf16", "matrix"} do
  T.is(got[name]:dtype(), "f32", name .. " loads as f32")
  T.equal(got[name], want[name], name .. " values match PyTorch's conversion to float32")
end
for _, name in ipairs {"i64", "i32", "i16", "i8", "scalar"} do
  T.is(got[name]:dtype(), "i64", name .. " loads as i64")
  T.equal(got[name], want[name], name .. " values")
end
T.equal(got.u8, want.u8, "U8 loads as u8")
T.equal(got.bool, want.bool, "BOOL loads as u8 0/1")
T.is(got.bool:dtype(), "u8", "BOOL dtype is u8")
T.close(want.from_graft, {{3, -4}, {6, 8}}, "PyTorch reads the f32 tensors graft writes")
T.equal(want.from_graft_i, {2, 3}, "PyTorch reads the i64 tensors graft writes")

-- unsigned dtypes torch 1.13 cannot write: built by hand
local u = graft.load(stfile.build(dir .. "/unsigned.safetensors", {
  {"u16", "U16", {2}, string.pack("<I2I2", 0, 65535)},
  {"u32", "U32", {2}, string.pack("<I4I4", 7, 4294967295)},
  {"u64", "U64", {1}, string.pack("<i8", math.maxinteger)},
}))
T.equal(u.u16, {0, 65535}, "U16 loads as i64")
T.equal(u.u32, {7, 4294967295}, "U32 loads as i64")
T.is(u.u64:get(1), math.maxinteger, "U64 up to 2^63-1 loads")

-- atomic writes: nothing left beside the file, an existing file replaced whole
graft.save(path, {a = graft.ones{2}})
local leftovers = io.popen("ls -a " .. dir):read("a")
T.ok(not leftovers:find("%.tmp%-"), "no temporary file is left behind")
T.is_deeply(graft.load(path).a:totable(), {1, 1}, "saving over a file replaces it")
T.error_like(function() graft.save(dir .. "/no/such/dir/x.safetensors", {a = graft.ones{1}}) end,
             "graft.save: " .. dir .. "/no/such/dir/x.safetensors: cannot create a temporary file beside it",
             "a missing directory is a clear error")
T.error_like(function() graft.save(path, {a = 1}) end, 'graft.save: ' .. path .. ': "a" is a number, not a tensor', "values must be tensors")
T.error_like(function() graft.save(path, {graft.ones{1}}) end, "tensor names must be strings", "names must be strings")
T.error_like(function() graft.save(path, {}, {epoch = 3}) end, "metadata keys and values must be strings", "metadata must be strings")
T.is_deeply(graft.load(path).a:totable(), {1, 1}, "a failed save leaves the previous file intact")

-- sharded checkpoints: the index maps names to shards
graft.save(dir .. "/model-00001-of-00002.safetensors", {["a.weight"] = graft.ones{2}, ["a.bias"] = graft.zeros{2}})
graft.save(dir .. "/model-00002-of-00002.safetensors", {["b.weight"] = graft.full({3}, 2)})
local function index(map)
  local f = assert(io.open(dir .. "/model.safetensors.index.json", "w"))
  local parts = {}
  for k, v in pairs(map) do parts[#parts + 1] = ("%q: %q"):format(k, v) end
  f:write('{"metadata": {"total_size": 28}, "weight_map": {' .. table.concat(parts, ", ") .. "}}")
  f:close()
  return dir .. "/model.safetensors.index.json"
end
local s1, s2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
local merged, mmeta = graft.load(index {["a.weight"] = s1, ["a.bias"] = s1, ["b.weight"] = s2})
T.is_deeply({merged["a.weight"]:totable(), merged["a.bias"]:totable(), merged["b.weight"]:totable()},
            {{1, 1}, {0, 0}, {2, 2, 2}}, "a sharded index loads as one state dict")
T.is(mmeta.total_size, "28", "the index's metadata comes along as strings")
T.error_like(function() graft.load(index {["a.weight"] = s1, ["b.weight"] = s2}) end,
             'tensor "a.bias" is in ' .. s1 .. " but the index puts it in nil", "a tensor the index does not name")
T.error_like(function() graft.load(index {["a.weight"] = s1, ["a.bias"] = s1, ["b.weight"] = s2, ["c"] = s2}) end,
             'tensor "c" is missing from ' .. s2, "a tensor the index names but no shard has")
T.error_like(function() graft.load(index {["a.weight"] = "../x.safetensors"}) end, "invalid shard name", "shard names cannot leave the folder")
os.execute("rm -rf " .. dir)
T.done()
