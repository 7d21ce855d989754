-- What this process runs on (graft.info) and graft's one warning channel (graft.warn).
-- The facts come from graft.core's runtime_facts; this file names and checks them.
local core = require "graft.core"

local runtime = {}

local function default_warn(msg)
  io.stderr:write("graft: warning: ", tostring(msg), "\n")
end

-- The handler, per Lua state (each state loads its own copy of this module).
local handler = default_warn

-- warn(msg): graft's warnings, all through one channel: "graft: warning: <msg>" on standard
-- error, unless set_warn installed another handler.
function runtime.warn(msg)
  handler(msg)
end

-- set_warn(fn): fn(msg) receives graft's warnings from now on in this Lua state; nil
-- restores the default (standard error).
function runtime.set_warn(fn)
  if fn ~= nil and type(fn) ~= "function" then
    error(("set_warn: expected a function(msg) or nil, got %s"):format(type(fn)), 2)
  end
  handler = fn or default_warn
end

-- "OpenBLAS 0.3.21" from openblas_get_config()'s "OpenBLAS 0.3.21 DYNAMIC_ARCH ... MAX_THREADS=64".
local function blas_name(config)
  local name, version = config:match("^(%S+)%s+(%d[%w%.%-]*)")
  if name then return name .. " " .. version end
  return config ~= "" and config or "unknown"
end

local function lua_name()
  local jit = rawget(_G, "jit")
  if type(jit) == "table" and type(jit.version) == "string" then return jit.version end
  return _VERSION
end

-- info(): what this process runs on: {version, lua, cpu, cpu_family, cpu_model, isa, gemm,
-- blas, blas_core, threads}.
function runtime.info()
  local f = core.runtime_facts()
  return {
    version = core.version,
    lua = lua_name(),
    cpu = f.cpu,
    cpu_family = f.cpu_family,
    cpu_model = f.cpu_model,
    isa = f.isa,
    gemm = f.gemm,
    blas = blas_name(f.blas_config),
    blas_core = f.blas_core,
    threads = f.threads,
  }
end

-- The cores OpenBLAS may choose that make full use of each instruction set; any other core
-- on such a CPU runs older kernels (Debian's OpenBLAS 0.3.21 picks Prescott's SSE3 ones on
-- CPUs newer than its table).
local CURRENT_CORES = {
  avx512 = {SkylakeX = true, Cooperlake = true, SapphireRapids = true},
  avx2 = {Haswell = true, Zen = true, SkylakeX = true, Cooperlake = true, SapphireRapids = true},
}

-- blas_warning(facts): the warning due when graft's products run on the BLAS (GRAFT_GEMM=openblas)
-- and the BLAS chose a core older than the CPU; nil otherwise. facts: {gemm, blas_core, cpu,
-- cpu_isa (the best set the CPU has)}.
function runtime.blas_warning(facts)
  local current = CURRENT_CORES[facts.cpu_isa]
  if facts.gemm ~= "openblas" or not current or current[facts.blas_core] then return nil end
  return ("GRAFT_GEMM=openblas runs graft's products on OpenBLAS's %s kernels, made for CPUs older "
          .. "than this one (%s, %s), which leaves much of its speed unused; unset GRAFT_GEMM to use "
          .. "graft's %s GEMM, or set OPENBLAS_CORETYPE to a core for this CPU (e.g. %s)"):format(
    facts.blas_core, facts.cpu, facts.cpu_isa, facts.cpu_isa,
    facts.cpu_isa == "avx512" and "SkylakeX" or "Haswell")
end

local blas_warned = false

-- check_blas([facts]): sends blas_warning's message through warn, once per Lua state.
-- facts defaults to this process's; returns the message when one was sent.
function runtime.check_blas(facts)
  if blas_warned then return nil end
  if facts == nil then
    local f = core.runtime_facts()
    facts = {gemm = f.gemm, blas_core = f.blas_core, cpu = f.cpu, cpu_isa = f.cpu_isa}
  end
  local msg = runtime.blas_warning(facts)
  if msg then
    blas_warned = true
    runtime.warn(msg)
  end
  return msg
end

return runtime
