-- Builds safetensors files byte by byte, well-formed or not, for tests of graft's reader.
local stfile = {}

-- header: the JSON text (as written, so it can be malformed on purpose); data: raw bytes.
function stfile.raw(path, header, data, length_override)
  local f = assert(io.open(path, "wb"))
  f:write(string.pack("<I8", length_override or #header), header, data or "")
  f:close()
  return path
end

-- entries: array of {name, dtype, shape, bytes}; offsets are laid out in order.
function stfile.build(path, entries, metadata)
  local parts, data, at = {}, {}, 0
  if metadata then
    local m = {}
    for k, v in pairs(metadata) do m[#m + 1] = ("%q:%q"):format(k, v) end
    parts[#parts + 1] = '"__metadata__":{' .. table.concat(m, ",") .. "}"
  end
  for _, e in ipairs(entries) do
    parts[#parts + 1] = ('%q:{"dtype":%q,"shape":[%s],"data_offsets":[%d,%d]}'):format(
      e[1], e[2], table.concat(e[3], ","), at, at + #e[4])
    data[#data + 1] = e[4]
    at = at + #e[4]
  end
  return stfile.raw(path, "{" .. table.concat(parts, ",") .. "}", table.concat(data))
end

return stfile
