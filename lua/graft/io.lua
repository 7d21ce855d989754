-- File helpers written in Lua: sharded safetensors checkpoints.
local core = require "graft.core"

local io_ = {}

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then error("graft.load: " .. tostring(err), 3) end
  local text = f:read("a")
  f:close()
  return text
end

--- Loads a sharded checkpoint from its index (Hugging Face's model.safetensors.index.json):
-- every shard named in weight_map, relative to the index's folder, merged into one state
-- dict. Each tensor must be in the shard the index names, and in no other.
function io_.load_sharded(index_path, load_one)
  local ok, index = pcall(core.json.decode, read_file(index_path))
  if not ok then error("graft.load: " .. index_path .. ": " .. tostring(index), 2) end
  if type(index) ~= "table" or type(index.weight_map) ~= "table" then
    error("graft.load: " .. index_path .. ": not a sharded index (no weight_map)", 2)
  end
  local dir = index_path:match("^(.*)/[^/]*$") or "."
  local shards, order = {}, {}
  for name, shard in pairs(index.weight_map) do
    if type(shard) ~= "string" or shard:find("/", 1, true) or shard:find("..", 1, true) then
      error(("graft.load: %s: tensor %q maps to an invalid shard name"):format(index_path, name), 2)
    end
    if not shards[shard] then
      shards[shard] = true
      order[#order + 1] = shard
    end
  end
  table.sort(order)
  local tensors, metadata = {}, {}
  local origin = {}
  for _, shard in ipairs(order) do
    local part, meta = load_one(dir .. "/" .. shard)
    for name, t in pairs(part) do
      if origin[name] then
        error(("graft.load: %s: tensor %q is in both %s and %s"):format(index_path, name, origin[name], shard), 2)
      end
      if index.weight_map[name] ~= shard then
        error(("graft.load: %s: tensor %q is in %s but the index puts it in %s"):format(
          index_path, name, shard, tostring(index.weight_map[name])), 2)
      end
      origin[name], tensors[name] = shard, t
    end
    for k, v in pairs(meta) do metadata[k] = v end
  end
  for name, shard in pairs(index.weight_map) do
    if not tensors[name] then
      error(("graft.load: %s: tensor %q is missing from %s"):format(index_path, name, shard), 2)
    end
  end
  if type(index.metadata) == "table" then
    for k, v in pairs(index.metadata) do
      if type(v) ~= "table" and type(v) ~= "userdata" then metadata[k] = tostring(v) end
    end
  end
  return tensors, metadata
end

return io_
