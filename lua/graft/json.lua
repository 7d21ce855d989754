--- graft.json: decode (cJSON, in C) and encode (here: sorted keys, so equal values give equal
-- text). Arrays are tables whose keys are exactly 1..n; an empty table encodes as {}.
-- @module graft.json
local core = require "graft.core"

local json = {decode = core.json.decode, null = core.json.null}

local escapes = {['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n",
                 ["\r"] = "\\r", ["\t"] = "\\t"}

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return escapes[c] or ("\\u%04x"):format(c:byte()) end) .. '"'
end

local function is_array(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  if n == 0 then return false end
  for i = 1, n do if t[i] == nil then return false end end
  return true
end

local function encode(v, seen, path)
  local t = type(v)
  if v == nil or v == json.null then return "null" end
  if t == "boolean" then return tostring(v) end
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then error("json.encode: " .. path .. " is not a finite number", 0) end
    if math.type(v) == "integer" then return tostring(v) end
    return ("%.17g"):format(v)
  end
  if t == "string" then return encode_string(v) end
  if t ~= "table" then error(("json.encode: %s is a %s, which JSON cannot hold"):format(path, t), 0) end
  if seen[v] then error("json.encode: " .. path .. " refers back to itself", 0) end
  seen[v] = true
  local parts = {}
  if is_array(v) then
    for i, x in ipairs(v) do parts[i] = encode(x, seen, path .. "[" .. i .. "]") end
    seen[v] = nil
    return "[" .. table.concat(parts, ",") .. "]"
  end
  local keys = {}
  for k in pairs(v) do
    if type(k) ~= "string" then error(("json.encode: %s has a %s key"):format(path, type(k)), 0) end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  for i, k in ipairs(keys) do parts[i] = encode_string(k) .. ":" .. encode(v[k], seen, path .. "." .. k) end
  seen[v] = nil
  return "{" .. table.concat(parts, ",") .. "}"
end

--- decode(text) -> the value: objects as tables, arrays as 1-based arrays, null as json.null
-- (cJSON, in C; an error names the position of the first problem).
-- @string text
-- @function decode

--- encode(value) -> JSON text.
function json.encode(v) return encode(v, {}, "value") end

return json
