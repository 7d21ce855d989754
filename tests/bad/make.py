#!/usr/bin/python3
"""Writes the hostile files of tests/bad/ (run from anywhere: /usr/bin/python3 tests/bad/make.py).

Each file is broken in one way a stranger's file can be: truncated, oversized, wrong magic,
lying lengths, overlapping offsets, NaN-filled, zero-sized, billion-pixel. expected.txt says
which loader reads it and the error it must give (tests/095-bad-files.t checks them). Only
the standard library is used, so the files can be remade anywhere; they are committed so
the suite does not depend on this script's Python.
"""
import gzip
import io
import json
import os
import pickle
import struct
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


# ---- safetensors -------------------------------------------------------------------------

def st(header, data=b"", length=None):
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    n = len(text) if length is None else length
    return struct.pack("<Q", n) + text + data


F8 = struct.pack("<ff", 1, 2)
E = lambda dtype, shape, b, e: {"dtype": dtype, "shape": shape, "data_offsets": [b, e]}

write("st-empty.safetensors", b"")
write("st-short.safetensors", b"\x08\x00\x00")
write("st-header-past-end.safetensors", st(b"{}", length=1000))
write("st-header-huge.safetensors", st(b"{}", length=2 ** 63))
write("st-not-object.safetensors", st(b"[1, 2]"))
write("st-truncated-json.safetensors", st(b'{"a": {"dtype": "F32", '))
write("st-bad-utf8.safetensors", st(b'{"\xff\xfe": 1}'))
write("st-nul-in-header.safetensors", st(b'{"a\x00": 1}'))
write("st-trailing-text.safetensors", st(b'{} garbage'))
write("st-unknown-dtype.safetensors", st({"a": E("F12", [2], 0, 8)}, F8))
write("st-lying-length.safetensors", st({"a": E("F32", [1000000, 1000000], 0, 8)}, F8))
write("st-overlap.safetensors", st({"a": E("F32", [2], 0, 8), "b": E("F32", [1], 4, 8)}, F8))
write("st-gap.safetensors", st({"a": E("F32", [1], 0, 4), "b": E("F32", [1], 8, 12)}, F8 + F8[:4]))
write("st-trailing-bytes.safetensors", st({"a": E("F32", [2], 0, 8)}, F8 + b"\0" * 16))
write("st-negative-dim.safetensors", st({"a": E("F32", [-2], 0, 8)}, F8))
write("st-too-many-dims.safetensors", st({"a": E("F32", [1] * 9 + [2], 0, 8)}, F8))
write("st-truncated-data.safetensors", st({"a": E("F32", [4], 0, 16)}, F8))
write("st-duplicate-key.safetensors", st(b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, '
                                          b'"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}', F8))
write("st-offsets-past-2-53.safetensors", st({"a": E("F32", [2], 0, 2 ** 60)}, F8))
write("st-missing-shape.safetensors", st({"a": {"dtype": "F32", "data_offsets": [0, 8]}}, F8))
write("st-f8-dtype.safetensors", st({"a": E("F8_E4M3", [8], 0, 8)}, F8))
write("st-nan-filled.safetensors", st({"w": E("F32", [4], 0, 16)}, struct.pack("<4f", float("nan"), 1.0,
                                                                                float("inf"), float("nan"))))

# ---- graft model files (safetensors with a JSON config in __metadata__) ------------------

def model_file(name, config, tensors=None, fmt="1"):
    meta = {"format": "pt"}
    if config is not None:
        meta["graft.config"] = config if isinstance(config, str) else json.dumps(config)
        meta["graft.format"] = fmt
    header, data = {"__metadata__": meta}, b""
    for key, (shape, values) in (tensors or {}).items():
        raw = struct.pack("<%df" % len(values), *values)
        header[key] = E("F32", shape, len(data), len(data) + len(raw))
        data += raw
    write(name, st(header, data))


ONE = {"w": ([1], [0.5])}
model_file("model-no-config.safetensors", None, ONE)
model_file("model-bad-json.safetensors", '{"arch": "resnet18", ', ONE)
model_file("model-config-not-object.safetensors", "[1, 2, 3]", ONE)
model_file("model-unknown-arch.safetensors", {"arch": "resnet9000", "args": {}}, ONE)
model_file("model-future-format.safetensors", {"arch": "resnet20_cifar", "args": {"num_classes": 5}}, ONE, fmt="99")
model_file("model-missing-weights.safetensors", {"arch": "resnet20_cifar", "args": {"num_classes": 5}}, ONE)
model_file("model-deep-json.safetensors", "[" * 100000 + "]" * 100000, ONE)
# found by the config fuzzer: a number beyond lua_Integer's range was cast before its range check
model_file("model-huge-number.safetensors", "5" * 73, ONE)

# ---- state dicts with hostile shapes, loaded into a zoo model -----------------------------
write("weights-wrong-shape.safetensors", st({"conv1.weight": E("F32", [16, 3, 5, 5], 0, 16 * 3 * 25 * 4)},
                                            b"\0" * (16 * 3 * 25 * 4)))
write("weights-wrong-rank.safetensors", st({"conv1.weight": E("F32", [432], 0, 432 * 4)}, b"\0" * (432 * 4)))

# ---- .pth (torch.save's zip) ---------------------------------------------------------------

def rezip(name, entries, compress=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compress) as z:
        for entry, data in entries:
            z.writestr(entry, data)
    write(name, buf.getvalue())


