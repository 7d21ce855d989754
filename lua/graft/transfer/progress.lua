--- Progress of a loop over batches: a bar redrawn in place on a terminal, plain lines
-- every few seconds otherwise (logs, CI), nothing when turned off.
local core = require "graft.core"

local Progress = {}
Progress.__index = Progress

local function duration(s)
  if s ~= s or s == math.huge then return "?" end
  s = math.floor(s + 0.5)
  if s >= 3600 then return ("%dh%02dm"):format(s // 3600, s % 3600 // 60) end
  return ("%d:%02d"):format(s // 60, s % 60)
end

--- new(title, total, {enabled, stream, every}): enabled = nil means "when stderr is a
-- terminal, a bar; else a line every `every` seconds (default 30)"; false turns it off.
function Progress.new(title, total, opts)
  opts = opts or {}
  local tty = core.isatty(2)
  local enabled = opts.enabled
  if enabled == nil then enabled = true end
  return setmetatable({title = title, total = total, enabled = enabled, tty = tty, stream = opts.stream or io.stderr,
                       every = opts.every or 30, started = core.clock(), last = tty and -math.huge or core.clock(), items = 0, done = 0},
                      Progress)
end

--- update(done, items, fields): done batches of total; items processed; fields a list of
-- {name, value, format} shown after the counters.
function Progress:update(done, items, fields)
  self.done, self.items = done, items
  if not self.enabled then return end
  local now = core.clock()
  local final = done >= (self.total or math.huge)
  if not final and now - self.last < (self.tty and 0.2 or self.every) then return end
  self.last = now
  local elapsed = now - self.started
  local rate = elapsed > 0 and items / elapsed or 0
  local eta = self.total and done > 0 and elapsed / done * (self.total - done) or math.huge
  local parts = {}
  for _, f in ipairs(fields or {}) do
    if f[2] ~= nil then parts[#parts + 1] = (f[3] or "%s %.4g"):format(f[1], f[2]) end
  end
  local counts = self.total and ("%d/%d"):format(done, self.total) or tostring(done)
  local text = ("%s %s %s %.0f/s %s %s"):format(self.title, counts, table.concat(parts, " "), rate,
                                                 final and "in" or "eta", duration(final and elapsed or eta))
  if self.tty then
    local width = 24
    local filled = self.total and math.floor(width * done / math.max(self.total, 1)) or 0
    self.stream:write("\r", ("[%s%s] "):format(("="):rep(filled), (" "):rep(width - filled)), text, "\27[K")
    if final then self.stream:write("\n") end
  else
    self.stream:write(text, "\n")
  end
  self.stream:flush()
end

return Progress
