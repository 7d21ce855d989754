#!/usr/bin/python3
"""graft's test oracle: runs PyTorch code (read from stdin) on the tensors of a safetensors
file and writes what it puts in `out` to another safetensors file.

    run.py IN.safetensors OUT.safetensors < code.py

The code sees `torch`, `F` (torch.nn.functional), `inp` (name -> tensor) and `out` (a dict to
fill). It also sees `save(path, tensors)`, which writes safetensors files of any dtype torch
has, for tests of graft's reader. Reading and writing are done here with the standard
library, not the safetensors package, so the oracle needs nothing beyond Debian's torch."""
import json
import math
import os
import struct
import sys

import torch

# Oracle helpers beside this file (hf_bert.py) are importable from the code.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}
NAMES = {v: k for k, v in DTYPES.items()}


def load(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dt = DTYPES[info["dtype"]]
        buf = bytearray(data[begin:end])
        flat = torch.frombuffer(buf, dtype=dt) if buf else torch.empty(0, dtype=dt)
        tensors[name] = flat.reshape(info["shape"]).clone()
    return tensors


def save(path, tensors, metadata=None):
    header, chunks, at = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        t = t.contiguous()
        flat = t.reshape(-1)   # 1-D, so that a byte view works for every dtype (bf16 too)
        b = (flat.to(torch.uint8) if t.dtype == torch.bool else flat.view(torch.uint8)).numpy().tobytes()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [at, at + len(b)]}
        chunks.append(b)
        at += len(b)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def main():
    inp = load(sys.argv[1])
    out = {}
    code = sys.stdin.read()
    exec(compile(code, "<oracle>", "exec"),
         {"torch": torch, "F": torch.nn.functional, "math": math, "inp": inp, "out": out,
          "save": save, "load": load})
    save(sys.argv[2], {k: (v if torch.is_tensor(v) else torch.tensor(v)) for k, v in out.items()})


if __name__ == "__main__":
    main()
