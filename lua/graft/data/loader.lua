--- graft.data.Loader: batches of a data set, shuffled per epoch, made ahead of need.
-- Image files whose transform is built in (or begins with built-in steps) are read,
-- decoded and transformed by C worker threads while the caller trains on the previous
-- batch; data sets held in tensors are batched with one gather; anything else goes item by
-- item through ds:get. Sample i of epoch e draws its random parameters from the generator
-- of (seed, e, i), so batches never depend on the number of workers.
-- @module graft.data
local core = require "graft.core"
local options = require "graft.options"

local T = core.Tensor
local Loader = {__name = "graft.data.Loader"}
Loader.__index = Loader

local function data() return require "graft.data" end

--- Loader(ds, {batch_size = 1, shuffle = false, drop_last = false, seed, workers, prefetch = 2})
local function new(ds, opts)
  opts = options.check("Loader", opts, {batch_size = "integer", shuffle = "boolean", drop_last = "boolean", seed = "integer",
                                        workers = "integer", prefetch = "integer"})
  if type(ds) ~= "table" or type(ds.get) ~= "function" then error("Loader: expects a data set (#ds, ds:get(i))", 2) end
  local batch_size = opts.batch_size or 1
  if math.type(batch_size) ~= "integer" or batch_size < 1 then error("Loader: batch_size must be a positive integer", 2) end
  local workers = opts.workers or core.get_num_threads()
  if math.type(workers) ~= "integer" or workers < 0 then error("Loader: workers must be a non-negative integer", 2) end
  local self = setmetatable({
    dataset = ds, batch_size = batch_size, shuffle = opts.shuffle or false, drop_last = opts.drop_last or false,
    seed = opts.seed or data()._fresh_seed(), workers = workers, prefetch = math.max(1, opts.prefetch or 2),
    epoch = 0,                                  -- iter() calls made (the epoch being iterated)
    stats = {items = 0, batches = 0, seconds = 0, items_per_second = 0},
    skipped = {},                               -- files left out (ImageFolder on_error = "skip")
  }, Loader)
  return self
end

--- #loader: batches per epoch.
function Loader:__len()
  local n = #self.dataset
  return self.drop_last and n // self.batch_size or (n + self.batch_size - 1) // self.batch_size
end

--- The 1-based item order of epoch e.
function Loader:order(epoch)
  local n = #self.dataset
  if self.shuffle then return data()._permutation(n, core.rng(self.seed, epoch, 0)) end
  local o = {}
  for i = 1, n do o[i] = i end
  return o
end

-- Follows Subsets down to the data set that holds the items.
local function resolve(ds, i)
  local Subset = data().Subset
  while getmetatable(ds) == Subset do
    ds, i = ds.dataset, ds.indices[i]
  end
  return ds, i
end

-- How a batch of positions is made: "files" (C workers), "gather" (ds:_batch) or "items".
local function plan(loader)
  local root = resolve(loader.dataset, 1)
  local tf = root.transform
  if getmetatable(root) == data().ImageFolder and (tf == nil or type(tf) == "table" and tf.steps) then
    return "files", root, tf and tf.steps or {}, tf and tf.rest or {}
  end
  if root._batch and root.transform == nil then return "gather", root end
  return "items", root
end

local function labels_tensor(list) return core.tensor(list, "i64") end

-- Stacks per-item tensors into one batch.
local function stack(list)
  for i, x in ipairs(list) do list[i] = T.unsqueeze(x, 1) end
  return require("graft.functional").cat(list, 1)
end

function Loader:_submit(positions, epoch)
  local root, steps = self._root, self._steps
  local paths, seeds = {}, {}
  for k, p in ipairs(positions) do
    local _, i = resolve(self.dataset, p)
    paths[k] = root.samples[i]
    seeds[k] = p
  end
  if not self._pool then self._pool = core.pool(self.workers) end
  local graft_image = require "graft.image"
  return self._pool:submit(paths, self.seed, epoch, seeds, steps, root.channels, graft_image.max_pixels)
end

