#!/usr/bin/env python3
"""Writes the small checkpoints the io tests read (tests/data/ckpt/), with torch itself, and the
listing torch gives for each (name, dtype, shape, all values) next to them.

Run from the repository root with the project venv:  /work/venv/bin/python tools/testdata/make_ckpt_testdata.py
"""
import collections
import io
import json
import os
import pickle
import struct
import sys
import zipfile

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "ckpt")
DTYPE_NAMES = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16", torch.int64: "i64",
               torch.int32: "i32", torch.float64: "f32"}


def values_text(t):
    flat = t.detach().reshape(-1)
    if t.dtype.is_floating_point:
        return " ".join(repr(float(v)) for v in flat.float().tolist())
    return " ".join(str(int(v)) for v in flat.tolist())


def write_listing(name, tensors):
    """One line per tensor: name<TAB>dtype<TAB>shape (comma separated)<TAB>values in row-major order."""
    with open(os.path.join(OUT, name + ".listing.txt"), "w") as f:
        for key, t in tensors.items():
            shape = ",".join(str(d) for d in t.shape)
            f.write(f"{key}\t{DTYPE_NAMES[t.dtype]}\t{shape}\t{values_text(t)}\n")


def lightning():
    g = torch.Generator().manual_seed(0)
    base = torch.randn(40, generator=g)
    sd = collections.OrderedDict()
    sd["model.diffusion_model.input_blocks.0.0.weight"] = torch.randn(4, 3, 3, 3, generator=g)
    sd["model.diffusion_model.input_blocks.0.0.bias"] = torch.randn(4, generator=g)
    sd["first_stage_model.decoder.conv_in.weight"] = torch.randn(2, 3, generator=g).half()
    sd["cond_stage_model.model.token_embedding.weight"] = torch.randn(5, 3, generator=g).bfloat16()
    # Two tensors sharing one storage at different offsets.
    sd["shared.a"] = base[2:10].view(2, 4)
    sd["shared.b"] = base[20:32].view(3, 4)
    # Non-contiguous: a transposed view.
    sd["transposed.weight"] = torch.arange(12, dtype=torch.float32).reshape(3, 4).t()
    sd["num_batches_tracked"] = torch.tensor(7, dtype=torch.int64)
    sd["index_map"] = torch.tensor([[1, -2, 3], [2**40, 5, -(2**33)]], dtype=torch.int64)
    sd["model.diffusion_model.framestride_embed.0.weight"] = torch.randn(3, 2, generator=g)
    sd["scalar_f64"] = torch.tensor([0.1, -2.5], dtype=torch.float64)
    sd["empty"] = torch.zeros(0, 3)
    ckpt = {
        "epoch": 3,
        "global_step": 1200,
        "pytorch-lightning_version": "1.9.3",
        "state_dict": sd,
        "optimizer_states": [{"state": {0: {"step": torch.tensor(5.0), "exp_avg": torch.ones(4)}},
                              "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "params": [0, 1]}]}],
        "lr_schedulers": [],
        "hyper_parameters": {"lr": 1e-4, "name": "wma", "flags": {1, 2}, "big": 2**70, "blob": b"\x00\xff"},
        "callbacks": {"ModelCheckpoint": {"best_model_score": torch.tensor(0.5), "dirpath": "/tmp"}},
    }
    torch.save(ckpt, os.path.join(OUT, "lightning.ckpt"))
    expected = collections.OrderedDict((k, v.float() if v.dtype == torch.float64 else v) for k, v in sd.items())
    write_listing("lightning", expected)


def deepspeed():
    g = torch.Generator().manual_seed(1)
    module = collections.OrderedDict()
    module["_forward_module.model.diffusion_model.out.2.weight"] = torch.randn(2, 2, generator=g)
    module["_forward_module.model.diffusion_model.out.2.bias"] = torch.randn(2, generator=g).half()
    module["_forward_module.state_projector.projector.0.weight"] = torch.randn(3, 2, generator=g).bfloat16()
    torch.save({"module": module, "buffer_names": [], "optimizer": None, "ds_version": "0.9.0",
                "global_steps": 10}, os.path.join(OUT, "deepspeed.ckpt"))
    write_listing("deepspeed", module)


def nested_plain():
    g = torch.Generator().manual_seed(2)
    tensors = {"encoder": {"layer": {"weight": torch.randn(2, 2, generator=g)}, "bias": torch.randn(2, generator=g)},
               "step": 4}
    torch.save(tensors, os.path.join(OUT, "nested.ckpt"))
    write_listing("nested", collections.OrderedDict(
        [("encoder.layer.weight", tensors["encoder"]["layer"]["weight"]), ("encoder.bias", tensors["encoder"]["bias"])]))


class System:
    def __reduce__(self):
        return (os.system, ("echo pwned-by-checkpoint",))


class FakeStorage:
    """Stands in for a storage in a hand-written data.pkl; persistent_id turns it into the pid."""
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


class FakeTensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class CkptPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel)
        return None


def entry(name, method=zipfile.ZIP_STORED):
    """A zip entry with a fixed timestamp, so rerunning this script reproduces the same bytes."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = method
    return info


def write_zip(path, pkl, storages, root="archive"):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(entry(f"{root}/data.pkl"), pkl)
        z.writestr(entry(f"{root}/byteorder"), "little")
        for key, data in storages.items():
            z.writestr(entry(f"{root}/data/{key}"), data)
        z.writestr(entry(f"{root}/version"), "3\n")


def hand_written(obj):
    buf = io.BytesIO()
    CkptPickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def bad_files():
    # A pickle that would run os.system if torch.load(weights_only=False) read it.
    pkl = hand_written({"state_dict": {"w": FakeTensor(FakeStorage("0", 4), 0, (4,), (1,))}, "evil": System()})
    write_zip(os.path.join(OUT, "malicious.ckpt"), pkl, {"0": struct.pack("<4f", 1, 2, 3, 4)})
    # A view reaching past its storage: 16 elements viewed from a 6-element storage.
    pkl = hand_written({"state_dict": {"w": FakeTensor(FakeStorage("0", 6), 2, (4, 4), (4, 1))}})
    write_zip(os.path.join(OUT, "short_storage.ckpt"), pkl, {"0": struct.pack("<6f", *range(6))})
    # A hand-written file with the stem as the root folder (as older torch versions wrote it).
    pkl = hand_written({"w": FakeTensor(FakeStorage("7", 6), 1, (2, 2), (1, 2))})
    write_zip(os.path.join(OUT, "stem_root.ckpt"), pkl, {"7": struct.pack("<6f", *range(6))}, root="stem_root")
    # A deflated entry: torch.save never compresses, so the reader refuses it.
    pkl = hand_written({"w": FakeTensor(FakeStorage("0", 4), 0, (4,), (1,))})
    with zipfile.ZipFile(os.path.join(OUT, "compressed.ckpt"), "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(entry("archive/data.pkl", zipfile.ZIP_DEFLATED), pkl)
        z.writestr(entry("archive/data/0", zipfile.ZIP_DEFLATED), struct.pack("<4f", 1, 2, 3, 4))
    # A torch.save file cut in half.
    buf = io.BytesIO()
    torch.save({"state_dict": {"w": torch.arange(64, dtype=torch.float32)}}, buf)
    data = buf.getvalue()
    with open(os.path.join(OUT, "truncated.ckpt"), "wb") as f:
        f.write(data[: len(data) // 2])
    # safetensors whose header claims 4 floats for a [3, 2] tensor.
    header = json.dumps({"w": {"dtype": "F32", "shape": [3, 2], "data_offsets": [0, 16]}}).encode()
    header += b" " * (-len(header) % 8)
    with open(os.path.join(OUT, "lying_header.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + struct.pack("<4f", 1, 2, 3, 4))
    # safetensors with offsets past the end of the file, and one with a broken JSON header.
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    with open(os.path.join(OUT, "offsets_outside.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + struct.pack("<2f", 1, 2))
    header = b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]'
    with open(os.path.join(OUT, "bad_json.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + struct.pack("<f", 1))


def main():
    os.makedirs(OUT, exist_ok=True)
    lightning()
    deepspeed()
    nested_plain()
    bad_files()
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total} bytes, to {os.path.normpath(OUT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
