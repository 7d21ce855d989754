#!/usr/bin/env lua5.4
-- tests/085-safetensors-bad.t — malformed safetensors files: each gives a Lua error naming
-- the file and the problem; none crashes, none allocates what the file cannot justify.
local T, graft, oracle, stfile = require "tap", require "graft", require "oracle", require "stfile"
local dir = oracle.tmpname()
assert(os.execute("mkdir -p " .. dir))
local F8 = string.pack("<ff", 1, 2)       -- two f32s: 8 bytes
local BADDIM = 'tensor "a" has a shape entry that is not a whole number in [0, 2^53]'
local BADOFF = 'tensor "a" needs data_offsets [begin, end] of whole numbers'

local function entry(name, dtype, shape, b, e, extra)
  return ('%q:{"dtype":%q,"shape":[%s],"data_offsets":[%s,%s]%s}'):format(
    name, dtype, shape, b, e, extra or "")
end

-- {description, header text, data bytes, expected message, [length override]}
local cases = {
  {"a file shorter than the length field", nil, nil, "the file has 3 bytes, too few for a safetensors header"},
  {"a header length past the end", "{}", "", "the header length 1000 runs past the end of the file (10 bytes)", 1000},
  {"a header over 100 MB", "{}", "", "the header length 200000000 exceeds the limit of 100000000", 200000000},
  {"a header length near 2^64", "{}", "", "the header length 18446744073709551615 exceeds the limit of 100000000", -1},
  {"a header not starting with {", "[]", "", "the header does not start with '{'"},
  {"an empty header", "", "", "the header does not start with '{'"},
  {"truncated JSON", '{"a":', "", "the header is not valid JSON"},
  {"invalid UTF-8", '{"\xff":1}', "", "the header is not valid UTF-8 text"},
  {"an overlong UTF-8 encoding", '{"\xc0\xaf":1}', "", "the header is not valid UTF-8 text"},
  {"a NUL byte in the header", '{"a\0":1}', "", "the header is not valid UTF-8 text"},
  {"text after the JSON", "{} x", "", "text follows the header's JSON object"},
  {"an entry that is not an object", '{"a":3}', "", 'entry "a" is not an object'},
  {"an unknown dtype", "{" .. entry("a", "F12", "2", 0, 8) .. "}", F8, 'tensor "a" has unknown dtype "F12"'},
  {"an F8 dtype", "{" .. entry("a", "F8_E4M3", "8", 0, 8) .. "}", F8, 'tensor "a" has dtype F8_E4M3, which graft cannot load'},
  {"a sub-byte dtype", "{" .. entry("a", "F4", "16", 0, 8) .. "}", F8, 'tensor "a" has dtype F4, which graft cannot load'},
  {"a complex dtype", "{" .. entry("a", "C64", "1", 0, 8) .. "}", F8, 'tensor "a" has dtype C64, which graft cannot load'},
  {"an unknown field", "{" .. entry("a", "F32", "2", 0, 8, ',"foo":1') .. "}", F8, 'tensor "a" has an unknown field "foo"'},
  {"a field twice", "{" .. entry("a", "F32", "2", 0, 8, ',"dtype":"F32"') .. "}", F8, 'tensor "a" has field "dtype" twice'},
  {"a missing shape", '{"a":{"dtype":"F32","data_offsets":[0,8]}}', F8, 'tensor "a" needs a string dtype and array shape and data_offsets'},
  {"a negative dim", "{" .. entry("a", "F32", "-2", 0, 8) .. "}", F8, BADDIM},
  {"a fractional dim", "{" .. entry("a", "F32", "1.5", 0, 8) .. "}", F8, BADDIM},
  {"a dim beyond 2^53", "{" .. entry("a", "F32", "1e300", 0, 8) .. "}", F8, BADDIM},
  {"a string dim", "{" .. entry("a", "F32", '"2"', 0, 8) .. "}", F8, BADDIM},
  {"nine dims", "{" .. entry("a", "F32", "1,1,1,1,1,1,1,1,2", 0, 8) .. "}", F8, 'tensor "a" has 9 dims (graft allows 8)'},
  {"three offsets", '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}}', F8, BADOFF},
  {"a negative offset", "{" .. entry("a", "F32", "2", -8, 0) .. "}", F8, BADOFF},
  {"end before begin", "{" .. entry("a", "F32", "0", 8, 0) .. "}", F8, 'tensor "a" ends (0) before it begins (8)'},
  {"shape and size disagree", "{" .. entry("a", "F32", "3", 0, 8) .. "}", F8, 'tensor "a" of shape {3} and dtype F32 needs 12 bytes but its offsets span 8'},
  {"a shape whose size overflows", "{" .. entry("a", "F32", "4503599627370496,4503599627370496", 0, 8) .. "}", F8, 'tensor "a": shape overflows'},
  {"overlapping tensors", "{" .. entry("a", "F32", "2", 0, 8) .. "," .. entry("b", "F32", "1", 4, 8) .. "}", F8, 'tensor "b" begins at byte 4 of the data but the previous tensor ends at 8 (overlap)'},
  {"a gap between tensors", "{" .. entry("a", "F32", "1", 0, 4) .. "," .. entry("b", "U8", "2", 6, 8) .. "}", F8, 'tensor "b" begins at byte 6 of the data but the previous tensor ends at 4 (gap)'},
  {"a first tensor not at 0", "{" .. entry("a", "F32", "1", 4, 8) .. "}", F8, 'tensor "a" begins at byte 4 of the data but the previous tensor ends at 0 (gap)'},
  {"trailing bytes", "{" .. entry("a", "F32", "1", 0, 4) .. "}", F8, "tensors end at byte 4 of the data but the file has 8 data bytes"},
  {"data cut short", "{" .. entry("a", "F32", "4", 0, 16) .. "}", F8, "tensors end at byte 16 of the data but the file has 8 data bytes"},
  {"a header claiming 10^12 elements", "{" .. entry("a", "F32", "1000000000000", 0, 4000000000000) .. "}", F8,
   "tensors end at byte 4000000000000 of the data but the file has 8 data bytes"},
  {"a duplicate tensor name", "{" .. entry("a", "F32", "1", 0, 4) .. "," .. entry("a", "F32", "1", 4, 8) .. "}", F8, 'tensor "a" appears twice'},
  {"a duplicate metadata key", '{"__metadata__":{"k":"1","k":"2"}}', "", '__metadata__ key "k" appears twice'},
  {"a non-string metadata value", '{"__metadata__":{"epoch":3}}', "", '__metadata__ value "epoch" is not a string'},
  {"metadata that is not an object", '{"__metadata__":[]}', "", "__metadata__ is not an object"},
  {"two __metadata__ entries", '{"__metadata__":{},"__metadata__":{}}', "", "__metadata__ appears twice"},
  {"a U64 value above 2^63-1", "{" .. entry("a", "U64", "1", 0, 8) .. "}", string.pack("<I8", -1), 'tensor "a" holds a U64 value above 2^63-1'},
  {"deeply nested JSON", "{" .. string.rep('"a":[', 1) .. string.rep("[", 5000) .. string.rep("]", 5000) .. "]}", "", "the header is not valid JSON"},
}

