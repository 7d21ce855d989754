#!/usr/bin/python3
"""Writes the seed corpora of tests/fuzz/corpus/ (run: /usr/bin/python3 tests/fuzz/make_corpus.py).

Small valid files of every kind each parser reads, made by the tools users' files come from
(PyTorch's torch.save, PIL's PNG and JPEG encoders, the safetensors layout, gzip'd IDX),
plus the hostile files of tests/bad/ for that parser. The fuzzers start from these and
mutate copies; the corpora are committed so a run needs neither PyTorch nor PIL.
"""
import gzip
import io
import json
import os
import shutil
import struct

import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
BAD = os.path.join(HERE, "..", "bad")


def out(corpus, name, data):
    d = os.path.join(HERE, "corpus", corpus)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def seeds_from_bad(corpus, prefix):
    for name in sorted(os.listdir(BAD)):
        if name.startswith(prefix):
            shutil.copy(os.path.join(BAD, name), os.path.join(HERE, "corpus", corpus, "bad-" + name))


# ---- safetensors: the layout of the reference writer ---------------------------------------
DT = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64",
      torch.int32: "I32", torch.uint8: "U8", torch.bool: "BOOL", torch.float64: "F64", torch.int8: "I8"}


def safetensors(tensors, metadata=None):
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        raw = t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": DT[t.dtype], "shape": list(t.shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


torch.manual_seed(0)
out("safetensors", "f32.safetensors", safetensors({"w": torch.randn(3, 4), "b": torch.randn(4)}, {"format": "pt"}))
out("safetensors", "dtypes.safetensors", safetensors({k: torch.arange(6).reshape(2, 3).to(d) for k, d in
                                                      [("f16", torch.float16), ("bf16", torch.bfloat16),
                                                       ("i64", torch.int64), ("i32", torch.int32),
                                                       ("u8", torch.uint8), ("f64", torch.float64),
                                                       ("i8", torch.int8)]}))
out("safetensors", "scalar-and-empty.safetensors", safetensors({"s": torch.tensor(3.0), "e": torch.zeros(0, 5)}))
out("safetensors", "bool.safetensors", safetensors({"m": torch.tensor([True, False, True])}))
seeds_from_bad("safetensors", "st-")

# ---- model configs (graft.save_model's JSON) ------------------------------------------------
out("config", "resnet20.json", json.dumps({
    "arch": "resnet20_cifar", "args": {"in_chans": 1, "num_classes": 5},
    "classes": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"], "crop_pct": 1,
    "input_size": [1, 28, 28], "interpolation": "bilinear", "mean": [0.286], "std": [0.353]}).encode())
out("config", "sequential.json", json.dumps({"arch": "sequential", "spec": {"type": "Sequential", "children": [
    {"type": "Linear", "args": [4, 3]}, {"type": "ReLU", "args": {}},
    {"type": "Conv2d", "args": [3, 8, 3, {"padding": 1}]}, {"type": "BatchNorm2d", "args": [8]},
    {"type": "Dropout", "args": [0.5]}, {"type": "Flatten", "args": {}}]}}).encode())
out("config", "mobilenet.json", json.dumps({"arch": "mobilenet_v3_small", "args": {"num_classes": 3}}).encode())
out("config", "nested.json", b'{"a": [1, 2.5e-3, -0, true, false, null, "\\u00e9\\ud83d\\ude00", {"b": []}]}')

# ---- state dicts for a ResNet-20 ------------------------------------------------------------
sd = {"conv1.weight": torch.randn(16, 3, 3, 3), "bn1.weight": torch.ones(16), "bn1.bias": torch.zeros(16),
      "bn1.running_mean": torch.zeros(16), "bn1.running_var": torch.ones(16),
      "bn1.num_batches_tracked": torch.tensor(0), "fc.weight": torch.randn(5, 64), "fc.bias": torch.zeros(5)}
out("state_dict", "partial.safetensors", safetensors(sd, {"format": "pt"}))
out("state_dict", "gray-stem.safetensors", safetensors({"conv1.weight": torch.randn(16, 1, 3, 3)}))
out("state_dict", "other-head.safetensors", safetensors({"fc.weight": torch.randn(10, 64), "fc.bias": torch.zeros(10)}))
seeds_from_bad("state_dict", "weights-")

# ---- .pth: torch.save's zip -----------------------------------------------------------------
def pth(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


out("pth", "state-dict.pth", pth(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3)).state_dict()))
base = torch.arange(12.0)
out("pth", "views.pth", pth({"a": base[2:8].view(2, 3), "b": base.view(3, 4).t(), "c": torch.tensor(7)}))
out("pth", "dtypes.pth", pth({"h": torch.ones(2, dtype=torch.float16), "l": torch.arange(3),
                              "u": torch.arange(4, dtype=torch.uint8), "d": torch.ones(2, dtype=torch.float64)}))
