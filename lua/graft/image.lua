--- graft.image: PNG and JPEG files to f32 {C, H, W} tensors in [0, 1], and back to PNG.
-- @module graft.image
local core = require "graft.core"
local options = require "graft.options"

local image = {
  --- Images with more pixels than this are refused before their pixels are allocated
  -- (PIL's decompression-bomb threshold). Set it per program: graft.image.max_pixels = n.
  max_pixels = 178956970,
}

--- load(path [, {channels = n}]): the format is found from the content (PNG or JPEG).
-- By default C is the file's own (gray 1, gray+alpha 2, RGB 3, RGBA 4; palette images
-- expand to RGB or RGBA); channels = 1 | 3 | 4 converts.
function image.load(path, opts)
  if type(path) ~= "string" then error("graft.image.load: path must be a string", 2) end
  local channels = options.check("graft.image.load", opts, {channels = "integer"}).channels or 0
  return core.image_load(path, channels, image.max_pixels)
end

--- save(path, t): an 8-bit PNG from t (f32 {C, H, W}, C = 1, 3 or 4; values clamped to
-- [0, 1]), written atomically.
function image.save(path, t)
  if type(path) ~= "string" then error("graft.image.save: path must be a string", 2) end
  core.image_save(path, t)
end

return image
