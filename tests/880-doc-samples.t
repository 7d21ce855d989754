#!/usr/bin/env lua5.4
-- tests/880-doc-samples.t — every code sample in README.md and docs/*.md runs, so the docs
-- cannot drift from the code. Per file, the ```lua blocks run in order in one fresh Lua
-- process (later blocks see earlier locals), with line numbers kept so an error points into
-- the .md file; ```sh lines that run the `graft` command run after them; ```c blocks are
-- compiled against build/libgraft.a and run. They run in a directory of fixtures made here
-- under the names the samples use: random-weight safetensors and a torch.save'd .pth, a
-- small ImageFolder, single images. Install commands (apt-get, luarocks, make) are not run
-- here: tests/870-install.t runs the LuaRocks and make install paths.
-- The zoo table in docs/models.md is checked against the models graft builds.
local T, graft, oracle = require "tap", require "graft", require "oracle"

local root = os.getenv("PWD")
local build = os.getenv("GRAFT_BUILD") or (root .. "/build")
local dir = oracle.tmpname()
assert(os.execute("mkdir -p " .. dir))

local function read(path)
  local f = assert(io.open(path))
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function sh(cmd)
  local p = assert(io.popen(("(%s) 2>%s/stderr"):format(cmd, dir)))
  local out = p:read("a")
  local ok = p:close()
  return ok, out, read(dir .. "/stderr")
end

-- Fixtures ---------------------------------------------------------------------------------

-- Two classes told apart by colour: 3 training and 2 validation images each, 64 x 64.
graft.manual_seed(7)
for c, class in ipairs {"abyssinian", "beagle"} do
  for i = 1, 5 do
    local split = i <= 3 and "train" or "val"
    assert(os.execute(("mkdir -p %s/pets/%s/%s"):format(dir, split, class)))
    local x = graft.rand(3, 64, 64) * 0.4
    graft.no_grad(function() x:narrow(1, c, 1):add_(0.5) end)
    graft.image.save(("%s/pets/%s/%s/%d.png"):format(dir, split, class, i), x)
  end
end
graft.image.save(dir .. "/dog.png", graft.rand(3, 80, 60))
for _, arch in ipairs {"resnet18", "resnet50"} do
  graft.save(("%s/%s.safetensors"):format(dir, arch), graft.models[arch]{}:state_dict(), {format = "pt"})
end
-- A small Hugging Face-style BERT directory (config.json, vocab.txt, random weights under
-- BertForSequenceClassification's names) and labelled review texts.
do
  local words = {"good", "great", "fine", "bad", "awful", "poor", "the", "film", "was", "plot", "acting", "a"}
  local vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", table.unpack(words)}
  assert(os.execute(("mkdir -p %s/bert-mini %s/reviews"):format(dir, dir)))
  local config = {vocab_size = #vocab, hidden_size = 32, num_hidden_layers = 4, num_attention_heads = 4,
                  intermediate_size = 64, max_position_embeddings = 64, num_labels = 2}
  write(dir .. "/bert-mini/config.json", graft.json.encode(config))
  write(dir .. "/bert-mini/vocab.txt", table.concat(vocab, "\n") .. "\n")
  graft.save(dir .. "/bert-mini/model.safetensors", graft.models.bert_classifier{config = config}:state_dict(), {format = "pt"})
  for _, split in ipairs {"train", "test"} do
    local lines = {"text,label"}
    for i = 1, 24 do
      local pos = i % 2 == 0
      local w = pos and words[1 + i % 3] or words[4 + i % 3]
      lines[#lines + 1] = ("the film was %s,%s"):format(w, pos and "positive" or "negative")
    end
    write(("%s/reviews/%s.csv"):format(dir, split), table.concat(lines, "\n") .. "\n")
  end
end
-- A model file (graft.save_model: architecture and config in it), as the command line takes.
graft.save_model(graft.models.resnet18 {}, dir .. "/resnet18-model.safetensors")
oracle.run(([[
import torch, torchvision
from PIL import Image
torch.manual_seed(0)
torch.save(torchvision.models.resnet18().state_dict(), "%s/resnet18.pth")
Image.new("RGB", (90, 70), (200, 120, 40)).save("%s/cat.jpg", quality=90)
]]):format(dir, dir), {})

-- Samples ----------------------------------------------------------------------------------

-- The blocks of one language in a Markdown file: the file's text with everything outside
-- those blocks blanked, so line numbers stay the file's.
local function blocks(text, lang)
  local out, inside, any = {}, false, false
  for line in (text .. "\n"):gmatch("(.-)\n") do
    if inside and line:match("^```%s*$") then
      inside = false
      out[#out + 1] = ""
    elseif not inside and line:match("^```" .. lang .. "%s*$") then
      inside, any = true, true
      out[#out + 1] = ""
    else
      out[#out + 1] = inside and line or ""
    end
  end
  return any and table.concat(out, "\n") or nil
end

-- Each file's samples run in a directory of their own that links to the fixtures, so one
-- file's outputs (checkpoints, caches) do not meet another's.
local fixtures = {}
for name in io.popen("ls " .. dir):lines() do fixtures[#fixtures + 1] = name end
local function workdir(file)
  local w = ("%s/run-%s"):format(dir, file:gsub("[/.]", "_"))
  assert(os.execute("mkdir -p " .. w))
  for _, name in ipairs(fixtures) do assert(os.execute(("ln -sfn %s/%s %s/%s"):format(dir, name, w, name))) end
  return w
end
local function env(w)
  return ("cd %s && export LUA_PATH='%s/lua/?.lua;%s/lua/?/init.lua;%s/tests/lib/?.lua;;' LUA_CPATH='%s/?.so;;' PATH='%s/bin:'\"$PATH\";"):format(
    w, root, root, root, build, root)
end

local files = {"README.md"}
for name in io.popen("ls " .. root .. "/docs/*.md"):lines() do files[#files + 1] = name:sub(#root + 2) end
local ran = 0
for _, file in ipairs(files) do
  local text = read(root .. "/" .. file)
  local w = workdir(file)
  local lua = blocks(text, "lua")
  if lua then
    local script = w .. "/samples.lua"
    write(script, ("local chunk = assert(load(%q, %q))\nchunk()\n"):format(lua, "@" .. file))
    local ok, _, err = sh(("%s lua5.4 %s"):format(env(w), script))
    T.ok(ok, file .. ": its Lua samples run")
    if not ok then T.diag(err:sub(-2000)) end
    ran = ran + 1
  end
  local shell = blocks(text, "sh")
  if shell then
    local cmds = {}
    for line in shell:gmatch("[^\n]+") do
      if line:match("^graft ") then cmds[#cmds + 1] = line:gsub("%s+#.*$", "") end
    end
    if #cmds > 0 then
      local ok, _, err = sh(env(w) .. table.concat(cmds, " && "))
      T.ok(ok, ("%s: its %d graft commands run"):format(file, #cmds))
      if not ok then T.diag(err:sub(-2000)) end
    end
  end
  local c = blocks(text, "c")
  if c then
    local src = w .. "/sample.c"
    write(src, c)
    local libs = "-L/usr/lib/$(gcc -print-multiarch)/openblas-openmp -lopenblas -lcjson -lpng -ljpeg -lz -lm -fopenmp -lpthread"
    if os.getenv("GRAFT_SANITIZE") then libs = libs .. " -fsanitize=address,undefined" end
    -- The compiler runs without the sanitizer runtime the Lua tests preload.
    local ok, _, err = sh(("env -u LD_PRELOAD cc -o %s.bin %s -I%s/csrc/lua $(pkg-config --cflags lua5.4) %s/libgraft.a -llua5.4 %s"):format(
      src, src, root, build, libs))
    if ok then ok, _, err = sh(("cd %s && env -u LUA_PATH -u LUA_CPATH %s.bin"):format(w, src)) end
    T.ok(ok, file .. ": its C sample builds and runs")
    if not ok then T.diag(err:sub(-2000)) end
  end
end
T.ok(ran >= 10, ("samples found in %d files"):format(ran))

-- The zoo table ----------------------------------------------------------------------------
local rows, wrong = 0, {}
for name, params, size, head, features in read(root .. "/docs/models.md"):gmatch(
    "\n| `([%w_]+)` | ([%d,]+) | (%d+)×%d+ | `([%w%.]+)` | (%d+) |") do
  local m = graft.models[name]{}
  local n = 0
  for _, p in ipairs(m:parameters()) do n = n + p:numel() end
  local got = ("%d %d %s %d"):format(n, m.config.input_size[2], m.head_path, m.num_features)
  local want = ("%s %s %s %s"):format(params:gsub(",", ""), size, head, features)
  if got ~= want then wrong[#wrong + 1] = ("%s: table %s, graft %s"):format(name, want, got) end
  rows = rows + 1
  m = nil
  collectgarbage()
end
local image_models = 0   -- the table is the image zoo; BERT builds from a config.json (docs/text.md)
for _, name in ipairs(graft.models.list()) do
  if not graft.models.spec(name).custom then image_models = image_models + 1 end
end
T.ok(rows == image_models and #wrong == 0,
     ("docs/models.md's zoo table: %d rows for %d image models, %d wrong"):format(rows, image_models, #wrong))
for _, w in ipairs(wrong) do T.diag(w) end
T.done()
