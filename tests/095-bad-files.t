#!/usr/bin/env lua5.4
-- tests/095-bad-files.t — the hostile files of tests/bad/ (truncated, oversized, wrong magic,
-- lying lengths, overlapping offsets, NaN-filled, zero-sized, billion-pixel): each gives a
-- Lua error that names the file and the problem tests/bad/expected.txt records; none
-- crashes; none allocates beyond what the file justifies — they all load under a 32 MB
-- cap on tensor memory, and the process's peak RSS grows by less than 64 MB over the lot.
local T, graft = require "tap", require "graft"
local core = require "graft.core"

local loaders = {
  st = function(path)
    for key, t in pairs(graft.load(path)) do graft.check_finite(t, path .. ": " .. key) end
  end,
  pth = graft.load,
  model = graft.load_model,
  weights = function(path) return graft.models.resnet20_cifar {weights = path} end,
  png = graft.image.load,
  jpeg = graft.image.load,
  idx = core.read_idx,
}

local function peak_rss_kb()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%s+(%d+)")
    if kb then return tonumber(kb) end
  end
end

local expected, order = {}, {}
for line in io.lines("tests/bad/expected.txt") do
  local file, message = line:match("^([^#][^\t]*)\t(.+)$")
  if file then
    expected[file] = message
    order[#order + 1] = file
  end
end
T.ok(#order >= 40, ("%d hostile files are listed"):format(#order))

local on_disk = {}
for name in io.popen("ls tests/bad"):lines() do
  if name ~= "make.py" and name ~= "expected.txt" then on_disk[#on_disk + 1] = name end
end
local unlisted = {}
for _, name in ipairs(on_disk) do if not expected[name] then unlisted[#unlisted + 1] = name end end
T.ok(#unlisted == 0 and #on_disk == #order, "every file in tests/bad/ is listed, and every listed file is there"
     .. (#unlisted > 0 and " (unlisted: " .. table.concat(unlisted, ", ") .. ")" or ""))

collectgarbage()
local rss_before = peak_rss_kb()
graft.set_memory_limit(32 * 2 ^ 20)
for _, name in ipairs(order) do
  local path = "tests/bad/" .. name
  local load = loaders[name:match("^(%a+)-")]
  local ok, err = pcall(load, path)
  err = tostring(err)
  T.ok(not ok and err:find(expected[name], 1, true) and err:find(path, 1, true),
       ("%s: %s"):format(name, ok and "loaded without an error" or err:gsub("^[^:]*%.lua:%d+: ", "")))
end
graft.set_memory_limit(0)
local grown = (peak_rss_kb() - rss_before) / 1024
T.ok(grown < 64, ("peak RSS grew by %.1f MB over all the files (under 64)"):format(grown))
T.done()
