--- Command-line options for the examples: `--name value` pairs over a table of defaults, a
-- value that reads as a number becoming one. A name the defaults lack, or a name without a
-- value, is an error carrying the example's usage line. An example loads it from beside
-- itself: `dofile(arg[0]:gsub("[^/]*$", "") .. "options.lua")(defaults, usage)`.
return function(defaults, usage)
  local opts = {}
  for name, value in pairs(defaults) do opts[name] = value end
  local i = 1
  while i <= #arg do
    local name = arg[i]:match("^%-%-(.+)$")
    if not name or opts[name] == nil or arg[i + 1] == nil then error(usage, 2) end
    opts[name] = tonumber(arg[i + 1]) or arg[i + 1]
    i = i + 2
  end
  return opts
end
