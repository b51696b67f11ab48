#!/usr/bin/env python3
"""Writes a checkpoint laid out as UnifoLM-WMA-0's official one (a Lightning file: {"state_dict": ...}, float32,
dp_ema_model.* a copy of the action head) from a safetensors file of the engine's deterministic weights, so that
the loaders can be timed at full size where the official file cannot be downloaded. torch.save writes it, so
the zip and pickle layout is torch's own; the file is then opened again with torch.load(mmap=True) as a check.

    wma convert --demo_weights --config world_model_interaction.yaml --dtype fp32 full_fp32.safetensors
    python3 bench/make_official_ckpt.py full_fp32.safetensors full.ckpt

The engine's listing holds the tensors it binds; the official file has a few more (CLIP's last text block,
cond_pos_emb, unused head buffers: section 1.1 of the inference spec), which this one lacks apart from
dp_ema_model, by far the largest of them.
"""
import collections
import json
import mmap
import os
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64,
          "I32": torch.int32}
EMA_SOURCE = "model.diffusion_model.action_unet."


def read_safetensors(path):
    with open(path, "rb") as f:
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    base = 8 + header_len
    tensors = collections.OrderedDict()
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        dtype = DTYPES[entry["dtype"]]
        flat = torch.frombuffer(bytearray(data[base + begin:base + end]), dtype=dtype) if end > begin \
            else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(entry["shape"])
    return tensors


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    source, target = sys.argv[1:]
    state_dict = read_safetensors(source)
    ema = collections.OrderedDict(("dp_ema_model." + k[len(EMA_SOURCE):], v.clone())
                                  for k, v in state_dict.items() if k.startswith(EMA_SOURCE))
    if not ema:
        sys.exit(f"{source}: no {EMA_SOURCE}* tensors: not a world-model listing")
    state_dict.update(ema)
    partial = target + ".tmp"
    torch.save({"state_dict": state_dict, "epoch": 0, "global_step": 0}, partial)
    loaded = torch.load(partial, map_location="cpu", mmap=True, weights_only=True)["state_dict"]
    if list(loaded) != list(state_dict):
        os.remove(partial)
        sys.exit(f"{target}: torch.load reads other keys than were written")
    os.replace(partial, target)
    numel = sum(t.numel() for t in state_dict.values())
    print(f"wrote {target}: {len(state_dict)} tensors ({len(ema)} of dp_ema_model), {numel} parameters")


if __name__ == "__main__":
    main()
