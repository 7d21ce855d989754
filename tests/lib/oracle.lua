-- Asks Debian's PyTorch for expected values: oracle.run(code, {name = tensor}) runs `code`
-- (Python, with `torch`, `F`, `inp` and `out`) in tests/oracle/run.py and returns the
-- tensors it put in `out`. Tensors travel as safetensors files.
local graft = require "graft"

local oracle = {}
local python = os.getenv("GRAFT_ORACLE_PYTHON") or "/usr/bin/python3"
local here = debug.getinfo(1, "S").source:match("^@(.*)/lib/oracle%.lua$") or "tests"
local script = here .. "/oracle/run.py"

local function tmpname()
  local name = os.tmpname()
  os.remove(name)
  return name
end

-- opts.quiet: Python's own error output is dropped (the caller handles the failure).
function oracle.run(code, inputs, opts)
  local inp, out = tmpname() .. ".safetensors", tmpname() .. ".safetensors"
  graft.save(inp, inputs or {})
  -- The sanitizer runtime preloaded for graft's tests must not leak into Python.
  local cmd = ("env -u LD_PRELOAD OMP_NUM_THREADS=1 %s %s %s %s%s"):format(python, script, inp, out,
    opts and opts.quiet and " 2>/dev/null" or "")
  local p = assert(io.popen(cmd, "w"))
  p:write(code)
  local ok, _, status = p:close()
  os.remove(inp)
  if not ok then
    os.remove(out)
    error("oracle: PyTorch failed (exit " .. tostring(status) .. ") running:\n" .. code, 2)
  end
  local result = graft.load(out)
  os.remove(out)
  return result
end

-- A path for a scratch file that the caller removes.
oracle.tmpname = tmpname

return oracle
