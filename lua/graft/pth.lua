-- A safe reader for torch.save's .pth state dicts (the zip format of PyTorch >= 1.6), so a Lua
-- user needs no PyTorch for torchvision's weights. The zip's central directory locates the
-- stored entries; data.pkl runs on a small pickle interpreter that knows the opcodes a state
-- dict uses and builds only whitelisted globals: anything else is refused, never executed.
-- Parsing untrusted bytes here, in Lua, can only raise an error; the tensor bytes are read
-- by graft.core.read_raw, which checks the region against the file.
local core = require "graft.core"

local T = core.Tensor
local pth = {}

local function fail(path, msg, ...) error(("graft.load: %s: " .. msg):format(path, ...), 0) end

-- The whole file is not read: only its tail, its central directory and data.pkl.
local function read_at(f, path, offset, len)
  if not f:seek("set", offset) then fail(path, "cannot seek to byte %d", offset) end
  local s = f:read(len)
  if not s or #s ~= len then fail(path, "the file ends inside the zip structure (byte %d)", offset) end
  return s
end

--- entries(path) -> {name = {offset = data offset, size = bytes}}: the zip's stored entries.
function pth.zip_entries(path)
  local f = io.open(path, "rb")
  if not f then fail(path, "cannot open") end
  local ok, res = pcall(function()
    local size = f:seek("end")
    local tail_len = math.min(size, 65557)
    local tail = read_at(f, path, size - tail_len, tail_len)
    local at
    for i = #tail - 21, 1, -1 do
      if tail:sub(i, i + 3) == "PK\5\6" then at = i break end
    end
    if not at then fail(path, "not a zip file (no end of central directory)") end
    local _, _, _, _, count, cd_size, cd_offset = string.unpack("<I4I2I2I2I2I4I4", tail, at)
    if count == 0xFFFF or cd_offset == 0xFFFFFFFF or cd_size == 0xFFFFFFFF then   -- zip64
      local loc = at - 20
      if loc < 1 or tail:sub(loc, loc + 3) ~= "PK\6\7" then fail(path, "zip64 locator missing") end
      local rec_off = string.unpack("<I8", tail, loc + 8)
      local rec = read_at(f, path, rec_off, 56)
      if rec:sub(1, 4) ~= "PK\6\6" then fail(path, "zip64 end record missing") end
      count, cd_size, cd_offset = string.unpack("<I8I8I8", rec, 33)
    end
    if cd_offset + cd_size > size or cd_size > 64 * 2 ^ 20 then fail(path, "the central directory lies outside the file") end
    local cd = read_at(f, path, cd_offset, cd_size)
    local entries, pos = {}, 1
    for _ = 1, count do
      if cd:sub(pos, pos + 3) ~= "PK\1\2" then fail(path, "a central directory entry is malformed") end
      local method, _, _, _, csize, usize, nlen, xlen, clen, _, _, _, loff =
        string.unpack("<I2I2I2I4I4I4I2I2I2I2I2I4I4", cd, pos + 10)
      local name = cd:sub(pos + 46, pos + 45 + nlen)
      local extra = cd:sub(pos + 46 + nlen, pos + 45 + nlen + xlen)
      local xp = 1   -- zip64 sizes and offset live in extra field 0x0001 when saturated
      while xp + 3 <= #extra do
        local id, len = string.unpack("<I2I2", extra, xp)
        if id == 1 then
          local q = xp + 4
          if usize == 0xFFFFFFFF then usize, q = string.unpack("<I8", extra, q) end
          if csize == 0xFFFFFFFF then csize, q = string.unpack("<I8", extra, q) end
          if loff == 0xFFFFFFFF then loff = string.unpack("<I8", extra, q) end
        end
        xp = xp + 4 + len
      end
      pos = pos + 46 + nlen + xlen + clen
      local lh = read_at(f, path, loff, 30)
      if lh:sub(1, 4) ~= "PK\3\4" then fail(path, "entry %q has no local header", name) end
      local ln, lx = string.unpack("<I2I2", lh, 27)
      local data = loff + 30 + ln + lx
      if data + csize > size then fail(path, "entry %q runs past the end of the file", name) end
      entries[name] = {offset = data, size = csize, stored = method == 0 and csize == usize}
    end
    return entries
  end)
  f:close()
  if not ok then error(res, 0) end
  return res
end

-- Storage types and the file dtypes their bytes hold.
local STORAGES = {FloatStorage = "F32", DoubleStorage = "F64", HalfStorage = "F16", BFloat16Storage = "BF16",
                  LongStorage = "I64", IntStorage = "I32", ShortStorage = "I16", CharStorage = "I8",
                  ByteStorage = "U8", BoolStorage = "BOOL"}
local BYTES = {F32 = 4, F64 = 8, F16 = 2, BF16 = 2, I64 = 8, I32 = 4, I16 = 2, I8 = 1, U8 = 1, BOOL = 1}

local NONE = {}
local function tuple(items) items.kind = "tuple" return items end

