#!/usr/bin/env lua5.4
-- tests/816-deps.t — what each make target installs: the demo, `make` and `make install`
-- only what graft needs (no PyTorch, well over a gigabyte, which only the tests use as their
-- oracle); `make test` and `make test-slow` the oracles too. Read from `scripts/deps --list`
-- and `make -n`, so nothing is installed here.
local T = require "tap"

local function sh(cmd)
  local p = assert(io.popen("cd " .. (os.getenv("PWD") or ".") .. " && env -u MAKEFLAGS -u MAKELEVEL " .. cmd .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  return ok and out or nil
end
local function set(text)
  local s = {}
  for name in (text or ""):gmatch("%S+") do s[name] = true end
  return s
end

local runtime, demo, test = set(sh("scripts/deps --list")), set(sh("scripts/deps --list --demo")), set(sh("scripts/deps --list --test"))
T.ok(runtime["lua5.4"] and runtime["libopenblas-openmp-dev"] and runtime["libpng-dev"] and not runtime["python3-torch"],
     "scripts/deps: graft's build and runtime packages, without PyTorch")
T.ok(demo["dataset-fashion-mnist"] and demo["libcjson-dev"] and not demo["python3-torch"] and not demo["python3-torchvision"]
     and not demo["python3-pil"], "scripts/deps --demo: those and the demo's data set, no oracle")
local superset = true
for name in pairs(demo) do superset = superset and test[name] end
T.ok(superset and test["python3-torch"] and test["python3-torchvision"] and test["python3-pil"] and test["python3-png"],
     "scripts/deps --test: everything the demo needs and the tests' oracles")

local function deps_calls(target)
  local out = sh("make -n " .. target) or ""
  local calls = {}
  for line in out:gmatch("[^\n]+") do
    if line:find("scripts/deps", 1, true) then calls[#calls + 1] = line:match("scripts/deps.*$") end
  end
  return table.concat(calls, "; ")
end
local d = deps_calls("demo")
T.ok(d:find("scripts/deps --demo", 1, true) and not d:find("--test", 1, true), "make demo installs with --demo (" .. d .. ")")
T.is(deps_calls("all") .. deps_calls("install PREFIX=/nonexistent"), "", "make and make install install nothing")
T.ok(deps_calls("test"):find("scripts/deps --test", 1, true) and deps_calls("test-slow"):find("scripts/deps --test", 1, true),
     "make test and make test-slow install the oracles")
T.done()
