--- graft.save_model / graft.load_model: a model's weights and the config that rebuilds it in
-- one safetensors file (__metadata__: format "pt", graft.config as JSON, graft.format "1").
-- Zoo models (and architectures added with graft.models.register) and Sequential trees of
-- built-in layers can be saved this way.
-- @module graft
local core = require "graft.core"
local json = require "graft.json"
local nn = require "graft.nn"
local models = require "graft.models"

local M = {}
local FORMAT = "1"

-- The spec of a Sequential tree of built-in layers, or nil and a description of what is not.
local function layer_spec(m, path)
  local name = m.__name
  local short = name and name:match("^nn%.(.+)$")
  if not short or not nn[short] then
    return nil, path == "" and ("the model (%s)"):format(tostring(name)) or ("%q (%s)"):format(path, tostring(name))
  end
  if short == "Sequential" or short == "ModuleList" then
    local children = {}
    for i, c in ipairs(m:named_children()) do
      local spec, bad = layer_spec(c[2], path == "" and c[1] or path .. "." .. c[1])
      if not spec then return nil, bad end
      children[i] = spec
    end
    return {type = short, children = children}
  end
  local args = rawget(m, "_args")
  local copy = {}
  for i = 1, args.n do copy[i] = args[i] == nil and json.null or args[i] end
  return {type = short, args = copy}
end

local function build_layer(spec)
  local class = nn[spec.type]
  if not class then error(("load_model: unknown layer type %q"):format(tostring(spec.type)), 0) end
  if spec.children then
    local list = {}
    for i, c in ipairs(spec.children) do list[i] = build_layer(c) end
    return class(list)
  end
  local args = {}
  local n = 0
  for i, a in ipairs(spec.args or {}) do args[i], n = (a ~= json.null) and a or nil, i end
  return class(table.unpack(args, 1, n))
end

--- save_model(model, path): weights and config, written atomically.
function M.save_model(model, path)
  local cfg = rawget(model, "config")
  local config
  if cfg and cfg.arch and models.spec(cfg.arch) then
    config = cfg
  else
    local spec, bad = layer_spec(model, "")
    if not spec then
      error(("save_model: %s is not a built-in layer: save_model takes zoo models and Sequential "
             .. "trees of built-in layers; save the weights with graft.save(path, model:state_dict()), "
             .. "or register the architecture with graft.models.register"):format(bad), 2)
    end
    config = {arch = "sequential", spec = spec}
    for k, v in pairs(cfg or {}) do if config[k] == nil then config[k] = v end end
  end
  local ok, text = pcall(json.encode, config)
  if not ok then error("save_model: the model's config cannot be saved: " .. text, 2) end
  local meta = {format = "pt", ["graft.config"] = text, ["graft.format"] = FORMAT}
  -- A text model's tokenizer (model:set_tokenizer) travels with it: its options are in the
  -- config (config.tokenizer), its vocabulary a JSON array of tokens in graft.vocab (a
  -- string, as safetensors metadata must be, so graft.load and PyTorch read the file as ever).
  local tok = rawget(model, "tokenizer")
  if tok then meta["graft.vocab"] = json.encode(tok.tokens) end
  core.save(path, model:state_dict(), meta)
end

-- The tokenizer save_model stored, or an error naming what is missing.
local function read_tokenizer(path, spec, meta)
  if type(spec) ~= "table" or spec.type ~= "WordPiece" then
    error(("load_model: %s: config.tokenizer is not a WordPiece tokenizer this graft reads"):format(path), 0)
  end
  local ok, tokens = pcall(json.decode, meta["graft.vocab"] or "")
  if not ok or type(tokens) ~= "table" or #tokens == 0 then
    error(("load_model: %s: config.tokenizer is set but graft.vocab holds no vocabulary"):format(path), 0)
  end
  return require("graft.text").WordPiece(tokens, {lowercase = spec.lowercase, strip_accents = spec.strip_accents,
                                                  unk_token = spec.unk_token, prefix = spec.prefix,
                                                  max_input_chars_per_word = spec.max_chars})
end

--- load_model(path): the model rebuilt from its config, weights loaded (strict), in eval mode.
function M.load_model(path)
  local tensors, meta = (require "graft").load(path)
  local text = meta["graft.config"]
  if not text then
    error(("load_model: %s has no graft.config in its metadata (was it written by graft.save_model? "
           .. "graft.load reads any safetensors file)"):format(path), 2)
  end
  if meta["graft.format"] ~= FORMAT then
    error(("load_model: %s has graft.format %s; this graft reads %s"):format(path, tostring(meta["graft.format"]), FORMAT), 2)
  end
  local ok, config = pcall(json.decode, text)
  if not ok then error(("load_model: %s: graft.config is not valid JSON"):format(path), 2) end
  if type(config) ~= "table" or config[1] ~= nil then
    error(("load_model: %s: graft.config is not a JSON object"):format(path), 2)
  end
  local model
  if config.arch == "sequential" then
    model = build_layer(config.spec)
    rawset(model, "config", config)
  elseif models.spec(config.arch) then
    model = models.rebuild(config.arch, config.args or {})   -- a config is data: unknown args are ignored
    local cfg = rawget(model, "config")
    for k, v in pairs(config) do cfg[k] = v end
  else
    error(("load_model: %s: unknown architecture %q (graft.models.register adds one)"):format(path, tostring(config.arch)), 2)
  end
  local loaded, err = pcall(model.load_state_dict, model, tensors)
  if not loaded then error(("load_model: %s: %s"):format(path, tostring(err):gsub("^[^:]*:%d+: ", "")), 2) end
  if config.tokenizer ~= nil then
    local tok_ok, tok = pcall(read_tokenizer, path, config.tokenizer, meta)
    if not tok_ok then error(tok, 2) end
    if not model.set_tokenizer then
      error(("load_model: %s: a tokenizer is stored but %s models take none"):format(path, tostring(config.arch)), 2)
    end
    model:set_tokenizer(tok, {max_length = config.tokenizer.max_length})
  end
  model:eval()
  return model
end

return M
