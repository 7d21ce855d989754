#!/usr/bin/env lua5.4
-- tests/890-api-reference.t — `make docs` builds the API reference from the doc comments
-- with LDoc and no warnings, and the reference names every public function of graft's
-- modules (a function added without a doc comment fails here).
local T, graft = require "tap", require "graft"

-- LDoc runs on its own Lua, without the sanitizer runtime the tests preload.
local p = assert(io.popen("env -u LD_PRELOAD make -s docs 2>&1"))
local out = p:read("a")
local ok = p:close()
T.ok(ok, "make docs succeeds without LDoc warnings")
if not ok then T.diag(out) end

local function page(name)
  local f = io.open("build/docs/api/modules/" .. name .. ".html")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- Each public table and the page that documents it. A function is documented when the
-- page has an entry for it (as `name`, or `Tensor:name` for the module-level forms of
-- tensor methods) or, for the variants a family entry lists (resnet18 beside resnet50),
-- names it in backquotes.
local modules = {
  {"graft", graft}, {"graft.nn", graft.nn}, {"graft.F", graft.F}, {"graft.optim", graft.optim},
  {"graft.models", graft.models}, {"graft.data", graft.data}, {"graft.data.transforms", graft.data.transforms},
  {"graft.transfer", graft.transfer}, {"graft.image", graft.image}, {"graft.json", graft.json},
  {"graft.nn.init", graft.nn.init}, {"graft.text", graft.text},
}
local skip = {Tensor = true, spec = true, is_module = true, new = true, extend = true}
for _, m in ipairs(modules) do
  local name, tbl = m[1], m[2]
  local html = page(name)
  if not html then
    T.ok(false, name .. " has a page in the reference")
  else
    local missing = {}
    for k, v in pairs(tbl) do
      if type(k) == "string" and not k:match("^_") and not skip[k] and type(v) == "function" then
        local entry = html:find(('name = "%s"'):format(k), 1, true) or html:find(('name = "Tensor:%s"'):format(k), 1, true)
          or html:find(("<code>%s</code>"):format(k), 1, true)
        if not entry then missing[#missing + 1] = k end
      end
    end
    table.sort(missing)
    T.ok(#missing == 0, ("%s: every public function is in the reference%s"):format(
      name, #missing > 0 and " (missing: " .. table.concat(missing, ", ") .. ")" or ""))
  end
end
T.done()
