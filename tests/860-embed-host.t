#!/usr/bin/env lua5.4
-- tests/860-embed-host.t — examples/embed/host, a C program that embeds Lua 5.4 and graft
-- (libgraft.a, graft's Lua files compiled in), classifies Fashion-MNIST PNGs with the
-- shipped model from a directory that holds no graft files and with LUA_PATH/LUA_CPATH
-- unset; its answers are graft.predict's, in input order, and two lua_States in two threads
-- give the same output as one.
local T, graft, oracle = require "tap", require "graft", require "oracle"

local host = (os.getenv("GRAFT_BUILD") or "build") .. "/examples/embed/host"
local model_path = os.getenv("PWD") .. "/models/resnet20_fmnist_a.safetensors"
local dir = oracle.tmpname()
assert(os.execute("mkdir -p " .. dir))

-- Six test images of each of split A's classes, in a scrambled order.
local test = graft.data.FashionMNIST("test")
local images, labels, seen = {}, {}, {}
for i = 1, #test do
  local y = test:label(i)
  if y <= 5 and (seen[y] or 0) < 6 then
    seen[y] = (seen[y] or 0) + 1
    local path = ("%s/%05d.png"):format(dir, i)
    graft.image.save(path, test:get(i))
    images[#images + 1], labels[#labels + 1] = path, y
  end
end
for i = #images, 2, -1 do
  local j = (i * 7919) % i + 1
  images[i], images[j], labels[i], labels[j] = images[j], images[i], labels[j], labels[i]
end

-- Runs the host from `dir` with no Lua search paths: only what is compiled in can load.
local function run(args)
  local cmd = ("cd %s && env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_4 -u LUA_CPATH_5_4 %s %s 2>%s/stderr"):format(
    dir, host, args, dir)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  local ok, _, code = p:close()
  local f = assert(io.open(dir .. "/stderr"))
  local err = f:read("a")
  f:close()
  return out, ok and 0 or code, err
end

local function lines(s)
  local t = {}
  for l in s:gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

local all = table.concat(images, " ")
local out1, code1, err1 = run(model_path .. " " .. all)
T.is(code1, 0, "the host exits 0")
T.is(err1, "", "and prints nothing on stderr")
local got = lines(out1)
T.is(#got, #images, "one line per image")

local model = graft.load_model(model_path)
local want = graft.predict(model, images, {topk = 3})
local order, classes, probs, correct = true, true, 0, 0
for i, line in ipairs(got) do
  local cells = {}
  for c in (line .. "\t"):gmatch("([^\t]*)\t") do cells[#cells + 1] = c end
  order = order and cells[1] == images[i] and #cells == 7
  for j = 1, 3 do
    classes = classes and cells[2 * j] == want[i].classes[j]
    probs = math.max(probs, math.abs(tonumber(cells[2 * j + 1]) - want[i].probs[j]))
  end
  if cells[2] == model.config.classes[labels[i]] then correct = correct + 1 end
end
T.ok(order, "lines are IMAGE, then three class/probability pairs, in input order")
T.ok(classes, "the top-3 classes are graft.predict's")
T.ok(probs <= 5.1e-5, ("the probabilities are graft.predict's to 4 decimals (max |diff| %.1e)"):format(probs))
T.ok(correct >= 0.8 * #images, ("%d of %d images get their true class first"):format(correct, #images))

local out2, code2 = run("--threads 2 " .. model_path .. " " .. all)
T.is(code2, 0, "--threads 2 exits 0")
T.is(out2, out1, "two lua_States in two threads print exactly what one prints")
local out3 = run("--threads 4 " .. model_path .. " " .. all)
T.is(out3, out1, "and so do four")

-- Failures name what failed and set the exit status; the other images are still answered.
local out4, code4, err4 = run(("--threads 2 %s %s %s/missing.png %s"):format(model_path, images[1], dir, images[2]))
T.is(code4, 1, "a missing image: exit status 1")
T.ok(err4:find("missing.png", 1, true), "the error names the image: " .. (lines(err4)[1] or ""))
T.is(#lines(out4), 2, "the other images are still classified")
local _, code5, err5 = run(dir .. "/nomodel.safetensors " .. images[1])
T.ok(code5 == 1 and err5:find("nomodel.safetensors", 1, true), "a missing model file: exit 1, named: " .. (lines(err5)[1] or ""))
local _, code6, err6 = run("--threads 0 " .. model_path .. " " .. images[1])
T.ok(code6 == 2 and err6:find("--threads", 1, true), "a bad --threads count is a usage error")
T.done()
