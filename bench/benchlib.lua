-- Helpers shared by the benchmarks: medians, and running a timing program or a PyTorch
-- script and reading the numbers it prints.
local B = {}

function B.median(t)
  table.sort(t)
  return t[(#t + 1) // 2]
end

--- numbers(cmd) -> every number cmd prints, in order (an error if there is none).
function B.numbers(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  local nums = {}
  for v in out:gmatch("[%d%.]+") do nums[#nums + 1] = tonumber(v) end
  if #nums == 0 then error("bench: no timing from: " .. cmd .. "\n" .. out) end
  return nums
end

--- torch(code, ...) -> the numbers a PyTorch script prints when run with the given arguments,
-- on Debian's python with OPENBLAS_NUM_THREADS=1 (PyTorch's OpenMP pool and OpenBLAS's own
-- threads would fight over the cores).
function B.torch(code, ...)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(code)
  f:close()
  local args = {}
  for i, a in ipairs {...} do args[i] = tostring(a) end
  local ok, nums = pcall(B.numbers, ("env -u LD_PRELOAD OPENBLAS_NUM_THREADS=1 /usr/bin/python3 %s %s"):format(
    path, table.concat(args, " ")))
  os.remove(path)
  if not ok then error(nums, 2) end
  return nums
end

return B
