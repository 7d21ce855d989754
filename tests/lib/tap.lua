-- TAP for graft's Lua tests, read by prove. Value checks flatten tensors into plain Lua
-- numbers and compare them in Lua, so a bug in graft's own math cannot hide itself.
local T = {}
local n, failed, planned = 0, 0, nil

function T.plan(count)
  planned = count
  print("1.." .. count)
end

function T.diag(msg)
  for line in tostring(msg):gmatch("[^\n]+") do print("# " .. line) end
end

function T.ok(cond, name)
  n = n + 1
  print((cond and "ok " or "not ok ") .. n .. " - " .. (name or ""))
  if not cond then
    failed = failed + 1
    local info = debug.getinfo(2, "Sl")
    T.diag(("  failed at %s:%d"):format(info.short_src, info.currentline))
  end
  return cond
end

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

function T.is(got, want, name)
  local ok = got == want
  if not T.ok(ok, name) then T.diag("  got " .. show(got) .. ", want " .. show(want)) end
  return ok
end

local function deep_eq(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for k, v in pairs(a) do if not deep_eq(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local function render(v)
  if type(v) ~= "table" then return show(v) end
  local parts = {}
  for i = 1, #v do parts[#parts + 1] = render(v[i]) end
  for k, x in pairs(v) do
    if math.type(k) ~= "integer" or k < 1 or k > #v then parts[#parts + 1] = tostring(k) .. "=" .. render(x) end
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end
T.render = render

function T.is_deeply(got, want, name)
  local ok = deep_eq(got, want)
  if not T.ok(ok, name) then T.diag("  got  " .. render(got) .. "\n  want " .. render(want)) end
  return ok
end

-- Runs fn expecting an error whose message contains `pattern` (plain text, not a Lua pattern).
function T.error_like(fn, text, name)
  local ok, err = pcall(fn)
  local good = not ok and tostring(err):find(text, 1, true) ~= nil
  if not T.ok(good, name) then
    T.diag(ok and "  no error was raised" or ("  error was: " .. tostring(err)))
    T.diag("  expected text: " .. text)
  end
  return good
end

local function flatten(x, out)
  if type(x) ~= "table" then out[#out + 1] = x return out end
  for i = 1, #x do flatten(x[i], out) end
  return out
end

-- Compares two tensors (or a tensor and a nested table) value by value: same shape, and
-- |got - want| <= atol + rtol * |want| everywhere, NaN only where NaN is wanted.
-- Passes when the string got contains `text` (plain text, not a Lua pattern).
function T.like(got, text, name)
  local ok = type(got) == "string" and got:find(text, 1, true) ~= nil
  T.ok(ok, name)
  if not ok then T.diag("got: " .. tostring(got) .. "\nexpected text: " .. text) end
end

function T.close(got, want, name, rtol, atol)
  rtol, atol = rtol or 1e-5, atol or 1e-6
  local gshape = got.shape and got:shape() or nil
  local wshape = type(want) == "userdata" and want:shape() or nil
  if wshape and not deep_eq(gshape, wshape) then
    T.ok(false, name)
    T.diag("  shape " .. render(gshape) .. ", want " .. render(wshape))
    return false
  end
  local g = flatten(got:totable(), {})
  local w = flatten(type(want) == "userdata" and want:totable() or want, {})
  if #g ~= #w then
    T.ok(false, name)
    T.diag(("  %d values, want %d"):format(#g, #w))
    return false
  end
  local worst, at = 0, nil
  for i = 1, #g do
    local a, b = g[i], w[i]
    local bad
    if b ~= b then bad = a == a
    elseif a ~= a then bad = true
    elseif b == math.huge or b == -math.huge then bad = a ~= b
    else
      local err = math.abs(a - b) - (atol + rtol * math.abs(b))
      bad = err > 0
      if err > worst then worst = err end
    end
    if bad and not at then at = i end
  end
  if not T.ok(at == nil, name) then
    T.diag(("  first difference at flat position %d: got %s, want %s"):format(at, show(g[at]), show(w[at])))
    return false
  end
  return true
end

-- Checks values exactly (integers, masks, indices).
function T.equal(got, want, name)
  return T.close(got, want, name, 0, 0)
end

function T.skip(reason, count)
  for _ = 1, count or 1 do
    n = n + 1
    print(("ok %d # skip %s"):format(n, reason))
  end
end

function T.seed()
  local seed = tonumber(os.getenv("SEED")) or 1234
  T.diag("seed " .. seed)
  return seed
end

-- Exits closing the Lua state, so every tensor is finalized and memory checkers see what
-- graft leaves behind.
function T.done()
  if planned == nil then print("1.." .. n) end
  io.stdout:flush()
  os.exit(not (failed > 0 or (planned and planned ~= n)), true)
end

return T
