-- examples/quickstart.lua — graft's tensors in a few lines: broadcasting, matmul,
-- reductions, in-place updates, and a safetensors checkpoint written and read back.
-- Fits y = 3 x1 - 2 x2 + 0.5 (plus noise) by gradient descent with hand-written gradients.
--   lua5.4 examples/quickstart.lua [checkpoint.safetensors]
local graft = require "graft"
graft.manual_seed(0)

local n = 256
local X = graft.randn{n, 2}
local y = X:matmul(graft.tensor{{3}, {-2}}) + 0.5 + graft.randn{n, 1} * 0.1

local w, b = graft.zeros{2, 1}, graft.zeros{1}
local lr = 0.1
for step = 1, 200 do
  local err = X:matmul(w) + b - y                 -- {n, 1}: b broadcasts over rows
  local loss = err:pow(2):mean()
  w:sub_(X:t():matmul(err) * (2 / n * lr))       -- d loss / d w = 2/n X^T err
  b:sub_(err:mean() * (2 * lr))                   -- d loss / d b = 2 mean(err)
  if step % 50 == 0 then print(("step %3d   loss %.5f"):format(step, loss:item())) end
end
print(("fitted   w = {%.3f, %.3f}   b = %.3f"):format(w:get(1, 1), w:get(2, 1), b:get(1)))

local scratch = not arg[1] and os.tmpname()     -- os.tmpname creates the file it names
local path = arg[1] or (scratch .. ".safetensors")
graft.save(path, {["linear.weight"] = w:t(), ["linear.bias"] = b}, {format = "pt"})
local state, meta = graft.load(path)
print(("saved and reloaded %s: linear.weight %s, format %s, identical: %s"):format(
  path, table.concat(state["linear.weight"]:shape(), "x"), meta.format,
  tostring(graft.allclose(state["linear.weight"], w:t(), 0, 0))))
if scratch then os.remove(path); os.remove(scratch) end