T.plan(#cases * 2 + 5)
for i, c in ipairs(cases) do
  local path = ("%s/bad%02d.safetensors"):format(dir, i)
  if c[2] == nil then
    local f = assert(io.open(path, "wb")); f:write("abc"); f:close()
  else
    local len = c[5]
    if len == -1 then len = nil end
    stfile.raw(path, c[2], c[3], len)
    if c[5] == -1 then   -- a length field of 0xffff...ff
      local f = assert(io.open(path, "r+b")); f:write(string.rep("\xff", 8)); f:close()
    end
  end
  T.error_like(function() graft.load(path) end, "graft.load: " .. path .. ": " .. c[4], c[1])
  -- the same file again: errors leave nothing behind (ASan checks the leak side)
  T.ok(not pcall(graft.load, path), c[1] .. " (again)")
end
T.error_like(function() graft.load(dir .. "/missing.safetensors") end,
             "graft.load: " .. dir .. "/missing.safetensors: cannot open: No such file or directory", "a missing file")
T.error_like(function() graft.load(dir) end, "graft.load: " .. dir .. ": not a regular file", "a directory")
T.error_like(function() graft.load(42) end, "graft.load: 42: cannot open", "a number is taken as a path, as Lua does")
-- Every prefix of a valid file is rejected cleanly.
local good = dir .. "/good.safetensors"
graft.save(good, {w = graft.ones{3, 3}, b = graft.zeros({2}, "i64")}, {format = "pt"})
local bytes = assert(io.open(good, "rb")):read("a")
local all_refused = true
for cut = 0, #bytes - 1 do
  local f = assert(io.open(dir .. "/cut.safetensors", "wb")); f:write(bytes:sub(1, cut)); f:close()
  if pcall(graft.load, dir .. "/cut.safetensors") then all_refused = false end
end
T.ok(all_refused, ("all %d truncations of a valid file are refused"):format(#bytes))
-- Flipping any single byte of the header never crashes (it may still be a valid file).
local header_end = 8 + string.unpack("<I8", bytes)
local crashes = 0
for pos = 1, header_end do
  local b = bytes:sub(1, pos - 1) .. string.char((bytes:byte(pos) + 1) % 256) .. bytes:sub(pos + 1)
  local f = assert(io.open(dir .. "/flip.safetensors", "wb")); f:write(b); f:close()
  local ok, err = pcall(graft.load, dir .. "/flip.safetensors")
  if not ok and not tostring(err):find("graft.load: ", 1, true) then crashes = crashes + 1 end
end
T.is(crashes, 0, "every one-byte change of the header loads or gives a graft.load error")
os.execute("rm -rf " .. dir)
T.done()
