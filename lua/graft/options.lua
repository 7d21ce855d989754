--- graft.options: the one check every options table of the public API goes through. A name
-- the function does not know is an error naming the function and the option, and the valid
-- name when one is close (`fit: unknown option "learning_rate" (did you mean "lr"?)`); a value
-- of the wrong type names the option and the type expected. Errors point at the user's line:
-- the first stack frame outside graft's own Lua files, however deep inside graft the check
-- runs. Configs and data (config.json, a model's config, metadata, parameter groups) are not
-- options and never come here.
-- @module graft.options
local options = {}

-- math.type where the Lua has it (5.3+); otherwise an integer is any integral number.
local mtype = math.type or function(v)
  if type(v) ~= "number" then return nil end
  return (v == math.floor(v) and v == v and v ~= math.huge and v ~= -math.huge) and "integer" or "float"
end

-- graft's own Lua files share this folder; frames from them are not the user's.
local HERE = debug.getinfo(1, "S").source:match("^@(.*[/\\])options%.lua$")

-- The CLI (bin/graft) counts as graft too: its users gave flags, not Lua lines, so its
-- errors carry no position.
local function internal(info)
  if info.what == "C" then return true end
  local src = info.source or ""
  if src:match("^@.*[/\\]bin[/\\]graft$") or src == "@bin/graft" then return true end
  return HERE ~= nil and src:sub(1, 1) == "@" and src:sub(2, #HERE + 1) == HERE
end

--- raise(message): error(message) at the first caller outside graft (a C host calling in
-- directly gets the bare message).
function options.raise(message)
  local level = 2
  while true do
    local info = debug.getinfo(level, "S")
    if not info then return error(message, 0) end
    if not internal(info) then return error(message, level) end
    level = level + 1
  end
end
local raise = options.raise

--- distance(a, b): optimal string alignment distance (Levenshtein plus a swap of neighbours:
-- "transfrom" is one edit from "transform"); bin/graft's flag suggestions use it too.
local function distance(a, b)
  local la, lb = #a, #b
  local d = {}
  for i = 0, la do d[i] = {[0] = i} end
  for j = 0, lb do d[0][j] = j end
  for i = 1, la do
    for j = 1, lb do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      local v = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if i > 1 and j > 1 and a:byte(i) == b:byte(j - 1) and a:byte(i - 1) == b:byte(j) then
        v = math.min(v, d[i - 2][j - 2] + 1)
      end
      d[i][j] = v
    end
  end
  return d[la][lb]
end
options.distance = distance

-- Other libraries' names for graft's options (PyTorch, Keras, timm, Hugging Face), suggested
-- where the function takes the graft name.
local SYNONYMS = {
  learning_rate = "lr", lr_rate = "lr", base_learning_rate = "base_lr",
  num_epochs = "epochs", n_epochs = "epochs", max_epochs = "epochs", epoch = "epochs",
  validation = "val", validation_data = "val", val_loader = "val", valid = "val", val_data = "val",
  lr_scheduler = "scheduler", sched = "scheduler", optim = "optimizer", opt = "optimizer",
  loss_fn = "loss", criterion = "loss", callbacks = "on_epoch",
  num_workers = "workers", n_workers = "workers", batch = "batch_size", bs = "batch_size",
  num_labels = "num_classes", n_classes = "num_classes", nclasses = "num_classes", classes_count = "num_classes",
  pretrained = "weights", checkpoint_path = "checkpoint", in_channels = "in_chans", channels = "in_chans",
  drop_rate = "dropout", dropout_rate = "dropout", temp = "temperature", T = "temperature",
  top_k = "topk", k = "topk", kernel = "kernel_size", pad = "padding", dilations = "dilation",
  strides = "stride", group = "groups",
  transforms = "transform", tokeniser = "tokenizer", max_len = "max_length", maxlen = "max_length",
  truncate = "truncation", pad_to = "padding", label_column = "label", text_column = "text",
  wd = "weight_decay", beta = "betas",
}

local function normal(s) return s:lower():gsub("[_%-]", "") end

--- suggest(name, valid) -> the valid name closest to name, or nil when none is close.
function options.suggest(name, valid)
  if type(name) ~= "string" then return nil end
  local syn = SYNONYMS[name] or SYNONYMS[name:lower()]
  if syn and valid[syn] then return syn end
  local best, best_d
  local limit = #name <= 3 and 1 or (#name <= 6 and 2 or 3)
  local n = normal(name)
  for v in pairs(valid) do
    local d
    if normal(v) == n then d = 0
    else
      d = distance(name, v)
      -- a prefix or an extension of a valid name ("epoch", "paddings") is close whatever its length
      if #name >= 3 and (v:sub(1, #name) == name or name:sub(1, #v) == v) and math.abs(#v - #name) <= 4 then
        d = math.min(d, limit)
      end
    end
    if d <= limit and (not best_d or d < best_d or (d == best_d and v < best)) then best, best_d = v, d end
  end
  return best
end

local TYPE_NAMES = {
  number = "a number", integer = "an integer", string = "a string", boolean = "a boolean",
  table = "a table", ["function"] = "a function", tensor = "a tensor", callable = "a function",
  userdata = "a userdata",
}

local tensor_mt
local function is_tensor(v)
  if tensor_mt == nil then
    local ok, core = pcall(require, "graft.core")
    tensor_mt = ok and getmetatable(core.empty(0)) or false
  end
  return tensor_mt and getmetatable(v) == tensor_mt
end

local function is_a(v, ty)
  if ty == "any" then return true end
  if ty == "integer" then return mtype(v) == "integer" or (mtype(v) == "float" and v == math.floor(v) and v == v and v ~= math.huge and v ~= -math.huge) end
  if ty == "tensor" then return is_tensor(v) end
  if ty == "callable" then
    if type(v) == "function" then return true end
    local mt = (type(v) == "table" or type(v) == "userdata") and getmetatable(v)
    return type(mt) == "table" and mt.__call ~= nil
  end
  if ty == "table" then return type(v) == "table" end
  return type(v) == ty
end

local function describe(v)
  if is_tensor(v) then return "a tensor" end
  if mtype(v) == "float" then return "number " .. tostring(v) end
  if type(v) == "string" then return ("string %q"):format(#v > 40 and v:sub(1, 37) .. "..." or v) end
  return type(v)
end

-- A spec is alternatives joined with "|": a type name, optionally with bounds a number
-- must satisfy ("integer>=1", "number>=0<1"), or a literal string in double quotes
-- ('"batch"|"epoch"'): the range or set an option takes is stated where its type is, so
-- a 0 or a misspelt value is an error naming the option instead of a failure deep inside.
-- "number|table" -> {{ty = "number", bounds = {}}, {ty = "table", bounds = {}}}; cached per spec string.
local parsed = {}
local function types_of(spec)
  local t = parsed[spec]
  if not t then
    t = {}
    for alt in spec:gmatch("[^|]+") do
      local lit = alt:match('^"(.*)"$')
      if lit then t[#t + 1] = {literal = lit}
      else
        local ty, rest = alt:match("^([%a_]+)(.*)$")
        local bounds = {}
        for op, num in (rest or ""):gmatch("([<>]=?)([^<>]+)") do bounds[#bounds + 1] = {op, tonumber(num)} end
        if not ty or (rest or ""):gsub("[<>]=?[^<>]+", "") ~= "" then error("options: bad spec " .. spec, 2) end
        for _, b in ipairs(bounds) do if not b[2] then error("options: bad bound in spec " .. spec, 2) end end
        t[#t + 1] = {ty = ty, bounds = bounds}
      end
    end
    parsed[spec] = t
  end
  return t
end

local function within(v, bounds)
  for _, b in ipairs(bounds) do
    local op, n = b[1], b[2]
    if (op == ">=" and not (v >= n)) or (op == ">" and not (v > n)) or (op == "<=" and not (v <= n))
       or (op == "<" and not (v < n)) then return false end
  end
  return true
end

local function accepts(alt, v)
  if alt.literal then return v == alt.literal end
  return is_a(v, alt.ty) and (#alt.bounds == 0 or within(v, alt.bounds))
end

local function words_of(alt)
  if alt.literal then return ("%q"):format(alt.literal) end
  local w = TYPE_NAMES[alt.ty] or alt.ty
  for i, b in ipairs(alt.bounds) do
    w = w .. (i == 1 and " " or " and ") .. b[1] .. " " .. tostring(b[2])
  end
  return w
end

--- check_value(fn, name, value, spec): errors unless value is one of the alternatives in
-- spec: types ("number", "integer", "string", "boolean", "table", "function", "callable",
-- "tensor", "any"), each with optional bounds (">=1", ">0<1"), or literal strings ('"batch"'),
-- joined with "|". nil always passes (an option left out).
function options.check_value(fn, name, value, spec)
  if value == nil then return value end
  local alts = types_of(spec)
  local constrained = false
  for _, alt in ipairs(alts) do
    if accepts(alt, value) then return value end
    if alt.literal or #alt.bounds > 0 then constrained = true end
  end
  local words = {}
  for i, alt in ipairs(alts) do words[i] = words_of(alt) end
  local want = #words == 1 and words[1] or table.concat(words, ", ", 1, #words - 1) .. " or " .. words[#words]
  -- a number out of range shows itself: "got 0", not "got number"
  local got = (constrained and type(value) == "number") and tostring(value) or describe(value)
  raise(("%s: option %q must be %s, got %s"):format(fn, name, want, got))
end

local function names_of(spec)
  local list = {}
  for k in pairs(spec) do list[#list + 1] = k end
  table.sort(list)
  return table.concat(list, ", ")
end

--- check(fn, opts, spec) -> opts (a fresh empty table for nil): opts must be a table whose
-- every key is a name in spec (a map name -> type, as check_value) with a value of its type.
-- fn names the function in the errors ("fit", "nn.Conv2d", "Loader").
function options.check(fn, opts, spec)
  if opts == nil then return {} end
  if type(opts) ~= "table" then raise(("%s: options must be a table, got %s"):format(fn, describe(opts))) end
  for k, v in pairs(opts) do
    local ty = spec[k]
    if ty == nil then
      if type(k) ~= "string" then
        raise(("%s: options are named (name = value); got a value at [%s]"):format(fn, tostring(k)))
      end
      local close = options.suggest(k, spec)
      if close then
        raise(("%s: unknown option %q (did you mean %q?)"):format(fn, k, close))
      elseif next(spec) == nil then
        raise(("%s: unknown option %q (it takes no options)"):format(fn, k))
      else
        raise(("%s: unknown option %q (options: %s)"):format(fn, k, names_of(spec)))
      end
    end
    options.check_value(fn, k, v, ty)
  end
  return opts
end

--- with_defaults(fn, opts, spec, defaults) -> a new table: defaults overlaid with the
-- checked opts.
function options.with_defaults(fn, opts, spec, defaults)
  opts = options.check(fn, opts, spec)
  local o = {}
  for k, v in pairs(defaults) do o[k] = v end
  for k, v in pairs(opts) do o[k] = v end
  return o
end

--- merge(a, b, ...) -> a new spec with the names of every spec given.
function options.merge(...)
  local out = {}
  for i = 1, select("#", ...) do
    for k, v in pairs(select(i, ...) or {}) do out[k] = v end
  end
  return out
end

-- ---- Lua patterns ----------------------------------------------------------------------

-- The syntax errors string.find would raise for pattern, whatever the subject (string.find
-- only finds them when matching reaches the bad spot), or nil.
local function pattern_error(p)
  local i, n, open, closed = 1, #p, {}, 0
  while i <= n do
    local c = p:sub(i, i)
    if c == "%" then
      if i == n then return "malformed pattern (ends with '%')" end
      local d = p:sub(i + 1, i + 1)
      if d == "b" then
        if i + 3 > n then return "malformed pattern (missing arguments to '%b')" end
        i = i + 4
      elseif d == "f" then
        if p:sub(i + 2, i + 2) ~= "[" then return "missing '[' after '%f' in pattern" end
        i = i + 2
      elseif d:match("%d") then
        local idx = tonumber(d)
        if idx == 0 or idx > closed then return ("invalid capture index %%%d"):format(idx) end
        i = i + 2
      else
        i = i + 2
      end
    elseif c == "[" then
      local j = i + 1
      if p:sub(j, j) == "^" then j = j + 1 end
      repeat   -- the first character of a set may be a literal ']'
        if j > n then return "malformed pattern (missing ']')" end
        if p:sub(j, j) == "%" then j = j + 1 end
        j = j + 1
      until p:sub(j, j) == "]"
      if j > n then return "malformed pattern (missing ']')" end
      i = j + 1
    elseif c == "(" then
      open[#open + 1] = true
      i = i + 1
    elseif c == ")" then
      if #open == 0 then return "invalid pattern capture" end
      open[#open] = nil
      closed = closed + 1
      i = i + 1
    else
      i = i + 1
    end
  end
  if #open > 0 then return "unfinished capture" end
  return nil
end
options._pattern_error = pattern_error

--- check_pattern(fn, pattern, names) -> the names that match: pattern must be a string that
-- compiles as a Lua pattern and matches at least one of names (parameter names).
function options.check_pattern(fn, pattern, names, what)
  if type(pattern) ~= "string" then
    raise(("%s: pattern must be a string (a Lua pattern), got %s"):format(fn, describe(pattern)))
  end
  local bad = pattern_error(pattern)
  local matched = {}
  if not bad then
    for _, name in ipairs(names) do
      local ok, hit = pcall(string.find, name, pattern)
      if not ok then bad = tostring(hit):gsub("^[^:]*:%d+: ", "") break end
      if hit then matched[#matched + 1] = name end
    end
  end
  if bad then raise(("%s: pattern %q does not compile: %s"):format(fn, pattern, bad)) end
  if #matched == 0 then
    raise(("%s: pattern %q matches no %s"):format(fn, pattern, what or "parameter"))
  end
  return matched
end

return options
