#!/usr/bin/env lua5.4
-- tests/098-kill-during-save.t — nothing is lost when a process dies mid-write. A child
-- saves versions 1, 2, 3, ... of a 4 MB checkpoint in a loop and is killed with SIGKILL at a
-- random moment, 200 times: the file is always one complete version, never older than the
-- last one seen (the write is a temporary file, fsync, rename). Then a training run killed
-- between or during its epoch checkpoints resumes with graft.fit{resume = ...} and ends
-- bit for bit where an uninterrupted run ends.
local T, graft, oracle = require "tap", require "graft", require "oracle"

local KILLS = tonumber(os.getenv("GRAFT_KILLS")) or 200
local dir = oracle.tmpname()
assert(os.execute("mkdir -p " .. dir))
math.randomseed(T.seed())

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- Starts `lua5.4 script args` and returns its pid and its stdout pipe.
local function spawn(script, args)
  local p = assert(io.popen(("exec sh -c 'echo $$; exec lua5.4 %s %s' 2>/dev/null"):format(script, args)))
  return tonumber(p:read("l")), p
end

local function sleep(seconds) os.execute(("sleep %.3f"):format(seconds)) end

-- ---- 200 kills of a saving loop ------------------------------------------------------------
write(dir .. "/saver.lua", [[
local graft = require "graft"
local path = arg[1]
local ok, t = pcall(graft.load, path)
local v = ok and t.v:item() or 0
io.write("ready\n")
io.flush()
while true do
  v = v + 1
  graft.save(path, {w = graft.full({1024 * 1024}, v), v = graft.tensor({v}, "i64")})
end
]])
local ckpt = dir .. "/state.safetensors"
local last, torn, regressed, interrupted, versions = 0, 0, 0, 0, {}
for _ = 1, KILLS do
  local pid, pipe = spawn(dir .. "/saver.lua", ckpt)
  assert(pipe:read("l") == "ready", "the saver starts")
  sleep(math.random() * 0.08)
  os.execute("kill -9 " .. pid)
  pipe:close()
  -- A kill inside a write leaves that write's temporary file (named after the pid) behind.
  local leftovers = io.popen(("ls %s.tmp-%d-* 2>/dev/null"):format(ckpt, pid)):read("a")
  if leftovers ~= "" then interrupted = interrupted + 1 end
  os.execute(("rm -f %s.tmp-*"):format(ckpt))
  local ok, t = pcall(graft.load, ckpt)
  if ok or last > 0 then
    local v = ok and t.v:item()
    local whole = ok and t.w:numel() == 1024 * 1024 and t.w:min():item() == v and t.w:max():item() == v
    if not whole then torn = torn + 1 end
    if ok and v < last then regressed = regressed + 1 end
    if ok then
      last = math.max(last, v)
      versions[v] = true
    end
  end
end
local distinct = 0
for _ in pairs(versions) do distinct = distinct + 1 end
T.is(torn, 0, ("%d kills: the checkpoint was always one complete version (%d distinct versions seen)"):format(KILLS, distinct))
T.is(regressed, 0, "and never older than the last version seen")
T.ok(interrupted >= KILLS // 10, ("%d of the %d kills landed inside a write"):format(interrupted, KILLS))

-- ---- a training run killed and resumed -----------------------------------------------------
write(dir .. "/train.lua", [[
local graft = require "graft"
local nn, data = graft.nn, graft.data
local ckpt, out, slow = arg[1], arg[2], arg[3] == "slow"
graft.manual_seed(3)
local x = graft.randn(512, 16)
local y = (x:narrow(2, 1, 4):sum(2):gt(0)):to("i64") + 1
graft.manual_seed(4)
local model = nn.Sequential {nn.Linear(16, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 2)}
local loader = data.Loader(data.TensorDataset(x, y), {batch_size = 32, shuffle = true, seed = 5})
io.write("ready\n")
io.flush()
graft.fit(model, loader, {epochs = 8, lr = 3e-3, checkpoint = ckpt, resume = ckpt, progress = false,
                          on_batch = slow and function() os.execute("sleep 0.01") end or nil})
graft.save(out, model:state_dict())
]])
local ref = dir .. "/ref.safetensors"
assert(os.execute(("lua5.4 %s/train.lua %s/ref.ckpt %s >/dev/null"):format(dir, dir, ref)), "an uninterrupted run")
local want = graft.load(ref)
for round = 1, 3 do
  local c, got = ("%s/run%d.ckpt"):format(dir, round), ("%s/run%d.safetensors"):format(dir, round)
  local pid, pipe = spawn(dir .. "/train.lua", c .. " " .. got .. " slow")
  pipe:read("l")
  sleep(0.3 + round * 0.4)          -- each epoch takes ~0.16 s of sleeps: killed in epoch 2 to 8
  os.execute("kill -9 " .. pid)
  pipe:close()
  local had = io.open(c) ~= nil
  assert(os.execute(("lua5.4 %s/train.lua %s %s >/dev/null"):format(dir, c, got)), "the resumed run finishes")
  local same = true
  for k, v in pairs(graft.load(got)) do same = same and graft.allclose(v, want[k], 0, 0) end
  T.ok(same, ("run %d, killed %s a checkpoint: resumed, its final weights equal the uninterrupted run's"):format(
    round, had and "after" or "before"))
end
os.execute("rm -rf " .. dir)
T.done()
