#!/usr/bin/env lua5.4
-- tests/700-image.t — graft.image: a corpus of PNG (every colour type and bit depth,
-- interlaced, palette with and without transparency, interlaced palette at every depth) and
-- JPEG files (baseline, progressive, grayscale, subsampled) made by Python, compared with
-- independent decoders (pypng, exact and 16-bit aware; PIL for JPEG); channel conversion;
-- PNG writing; and hostile files: truncated, corrupted, lying sizes, CMYK, over the pixel
-- limit.
local T, graft, oracle = require "tap", require "graft", require "oracle"
local dir = oracle.tmpname()
assert(os.execute("mkdir -p " .. dir))

-- Each case: a file <name>.png/.jpg and its pixels as the independent decoder sees them
-- (f32 {C, H, W} in [0, 1]) in `out`.
local ref = oracle.run(([==[
import io, png, numpy as np
from PIL import Image
d = "%s"
rng = np.random.RandomState(7)
H, W = 13, 17

def planes(rows, channels, depth):
    a = np.array([list(r) for r in rows], dtype=np.float64).reshape(H, W, channels)
    return torch.tensor(a / (2 ** depth - 1), dtype=torch.float32).permute(2, 0, 1).contiguous()

def write_png(name, pixels, **kw):
    with open(f"{d}/{name}.png", "wb") as f:
        png.Writer(W, H, **kw).write(f, pixels.reshape(H, -1).tolist())
    w, h, rows, info = png.Reader(filename=f"{d}/{name}.png").asDirect()
    out[name] = planes(rows, info["planes"], info["bitdepth"])

for depth in (1, 2, 4, 8, 16):
    write_png(f"gray{depth}", rng.randint(0, 2 ** depth, (H, W)), greyscale=True, bitdepth=depth)
write_png("gray8_interlaced", rng.randint(0, 256, (H, W)), greyscale=True, bitdepth=8, interlace=True)
write_png("gray8_trns", rng.randint(0, 4, (H, W)) * 60, greyscale=True, bitdepth=8, transparent=60)
for depth in (8, 16):
    write_png(f"graya{depth}", rng.randint(0, 2 ** depth, (H, W, 2)), greyscale=True, alpha=True, bitdepth=depth)
    write_png(f"rgb{depth}", rng.randint(0, 2 ** depth, (H, W, 3)), greyscale=False, bitdepth=depth)
    write_png(f"rgba{depth}", rng.randint(0, 2 ** depth, (H, W, 4)), greyscale=False, alpha=True, bitdepth=depth)
    write_png(f"rgb{depth}_interlaced", rng.randint(0, 2 ** depth, (H, W, 3)), greyscale=False, bitdepth=depth, interlace=True)
write_png("rgb8_trns", rng.randint(0, 2, (H, W, 3)) * 255, greyscale=False, bitdepth=8, transparent=(255, 0, 255))
for depth in (1, 2, 4, 8):
    n = 2 ** depth
    pal = [tuple(int(v) for v in rng.randint(0, 256, 3)) for _ in range(n)]
    write_png(f"palette{depth}", rng.randint(0, n, (H, W)), palette=pal, bitdepth=depth)
    pal_a = [p + (int(rng.randint(0, 256)),) for p in pal]
    write_png(f"palette{depth}_alpha", rng.randint(0, n, (H, W)), palette=pal_a, bitdepth=depth)
    write_png(f"palette{depth}_interlaced", rng.randint(0, n, (H, W)), palette=pal_a, bitdepth=depth, interlace=True)

# JPEG: smooth content (as photographs are) so the codec's rounding stays small.
yy, xx = np.mgrid[0:48, 0:40]
rgb = np.stack([128 + 100 * np.sin(xx / 7.0), 128 + 90 * np.cos(yy / 5.0), (xx * 3 + yy * 2) %% 256], -1).astype(np.uint8)
def write_jpeg(name, img, **kw):
    img.save(f"{d}/{name}.jpg", "JPEG", **kw)
    a = np.asarray(Image.open(f"{d}/{name}.jpg"), dtype=np.float32) / 255
    out[name] = torch.tensor(a if a.ndim == 3 else a[:, :, None]).permute(2, 0, 1).contiguous()
write_jpeg("jpeg_baseline", Image.fromarray(rgb), quality=90)
write_jpeg("jpeg_444", Image.fromarray(rgb), quality=95, subsampling=0)
write_jpeg("jpeg_progressive", Image.fromarray(rgb), quality=85, progressive=True)
write_jpeg("jpeg_gray", Image.fromarray(rgb[:, :, 0]), quality=90)
Image.fromarray(rgb).convert("CMYK").save(f"{d}/cmyk.jpg", "JPEG")
# torchvision's luma, for channel conversion.
import torchvision.transforms.functional as TF
out["rgb8_luma"] = TF.rgb_to_grayscale(out["rgb8"])
]==]):format(dir), {})

