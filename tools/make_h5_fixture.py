#!/usr/bin/env python3
"""Writes the built-in HDF5 reader's fixtures (tests/io/test_h5_builtin.cpp, fuzz/corpus/fuzz_h5) with h5py's
default ("earliest") format, as upstream's transition files are: tests/data/h5/classic.h5 (every stored type and
layout the reader takes or names) and tiny.h5 (a transition's shape, small). Development only: needs h5py, numpy.
    python3 tools/make_h5_fixture.py [FOLDER]"""
import sys

import h5py
import numpy as np

folder = sys.argv[1] if len(sys.argv) > 1 else "tests/data/h5"
with h5py.File(f"{folder}/tiny.h5", "w") as f:
    f.attrs["robot_type"] = "Tiny Arm"
    f["action"] = np.arange(6, dtype=np.float32).reshape(3, 2)
    f["observation.state"] = -np.arange(6, dtype=np.float32).reshape(3, 2)
with h5py.File(f"{folder}/classic.h5", "w") as f:
    f.attrs["robot_type"] = "Test Arm \u00fc"  # variable-length UTF-8, as upstream's attributes
    f.attrs["action_type"] = "joint position"
    f.attrs["fixed"] = np.bytes_(b"fixed value")
    f.attrs["count"] = np.int32(3)
    f.attrs["empty_text"] = ""
    # Values the test recomputes: element i of a flattened dataset is (i % 17) * 0.5 - 3.
    def values(shape, dtype):
        n = int(np.prod(shape)) if shape else 1
        return ((np.arange(n) % 17) * 0.5 - 3).astype(dtype).reshape(shape)
    f["action"] = values((5, 3), np.float32)
    f["observation.state"] = values((5, 3), np.float64)
    f["int16"] = np.arange(24, dtype=np.int16).reshape(2, 3, 4) - 12
    f["uint8"] = np.arange(7, dtype=np.uint8) * 40
    f["big_endian_int"] = (np.arange(4) - 2).astype(">i4")
    f["big_endian_double"] = values((3,), ">f8")
    f["int64"] = np.array([-(2**40), 2**40, -1], dtype=np.int64)
    f["empty"] = np.zeros((0, 3), dtype=np.float32)
    f["empty3"] = np.zeros((0, 2, 3), dtype=np.float32)  # the test enlarges its other dimensions
    f["scalar"] = np.float32(2.5)
    f.create_dataset("chunked", data=values((10,), np.float32), chunks=(5,))
    f.create_dataset("gzip", data=values((10,), np.float32), compression="gzip")
    f["text"] = np.array([b"abc", b"de"], dtype="S3")
    f.create_group("inner")["x"] = values((2, 2), np.float32)
    for i in range(20):  # enough members for several symbol nodes under the root's B-tree
        f[f"d{i:02d}"] = np.array([i], dtype=np.float32)
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    compact = h5py.h5d.create(f.id, b"compact", h5py.h5t.IEEE_F32LE, h5py.h5s.create_simple((4,)), dcpl=dcpl)
    compact.write(h5py.h5s.ALL, h5py.h5s.ALL, values((4,), np.float32))