-- Runs a state dict's pickle; returns the root object. Globals other than the whitelisted
-- ones (OrderedDict, _rebuild_tensor_v2, _rebuild_parameter, the storage types) are refused.
local function unpickle(path, s)
  local stack, memo, marks = {}, {}, {}
  local pos, steps = 1, 0
  local function push(v) stack[#stack + 1] = v end
  local function pop()
    local v = stack[#stack]
    if v == nil then fail(path, "corrupt pickle (stack underflow at byte %d)", pos) end
    stack[#stack] = nil
    return v
  end
  local function pop_mark()
    local m = table.remove(marks)
    if not m then fail(path, "corrupt pickle (no mark at byte %d)", pos) end
    local items = {}
    for i = m + 1, #stack do items[#items + 1] = stack[i] end
    for i = #stack, m + 1, -1 do stack[i] = nil end
    return items
  end
  local function unpack1(fmt)
    local ok, v, nxt = pcall(string.unpack, fmt, s, pos)
    if not ok then fail(path, "truncated pickle at byte %d", pos) end
    pos = nxt
    return v
  end
  local function line()
    local e = s:find("\n", pos, true)
    if not e then fail(path, "truncated pickle at byte %d", pos) end
    local v = s:sub(pos, e - 1)
    pos = e + 1
    return v
  end
  local function build_global(module, name)
    if module == "collections" and name == "OrderedDict" then return {kind = "global", call = "dict"} end
    if module == "torch._utils" and (name == "_rebuild_tensor_v2" or name == "_rebuild_parameter") then
      return {kind = "global", call = name}
    end
    if module == "torch" and STORAGES[name] then return {kind = "global", storage = STORAGES[name]} end
    fail(path, "the pickle names %s.%s, which a state dict does not need: refused (graft runs no "
         .. "code from .pth files; save the state dict, or convert it to safetensors)", module, name)
  end
  local function reduce(f, args)
    if type(f) ~= "table" or f.kind ~= "global" or not f.call then fail(path, "corrupt pickle (REDUCE of a non-callable)") end
    if f.call == "dict" then return {kind = "dict", keys = {}, map = {}} end
    if f.call == "_rebuild_parameter" then return args[1] end
    local st, offset, size, stride = args[1], args[2], args[3], args[4]
    if type(st) ~= "table" or st.kind ~= "storage" or math.type(offset) ~= "integer" or type(size) ~= "table"
       or type(stride) ~= "table" then
      fail(path, "corrupt pickle (a tensor's rebuild arguments)")
    end
    return {kind = "tensor", storage = st, offset = offset, size = size, stride = stride}
  end
  local ops = {
    [0x80] = function() unpack1("B") end,                                             -- PROTO
    [0x95] = function() unpack1("<I8") end,                                           -- FRAME
    [0x63] = function() local m = line(); push(build_global(m, line())) end,          -- GLOBAL
    [0x71] = function() memo[unpack1("B")] = stack[#stack] end,                       -- BINPUT
    [0x72] = function() memo[unpack1("<I4")] = stack[#stack] end,                     -- LONG_BINPUT
    [0x94] = function() memo[#memo + 1] = stack[#stack] end,                          -- MEMOIZE
    [0x68] = function() push(memo[unpack1("B")]) end,                                 -- BINGET
    [0x6a] = function() push(memo[unpack1("<I4")]) end,                               -- LONG_BINGET
    [0x28] = function() marks[#marks + 1] = #stack end,                               -- MARK
    [0x29] = function() push(tuple({})) end,                                          -- EMPTY_TUPLE
    [0x74] = function() push(tuple(pop_mark())) end,                                  -- TUPLE
    [0x85] = function() push(tuple({pop()})) end,                                     -- TUPLE1
    [0x86] = function() local b = pop(); push(tuple({pop(), b})) end,                 -- TUPLE2
    [0x87] = function() local c, b = pop(), pop(); push(tuple({pop(), b, c})) end,    -- TUPLE3
    [0x5d] = function() push({kind = "list"}) end,                                    -- EMPTY_LIST
    [0x61] = function() local v = pop(); local l = stack[#stack]; l[#l + 1] = v end,  -- APPEND
    [0x65] = function() local items = pop_mark(); local l = stack[#stack]; for _, v in ipairs(items) do l[#l + 1] = v end end,
    [0x7d] = function() push({kind = "dict", keys = {}, map = {}}) end,               -- EMPTY_DICT
    [0x4e] = function() push(NONE) end,                                               -- NONE
    [0x88] = function() push(true) end,                                               -- NEWTRUE
    [0x89] = function() push(false) end,                                              -- NEWFALSE
    [0x4b] = function() push(unpack1("B")) end,                                       -- BININT1
    [0x4d] = function() push(unpack1("<I2")) end,                                     -- BININT2
    [0x4a] = function() push(unpack1("<i4")) end,                                     -- BININT
    [0x8a] = function() local n = unpack1("B"); push(n == 0 and 0 or unpack1("<i" .. math.min(n, 8))) end, -- LONG1
    [0x47] = function() push(unpack1(">d")) end,                                      -- BINFLOAT
    [0x58] = function() push(unpack1("<s4")) end,                                     -- BINUNICODE
    [0x8c] = function() push(unpack1("<s1")) end,                                     -- SHORT_BINUNICODE
    [0x55] = function() push(unpack1("<s1")) end,                                     -- SHORT_BINSTRING
    [0x51] = function()                                                               -- BINPERSID
      local pid = pop()
      if type(pid) ~= "table" or pid[1] ~= "storage" or type(pid[2]) ~= "table" or not pid[2].storage then
        fail(path, "corrupt pickle (a persistent id that is not a storage)")
      end
      push({kind = "storage", dtype = pid[2].storage, key = tostring(pid[3]), numel = pid[5]})
    end,
    [0x52] = function() local args = pop(); push(reduce(pop(), args)) end,            -- REDUCE
    [0x62] = function() pop() end,                                                    -- BUILD (module metadata)
    [0x73] = function()                                                               -- SETITEM
      local v, k = pop(), pop()
      local d = stack[#stack]
      if type(d) ~= "table" or d.kind ~= "dict" then fail(path, "corrupt pickle (SETITEM on a non-dict)") end
      if d.map[k] == nil then d.keys[#d.keys + 1] = k end
      d.map[k] = v
    end,
    [0x75] = function()                                                               -- SETITEMS
      local items = pop_mark()
      local d = stack[#stack]
      if type(d) ~= "table" or d.kind ~= "dict" then fail(path, "corrupt pickle (SETITEMS on a non-dict)") end
      for i = 1, #items - 1, 2 do
        local k, v = items[i], items[i + 1]
        if d.map[k] == nil then d.keys[#d.keys + 1] = k end
        d.map[k] = v
      end
    end,
  }
  while true do
    if pos > #s then fail(path, "the pickle ends without STOP") end
    steps = steps + 1
    if steps > 10000000 then fail(path, "the pickle is too long to be a state dict") end
    local op = s:byte(pos)
    pos = pos + 1
    if op == 0x2e then return pop() end                                              -- STOP
    local f = ops[op]
    if not f then fail(path, "the pickle uses opcode 0x%02x, which a state dict does not need: refused", op) end
    f()
  end
end

--- load(path) -> {name = tensor}, {}: a torch.save'd state dict.
function pth.load(path)
  local entries = pth.zip_entries(path)
  local pkl, prefix
  for name, e in pairs(entries) do
    local p = name:match("^(.*)data%.pkl$")
    if p and (not prefix or #p < #prefix) then pkl, prefix = e, p end
  end
  if not pkl then fail(path, "no data.pkl inside: not a torch.save file") end
  local bo = entries[prefix .. "byteorder"]
  local f = assert(io.open(path, "rb"))
  if bo then
    f:seek("set", bo.offset)
    local order = f:read(bo.size)
    if order ~= "little" then f:close(); fail(path, "byte order %q is not supported", tostring(order)) end
  end
  if not pkl.stored or pkl.size > 256 * 2 ^ 20 then f:close(); fail(path, "data.pkl is compressed or too large") end
  f:seek("set", pkl.offset)
  local text = f:read(pkl.size)
  f:close()
  local root = unpickle(path, text or "")
  if type(root) ~= "table" or root.kind ~= "dict" then fail(path, "the pickle holds no state dict (a dict of tensors)") end
  local storages, tensors = {}, {}
  for _, name in ipairs(root.keys) do
    local d = root.map[name]
    if type(name) ~= "string" then fail(path, "a state-dict key is not a string") end
    if type(d) ~= "table" or d.kind ~= "tensor" then fail(path, "%q is not a tensor", name) end
    local st = d.storage
    local flat = storages[st.key]
    if not flat then
      local e = entries[prefix .. "data/" .. st.key]
      if not e then fail(path, "the storage %q of %q is missing", st.key, name) end
      if not e.stored then fail(path, "the storage %q is compressed", st.key) end
      if math.type(st.numel) ~= "integer" or st.numel * BYTES[st.dtype] ~= e.size then
        fail(path, "the storage %q holds %d bytes, not %s elements of %s", st.key, e.size, tostring(st.numel), st.dtype)
      end
      flat = core.read_raw(path, e.offset, st.dtype, st.numel)
      storages[st.key] = flat
    end
    local size, stride = {}, {}
    for i, v in ipairs(d.size) do size[i] = v end
    for i, v in ipairs(d.stride) do stride[i] = v end
    local ok, view = pcall(T.as_strided, flat, size, stride, d.offset + 1)
    if not ok then fail(path, "%q: %s", name, tostring(view)) end
    tensors[name] = T.clone(view)   -- its own storage: tied weights must not alias after loading
  end
  return tensors, {}
end

--- "zip" for torch.save's format, "legacy" for PyTorch's format before 1.6 (a pickle that
-- starts with its magic number), nil otherwise.
function pth.kind(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local head = f:read(4)
  f:close()
  if head == "PK\3\4" then return "zip" end
  if head == "\128\2\138\10" then return "legacy" end   -- PROTO 2, LONG1 of the magic number
  return nil
end

return pth