local function maxdiff(a, b) return (a - b):abs():max():item() end
local function meandiff(a, b) return (a - b):abs():mean():item() end

-- PNG: exact against pypng (the only difference allowed is f32 rounding of v / (2^d - 1)).
local png_cases = {}
for name in pairs(ref) do if not name:match("^jpeg") and name ~= "rgb8_luma" then png_cases[#png_cases + 1] = name end end
table.sort(png_cases)
for _, name in ipairs(png_cases) do
  local ok, img = pcall(graft.image.load, dir .. "/" .. name .. ".png")
  local want = ref[name]
  T.ok(ok and img:dtype() == "f32" and T.render(img:shape()) == T.render(want:shape()) and maxdiff(img, want) < 1e-6,
       ("PNG %s: %s pixels equal pypng's"):format(name, T.render(want:shape())))
end
T.is(graft.image.load(dir .. "/gray8_trns.png"):size(1), 2, "gray with a tRNS colour decodes as gray+alpha")
T.is(graft.image.load(dir .. "/palette4_alpha.png"):size(1), 4, "a palette with transparency expands to RGBA")
T.is(graft.image.load(dir .. "/palette4.png"):size(1), 3, "a palette without transparency expands to RGB")
local off_grid = 0   -- 16-bit values that 8 bits (multiples of 257) cannot hold
for _, v in ipairs(graft.image.load(dir .. "/rgb16.png"):reshape(-1):totable()) do
  if math.floor(v * 65535 + 0.5) % 257 ~= 0 then off_grid = off_grid + 1 end
end
T.ok(off_grid > 600,
     "16-bit samples are scaled by 1/65535, not truncated to 8 bits")

-- JPEG: against PIL on the same libjpeg; allowed 1/255 mean abs error.
for _, name in ipairs {"jpeg_baseline", "jpeg_444", "jpeg_progressive", "jpeg_gray"} do
  local img = graft.image.load(dir .. "/" .. name .. ".jpg")
  T.ok(T.render(img:shape()) == T.render(ref[name]:shape()) and meandiff(img, ref[name]) <= 1 / 255,
       ("JPEG %s: mean abs error %.2g against PIL (<= 1/255)"):format(name, meandiff(img, ref[name])))
end
T.error_like(function() graft.image.load(dir .. "/cmyk.jpg") end, "cmyk.jpg: CMYK JPEG is not supported",
             "a CMYK JPEG is refused by name")

-- The format comes from the content, not the name.
assert(os.execute(("cp %s/jpeg_baseline.jpg %s/looks_like.png"):format(dir, dir)))
T.ok(meandiff(graft.image.load(dir .. "/looks_like.png"), ref.jpeg_baseline) <= 1 / 255, "a JPEG named .png decodes as JPEG")

-- channels converts.
local rgba = graft.image.load(dir .. "/rgba8.png", {channels = 3})
T.ok(maxdiff(rgba, ref.rgba8:narrow(1, 1, 3)) < 1e-6, "channels = 3 drops alpha")
local gray3 = graft.image.load(dir .. "/gray8.png", {channels = 3})
T.ok(gray3:size(1) == 3 and maxdiff(gray3, ref.gray8:expand(3, -1, -1)) < 1e-6, "channels = 3 replicates gray")
local gray4 = graft.image.load(dir .. "/graya8.png", {channels = 4})
T.ok(maxdiff(gray4:narrow(1, 1, 3), ref.graya8:narrow(1, 1, 1):expand(3, -1, -1)) < 1e-6 and
     maxdiff(gray4:narrow(1, 4, 1), ref.graya8:narrow(1, 2, 1)) < 1e-6, "channels = 4 from gray+alpha keeps alpha")
local rgb4 = graft.image.load(dir .. "/rgb8.png", {channels = 4})
T.ok(maxdiff(rgb4:narrow(1, 4, 1), graft.ones(1, 13, 17)) == 0, "channels = 4 from RGB adds opaque alpha")
T.ok(maxdiff(graft.image.load(dir .. "/rgb8.png", {channels = 1}), ref.rgb8_luma) < 1e-6,
     "channels = 1 is torchvision's rgb_to_grayscale")
T.error_like(function() graft.image.load(dir .. "/rgb8.png", {channels = 2}) end, "channels must be 1, 3 or 4",
             "channels = 2 is refused")

-- save: 8-bit PNG, round half up, clamped; read back by graft and by PIL.
graft.manual_seed(3)
local x = graft.rand(3, 9, 11) * 1.2 - 0.1
graft.image.save(dir .. "/saved.png", x)
local back = graft.image.load(dir .. "/saved.png")
local want = ((x:clamp(0, 1) * 255 + 0.5):floor()) / 255
T.ok(maxdiff(back, want) < 1e-6, "save writes round(255 x) of the clamped values; load reads them back")
local pil = oracle.run(([==[
import numpy as np
from PIL import Image
im = Image.open("%s/saved.png"); out["mode"] = torch.tensor([ord(c) for c in im.mode])
out["x"] = torch.tensor(np.asarray(im), dtype=torch.float32).permute(2, 0, 1) / 255
]==]):format(dir), {})
T.ok(string.char(table.unpack(pil.mode:totable())) == "RGB" and maxdiff(pil.x, back) < 1e-6, "PIL reads the saved PNG as the same RGB pixels")
for _, c in ipairs {1, 4} do
  local y = graft.rand(c, 5, 6)
  graft.image.save(dir .. "/saved" .. c .. ".png", y)
  T.ok(maxdiff(graft.image.load(dir .. "/saved" .. c .. ".png"), ((y * 255 + 0.5):floor()) / 255) < 1e-6,
       ("save/load round trip with %d channel(s)"):format(c))
end
graft.image.save(dir .. "/view.png", graft.rand(7, 5, 3):permute(3, 1, 2))
T.is(T.render(graft.image.load(dir .. "/view.png"):shape()), "{3, 7, 5}", "save takes a non-contiguous view")
T.error_like(function() graft.image.save(dir .. "/bad.png", graft.rand(2, 4, 4)) end, "1, 3 or 4 channels, not 2",
             "save refuses 2 channels")
T.error_like(function() graft.image.save(dir .. "/bad.png", graft.rand(4, 4)) end, "{C, H, W}", "save refuses a 2-D tensor")
T.error_like(function() graft.image.save(dir .. "/no/such/dir/x.png", graft.rand(1, 4, 4)) end,
             "no/such/dir/x.png: cannot create", "save into a missing directory names the path")

-- Hostile files: each a Lua error naming the file; none a crash or a partial image.
local function bytes(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end
local function write(name, s)
  local f = assert(io.open(dir .. "/" .. name, "wb"))
  f:write(s)
  f:close()
  return dir .. "/" .. name
end
local rgb8, jpg = bytes(dir .. "/rgb8.png"), bytes(dir .. "/jpeg_baseline.jpg")
local function be32(n) return string.pack(">I4", n) end
local function chunk(kind, body)
  -- A PNG chunk with a correct CRC (computed with the bitwise CRC-32 of the PNG spec).
  local crc = 0xffffffff
  for i = 1, #kind + #body do
    local b = (kind .. body):byte(i)
    crc = crc ~ b
    for _ = 1, 8 do crc = (crc & 1) == 1 and (0xedb88320 ~ (crc >> 1)) or (crc >> 1) end
  end
  return be32(#body) .. kind .. body .. be32(crc ~ 0xffffffff)
end
local sig = "\137PNG\r\n\26\n"
local huge = sig .. chunk("IHDR", be32(100000) .. be32(100000) .. "\8\2\0\0\0") .. chunk("IDAT", "\120\156") .. chunk("IEND", "")
local bad = {
  {"empty.png", "", "not a PNG or JPEG file (too short)"},
  {"png_truncated.png", rgb8:sub(1, #rgb8 // 2), "truncated.png: bad PNG"},
  {"png_header_only.png", rgb8:sub(1, 33), "header_only.png: bad PNG"},
  {"png_bad_crc.png", rgb8:sub(1, 40) .. string.char(rgb8:byte(41) ~ 0xff) .. rgb8:sub(42), "bad_crc.png: bad PNG"},
  {"png_bad_ihdr.png", sig .. chunk("IHDR", be32(0) .. be32(5) .. "\8\2\0\0\0") .. chunk("IEND", ""), "bad_ihdr.png: bad PNG"},
  {"png_bad_depth.png", sig .. chunk("IHDR", be32(4) .. be32(4) .. "\3\2\0\0\0") .. chunk("IEND", ""), "bad_depth.png: bad PNG"},
  {"png_no_idat.png", sig .. chunk("IHDR", be32(4) .. be32(4) .. "\8\2\0\0\0") .. chunk("IEND", ""), "no_idat.png: bad PNG"},
  {"png_billion.png", huge, "billion.png: 100000x100000 pixels is over the limit"},
  {"jpeg_truncated.jpg", jpg:sub(1, #jpg * 6 // 10), "truncated.jpg: bad JPEG: Premature end"},
  {"jpeg_header_only.jpg", jpg:sub(1, 20), "header_only.jpg: bad JPEG"},
  {"jpeg_corrupt_scan.jpg", (function()
      local sos = jpg:find("\255\218", 1, true)
      return jpg:sub(1, sos + 99) .. "\255\217" .. jpg:sub(sos + 102)
    end)(), "corrupt_scan.jpg: bad JPEG: Corrupt JPEG data"},
  {"jpeg_bad_marker.jpg", "\255\216\255\1" .. jpg:sub(5), "bad_marker.jpg: bad JPEG"},
  {"not_an_image.png", "GIF89a" .. ("\0"):rep(40), "not_an_image.png: not a PNG or JPEG file"},
}
for _, case in ipairs(bad) do
  local path = write(case[1], case[2])
  T.error_like(function() graft.image.load(path) end, case[3], "hostile file " .. case[1] .. " gives a clear error")
end
T.error_like(function() graft.image.load(dir .. "/missing.png") end, "missing.png: cannot open", "a missing file is named")
T.error_like(function() graft.image.load(dir) end, "not a regular file", "a directory is refused")

-- The pixel limit is the user's to set, and is checked before decoding.
graft.image.max_pixels = 13 * 17 - 1
T.error_like(function() graft.image.load(dir .. "/rgb8.png") end, "17x13 pixels is over the limit of 220", "PNG over a lowered limit")
graft.image.max_pixels = 48 * 40 - 1
T.error_like(function() graft.image.load(dir .. "/jpeg_baseline.jpg") end, "over the limit of 1919", "JPEG over a lowered limit")
graft.image.max_pixels = 178956970
T.ok(graft.image.load(dir .. "/rgb8.png"):size(2) == 13, "the default limit admits ordinary images")

os.execute("rm -rf " .. dir)
T.done()