-- Finishes a batch of image files: waits, drops (or reports) failures, applies Lua steps.
function Loader:_finish_files(batch, positions)
  local failures = batch:wait()
  local keep, labels = {}, {}
  if #failures > 0 then
    if not self._root.skip_bad then
      batch:free()
      error("Loader: " .. failures[1][2], 0)
    end
    local names = {}
    for _, f in ipairs(failures) do
      names[#names + 1] = f[2]
      self.skipped[#self.skipped + 1] = f[2]
    end
    data()._warn_files("skipped images that failed to load", names)
  end
  local bad = {}
  for _, f in ipairs(failures) do bad[f[1]] = true end
  for k, p in ipairs(positions) do
    keep[k] = not bad[k]
    if keep[k] then labels[#labels + 1] = data().label(self.dataset, p) end
  end
  local x
  if #labels == 0 then
    batch:free()
    return nil
  elseif #self._rest == 0 then
    x = batch:collate(keep)
  else
    local items = {}
    for k in ipairs(positions) do
      if keep[k] then
        local img, rng = batch:sample(k)
        for _, f in ipairs(self._rest) do img = f(img, rng) end
        items[#items + 1] = img
      end
    end
    x = stack(items)
  end
  batch:free()
  return x, labels_tensor(labels)
end

function Loader:_items(positions, epoch)
  local xs, ys = {}, {}
  for k, p in ipairs(positions) do
    local x, y = self.dataset:get(p, core.rng(self.seed, epoch, p))
    xs[k], ys[k] = x, y
  end
  local y
  if type(ys[1]) == "number" then y = labels_tensor(ys)
  elseif ys[1] ~= nil then y = stack(ys) end
  return stack(xs), y
end

--- loader:iter(): the next epoch's batches, `for x, y in loader:iter() do`. x is f32
-- {B, ...}, y i64 {B}. Batches of image files are made up to `prefetch` ahead.
function Loader:iter()
  self:_cancel()
  self.epoch = self.epoch + 1
  local epoch, order, bs = self.epoch, self:order(self.epoch), self.batch_size
  local nbatches = #self
  local how, root, steps, rest = plan(self)
  self._root, self._steps, self._rest = root, steps, rest
  local function positions(b)
    local first = (b - 1) * bs + 1
    return table.move(order, first, math.min(first + bs - 1, #order), 1, {})
  end
  local pending = {}
  self._pending = pending
  local b, started = 0, core.clock()
  local stats = self.stats
  stats.items, stats.batches, stats.seconds = 0, 0, 0
  local function queue_upto(last)
    for q = b, math.min(last, nbatches) do
      if not pending[q] then pending[q] = self:_submit(positions(q), epoch) end
    end
  end
  return function()
    while b < nbatches do
      b = b + 1
      local pos = positions(b)
      local x, y
      if how == "files" then
        queue_upto(b + self.prefetch)
        local batch = pending[b]
        pending[b] = nil
        x, y = self:_finish_files(batch, pos)
      elseif how == "gather" then
        local idx = {}
        for k, p in ipairs(pos) do
          local _, i = resolve(self.dataset, p)
          idx[k] = i
        end
        x, y = root:_batch(core.tensor(idx, "i64"))
      else
        x, y = self:_items(pos, epoch)
      end
      if x then
        stats.items = stats.items + T.size(y or x.input_ids or x, 1)
        stats.batches = stats.batches + 1
        stats.seconds = core.clock() - started
        stats.items_per_second = stats.seconds > 0 and stats.items / stats.seconds or 0
        return x, y
      end
    end
    self._pending = nil
    return nil
  end
end
Loader.__call = Loader.iter

-- Frees batches queued by an iteration that was left early.
function Loader:_cancel()
  for k, batch in pairs(self._pending or {}) do
    batch:free()
    self._pending[k] = nil
  end
end

--- loader:close(): stops the worker threads now (they also stop when the loader is collected).
function Loader:close()
  self:_cancel()
  if self._pool then self._pool:close() end
  self._pool = nil
end

--- state_dict() / load_state_dict(s): the seed and the epoch, so a resumed run sees the
-- same batches as an uninterrupted one.
function Loader:state_dict() return {seed = self.seed, epoch = self.epoch} end
function Loader:load_state_dict(s)
  self.seed, self.epoch = s.seed, s.epoch
end

return setmetatable({new = new}, {__call = function(_, ...) return new(...) end})