def torch_pth():
    """The entries of a real torch.save file of {"w": a 2 x 2 f32 tensor}."""
    import torch
    buf = io.BytesIO()
    torch.save({"w": torch.arange(4.0).reshape(2, 2)}, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        return buf.getvalue(), [(i.filename, z.read(i.filename)) for i in z.infolist()]


class Evil:  # pickles as a call of os.system
    def __reduce__(self):
        return (os.system, ("echo owned",))


good, entries = torch_pth()
pkl_name = next(n for n, _ in entries if n.endswith("data.pkl"))
prefix = pkl_name[: -len("data.pkl")]
write("pth-not-zip.pth", b"PK\x03\x04 this is not really a zip file" + b"\0" * 64)
write("pth-truncated.pth", good[: len(good) // 2])
rezip("pth-evil-global.pth", [(pkl_name, pickle.dumps({"w": Evil()}, protocol=2))])
rezip("pth-builtins-eval.pth", [(pkl_name, b"\x80\x02cbuiltins\neval\nX\x03\x00\x00\x001+1\x85R.")])
rezip("pth-missing-storage.pth", [(n.replace("/data/0", "/data/7"), d) for n, d in entries])
rezip("pth-storage-too-small.pth", [(n, d[:8] if n.endswith("/data/0") else d) for n, d in entries])
rezip("pth-compressed.pth", entries, zipfile.ZIP_DEFLATED)
write("pth-legacy.pth", b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19." + b"\0" * 32)
eocd = good.rindex(b"PK\x05\x06")
write("pth-cd-past-end.pth", good[: eocd + 16] + struct.pack("<I", 10 ** 9) + good[eocd + 20:])

# ---- PNG -----------------------------------------------------------------------------------

def chunk(kind, data, crc=None):
    c = zlib.crc32(kind + data) if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", c & 0xFFFFFFFF)


SIG = b"\x89PNG\r\n\x1a\n"


def png(w, h, depth=8, ctype=0, idat=None, crc=None):
    raw = b"".join(b"\0" + b"\x80" * w for _ in range(h)) if idat is None else None
    body = zlib.compress(raw) if idat is None else idat
    return SIG + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0), crc) \
        + chunk(b"IDAT", body) + chunk(b"IEND", b"")


good_png = png(8, 8)
write("png-empty.png", b"")
write("png-bad-magic.png", b"\x89PNX\r\n\x1a\n" + good_png[8:])
write("png-truncated.png", good_png[:45])
write("png-bad-crc.png", png(8, 8, crc=0x12345678))
write("png-zero-width.png", png(0, 8, idat=zlib.compress(b"")))
write("png-billion-pixels.png", png(100000, 100000, idat=zlib.compress(b"\0" * 1000)))
write("png-bad-zlib.png", png(8, 8, idat=b"\x78\x9c this is not deflate data"))
write("png-bad-bit-depth.png", png(8, 8, depth=3, ctype=2))
write("png-short-idat.png", png(64, 64, idat=zlib.compress(b"\0" * 100)))
# A 4-color palette whose pixels reach index 9 (libpng's own check never sees the indices
# once it expands the palette; the pixels would read as black).
write("png-index-past-palette.png", SIG + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 3, 0, 0, 0))
      + chunk(b"PLTE", bytes(range(12)))
      + chunk(b"IDAT", zlib.compress(b"".join(b"\0" + bytes([0, 1, 9 if y == 2 else 2, 3]) for y in range(4))))
      + chunk(b"IEND", b""))

# ---- JPEG ----------------------------------------------------------------------------------

def real_jpeg():
    """A valid 16 x 16 baseline JPEG (PIL), whose frame header the variants below rewrite."""
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 160, 30)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def with_size(jpeg, w, h):
    at = jpeg.index(b"\xff\xc0") + 5          # SOF0: marker, length (2), precision (1), then H, W
    return jpeg[:at] + struct.pack(">HH", h, w) + jpeg[at + 4:]


JPEG = real_jpeg()
write("jpeg-truncated.jpg", JPEG[: len(JPEG) // 2])
write("jpeg-header-only.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")
write("jpeg-billion-pixels.jpg", with_size(JPEG, 60000, 60000))
write("jpeg-zero-width.jpg", with_size(JPEG, 0, 16))
write("jpeg-wrong-magic.jpg", b"\xff\xd9" + JPEG[2:])
sos = JPEG.index(b"\xff\xda")
write("jpeg-no-tables.jpg", JPEG[:2] + JPEG[JPEG.index(b"\xff\xc0"):sos] + JPEG[sos:])

# ---- IDX (.gz) -----------------------------------------------------------------------------

def idx(dims, data, code=0x08, magic_zero=0):
    head = struct.pack(">HBB", magic_zero, code, len(dims)) + b"".join(struct.pack(">I", d) for d in dims)
    return gzip.compress(head + data, mtime=0)


write("idx-bad-magic.gz", idx([2, 2], b"\0" * 4, magic_zero=0x1234))
write("idx-truncated.gz", idx([60000, 28, 28], b"\0" * 1000))
write("idx-lying-dims.gz", idx([1000000, 1000000, 1000], b"\0" * 16))
write("idx-not-gzip.gz", b"this is not a gzip stream" * 4)
write("idx-truncated-gzip.gz", idx([4, 4], b"\1" * 16)[:20])
write("idx-zero-dims.gz", idx([], b""))
write("idx-unknown-type.gz", idx([2, 2], b"\0" * 4, code=0x0A))
write("idx-trailing-bytes.gz", idx([2, 2], b"\0" * 4 + b"extra"))

# ---- regressions: inputs the fuzzers found (docs/reliability.md) ---------------------------
# An IDX header {0, 787456, 25184, 24931, ...}: zero elements, but the other dims' product
# overflowed the stride computation (UBSan: signed overflow in graft_shape_contiguous_strides).
write("idx-zero-dim-overflow.gz", bytes.fromhex("00000c0400000000000c04000000626060806103"))
