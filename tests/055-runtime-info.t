#!/usr/bin/env lua5.4
-- tests/055-runtime-info.t — graft.info(), GRAFT_ISA and GRAFT_GEMM checked when graft loads,
-- and graft.warn: the default channel, a host's handler, the BLAS-core warning.
local T, graft = require "tap", require "graft"
local runtime = require "graft.runtime"

local tmp = os.tmpname()
-- Runs a Lua snippet in a child with graft's two variables cleared and `env` set;
-- returns its standard output, exit status and standard error.
local function child(env, code)
  local p = assert(io.popen(("env -u GRAFT_ISA -u GRAFT_GEMM %s lua5.4 -e %q 2>%s"):format(env, code, tmp)))
  local out = p:read("a")
  local ok = p:close()
  local f = assert(io.open(tmp))
  local err = f:read("a")
  f:close()
  return out, ok, err
end

local info = graft.info()
local missing = {}
for _, k in ipairs {"version", "lua", "cpu", "isa", "gemm", "blas", "blas_core", "threads"} do
  if info[k] == nil then missing[#missing + 1] = k end
end
T.ok(#missing == 0, "info() has every field" .. (#missing > 0 and " (missing: " .. table.concat(missing, ", ") .. ")" or ""))
T.ok(info.version == graft.version and info.lua == _VERSION and info.threads == graft.get_num_threads(),
     "info(): version, Lua version and thread count")
T.ok(type(info.cpu) == "string" and info.cpu ~= "" and math.type(info.cpu_family) == "integer"
     and math.type(info.cpu_model) == "integer", ("info(): CPU %q, family %s, model %s"):format(
       info.cpu, info.cpu_family, info.cpu_model))
local on_blas = os.getenv("GRAFT_GEMM") == "openblas"
T.ok(({avx512 = true, avx2 = true, generic = true})[info.isa]
     and info.gemm == (on_blas and "openblas" or "graft " .. info.isa), ("info(): isa %s, gemm %s"):format(info.isa, info.gemm))
T.ok(info.blas:match("^OpenBLAS %d+%.%d+") and not info.blas:find("DYNAMIC_ARCH", 1, true) and info.blas_core ~= "",
     ("info(): blas %q, core %q"):format(info.blas, info.blas_core))

local out, ok, err = child("GRAFT_ISA=bogus", 'require "graft"')
T.ok(not ok and err:find("graft: GRAFT_ISA=bogus is not one of avx512, avx2, generic", 1, true),
     "an unknown GRAFT_ISA stops the load with the reason")
out, ok, err = child("GRAFT_GEMM=bogus", 'require "graft"')
T.ok(not ok and err:find("graft: GRAFT_GEMM=bogus is not one of graft, openblas", 1, true),
     "an unknown GRAFT_GEMM stops the load with the reason")
out, ok = child("GRAFT_ISA=generic", 'local i = require "graft".info() io.write(i.isa, " ", i.gemm)')
T.is(ok and out, "generic graft generic", "GRAFT_ISA=generic runs graft's portable kernels")
if info.isa ~= "avx512" and os.getenv("GRAFT_ISA") == nil then
  out, ok, err = child("GRAFT_ISA=avx512", 'require "graft"')
  T.ok(not ok and err:find("graft: GRAFT_ISA=avx512, but this CPU has no AVX-512F and FMA", 1, true),
       "GRAFT_ISA naming a set this CPU lacks stops the load")
else
  out, ok = child("GRAFT_ISA=avx2", 'io.write(require "graft".info().isa)')
  T.is(ok and out, "avx2", "GRAFT_ISA=avx2 on an AVX-512 CPU runs the AVX2 kernels")
end
out, ok, err = child("GRAFT_GEMM=openblas OPENBLAS_CORETYPE=SkylakeX", 'io.write(require "graft".info().gemm)')
T.is(ok and out, "openblas", "GRAFT_GEMM=openblas: info().gemm says so")

-- The warning channel.
out, ok, err = child("", 'require "graft".warn("plain")')
T.is(ok and err, "graft: warning: plain\n", "warn writes to standard error by default")
out, ok, err = child("", 'local g = require "graft"; local got; g.set_warn(function(m) got = m end); g.warn("a"); '
                     .. 'g.set_warn(nil); g.warn("b"); io.write(got)')
T.ok(ok and out == "a" and err == "graft: warning: b\n", "set_warn installs a handler; nil restores standard error")
T.error_like(function() graft.set_warn("stderr") end, "set_warn: expected a function(msg) or nil, got string",
             "set_warn refuses what is not a function")
local got = {}
graft.set_warn(function(m) got[#got + 1] = m end)
graft.data.warn("a data set's note")
T.is(got[1], "a data set's note", "graft.data's warnings go through graft.warn")

-- The BLAS core older than the CPU.
local fake = {gemm = "openblas", blas_core = "Prescott", cpu = "Test CPU 9000", cpu_isa = "avx512"}
local rules = {
  {{gemm = "openblas", blas_core = "SkylakeX", cpu_isa = "avx512"}, false},
  {{gemm = "openblas", blas_core = "Haswell", cpu_isa = "avx512"}, true},
  {{gemm = "openblas", blas_core = "Zen", cpu_isa = "avx2"}, false},
  {{gemm = "openblas", blas_core = "Sandybridge", cpu_isa = "avx2"}, true},
  {{gemm = "openblas", blas_core = "Prescott", cpu_isa = "generic"}, false},
  {{gemm = "graft avx512", blas_core = "Prescott", cpu_isa = "avx512"}, false},
}
local wrong = {}
for _, r in ipairs(rules) do
  r[1].cpu = "x"
  if (runtime.blas_warning(r[1]) ~= nil) ~= r[2] then wrong[#wrong + 1] = r[1].blas_core .. " on " .. r[1].cpu_isa end
end
T.ok(#wrong == 0, "warned exactly for cores older than the CPU's set" .. (#wrong > 0 and " (wrong: " .. table.concat(wrong, ", ") .. ")" or ""))
if os.getenv("GRAFT_GEMM") ~= "openblas" then
  got = {}
  graft._check_blas(fake)
  graft._check_blas(fake)
  T.ok(#got == 1 and got[1]:find("Prescott", 1, true) and got[1]:find("Test CPU 9000", 1, true)
       and got[1]:find("unset GRAFT_GEMM", 1, true) and got[1]:find("OPENBLAS_CORETYPE", 1, true),
       "a replaced warn receives the BLAS-core warning (core, CPU, the fix), once")
else
  T.skip("this process runs with GRAFT_GEMM=openblas: its warning was sent at load", 1)
end
graft.set_warn(nil)

out, ok, err = child("GRAFT_GEMM=openblas OPENBLAS_CORETYPE=Prescott",
                     'local g = require "graft"; g._check_blas(); io.write(g.info().blas_core)')
local _, count = err:gsub("graft: warning: GRAFT_GEMM=openblas runs graft's products on OpenBLAS's Prescott kernels", "")
local simd = require("graft.core").runtime_facts().cpu_isa ~= "generic"
T.ok(ok and out == "Prescott" and count == (simd and 1 or 0) and (not simd or err:find(info.cpu, 1, true)),
     "GRAFT_GEMM=openblas on a Prescott core warns once on standard error, at load")
out, ok, err = child("OPENBLAS_CORETYPE=Prescott", 'require "graft"')
T.ok(ok and err == "", "with graft's GEMM, OpenBLAS's core draws no warning")
os.remove(tmp)
T.done()