seeds_from_bad("pth", "pth-")

# ---- images: PNG and JPEG from PIL ----------------------------------------------------------
rgb = Image.new("RGB", (12, 9))
for x in range(12):
    for y in range(9):
        rgb.putpixel((x, y), (x * 20, y * 25, (x * y) % 256))


def encoded(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


out("png", "rgb.png", encoded(rgb, "PNG"))
out("png", "gray.png", encoded(rgb.convert("L"), "PNG"))
out("png", "rgba.png", encoded(rgb.convert("RGBA"), "PNG"))
out("png", "palette.png", encoded(rgb.convert("P"), "PNG"))
out("png", "gray16.png", encoded(rgb.convert("L").convert("I").point(lambda v: v * 257).convert("I;16"), "PNG"))
out("png", "gray-alpha.png", encoded(rgb.convert("LA"), "PNG"))
seeds_from_bad("png", "png-")
out("jpeg", "rgb.jpg", encoded(rgb, "JPEG", quality=90))
out("jpeg", "gray.jpg", encoded(rgb.convert("L"), "JPEG"))
out("jpeg", "progressive.jpg", encoded(rgb, "JPEG", progressive=True))
out("jpeg", "subsampled.jpg", encoded(rgb, "JPEG", subsampling=2))
out("jpeg", "cmyk.jpg", encoded(rgb.convert("CMYK"), "JPEG"))
seeds_from_bad("jpeg", "jpeg-")

# ---- IDX, gzip'd and plain ------------------------------------------------------------------
def idx(dims, data, code=0x08):
    return struct.pack(">HBB", 0, code, len(dims)) + b"".join(struct.pack(">I", d) for d in dims) + data


out("idx", "images.gz", gzip.compress(idx([2, 4, 4], bytes(range(32))), mtime=0))
out("idx", "labels.gz", gzip.compress(idx([5], bytes([0, 1, 2, 3, 9])), mtime=0))
out("idx", "plain-i32", idx([3], struct.pack(">3i", 1, -2, 3), code=0x0C))
out("idx", "f64.gz", gzip.compress(idx([2], struct.pack(">2d", 0.5, -1.5), code=0x0E), mtime=0))
seeds_from_bad("idx", "idx-")

# ---- convolution and pooling shapes (tests/fuzz/shapes.c reads a byte per field) ------------
# conv:  0, groups, cin/g, cout/g, n, h, w, kh, kw, stride h w, padding h w (+1), dilation h w, flags
# pools: 1 max / 2 avg / 3 adaptive, 3-D?, n, c, h, w, kernel h w, stride h w, padding h w (+1),
#        dilation h w, flags [, divisor or output size]
SHAPES = {
    "conv-7x7-pad3-on-2x2": [0, 0, 0, 2, 1, 2, 2, 6, 6, 1, 1, 4, 4, 0, 0, 0],
    "conv-stem-1x1-kept": [0, 0, 2, 2, 2, 1, 1, 6, 6, 2, 2, 4, 4, 0, 0, 4 | 16],
    "conv-winograd-kept": [0, 0, 0, 0, 3, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 1 | 4 | 16, 1, 1, 9, 10],
    "conv-depthwise-grad": [0, 2, 0, 0, 2, 5, 6, 2, 4, 1, 2, 3, 2, 1, 2, 2 | 4 | 8 | 32],
    "conv-grouped-dilated": [0, 1, 1, 2, 1, 7, 3, 2, 2, 3, 1, 2, 1, 2, 3, 4 | 128],
    "maxpool-1x3-ceil": [1, 1, 1, 1, 1, 3, 1, 1, 2, 2, 1, 1, 0, 0, 1 | 16],
    "maxpool-dilated-empty-window": [1, 1, 1, 2, 2, 4, 1, 1, 1, 1, 2, 2, 2, 2, 1 | 16 | 32],
    "maxpool-values": [1, 1, 2, 3, 7, 9, 2, 2, 2, 2, 2, 2, 0, 0, 1],
    "avgpool-ceil-pad": [2, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 1 | 2 | 8],
    "avgpool-divisor": [2, 0, 1, 1, 5, 4, 1, 2, 1, 3, 1, 2, 0, 0, 4 | 32, 3],
    "adaptive-grow": [3, 1, 2, 2, 3, 5, 0, 0, 0, 0, 0, 0, 0, 0, 8, 7, 2],
}
for name, fields in SHAPES.items():
    out("shapes", name, bytes(fields))
