"""The deterministic parameter formula shared with src/models/deterministic_weights.cpp.

value(key, shape, i) = float32(offset + x * scale), computed in float64 and rounded once, where
  seed = FNV-1a-64(UTF-8 key); z = splitmix64(seed + i) (mod 2^64); x = (z >> 40) / 2^23 - 1 in [-1, 1)
and (scale, offset) depend only on the last component of the key and the shape (see `scale_offset`).
docs/fixtures.md is the normative description.
"""
from __future__ import annotations

import numpy as np

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK64 = (1 << 64) - 1


def fnv1a64(data: bytes) -> int:
    h = _FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * _FNV_PRIME) & _MASK64
    return h


def splitmix64(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def uniform(key: str, numel: int) -> np.ndarray:
    """x in [-1, 1) for element indices 0..numel-1 (float64, every value exact in float32)."""
    seed = np.uint64(fnv1a64(key.encode("utf-8")))
    with np.errstate(over="ignore"):
        z = splitmix64(seed + np.arange(numel, dtype=np.uint64))
    u = (z >> np.uint64(40)).astype(np.float64)
    return u / float(1 << 23) - 1.0


def scale_offset(key: str, shape: tuple[int, ...]) -> tuple[float, float]:
    """Per-tensor affine map applied to x; chosen so activations stay O(1).

    Every scale but 1/sqrt(fan_in) is a power of two, so offset + x * scale is exact in float64 and the
    only rounding is the final one to float32 (no room for FMA or evaluation-order differences).
    """
    leaf = key.rsplit(".", 1)[-1]
    if leaf.endswith("bias"):
        return 0.125, 0.0
    if leaf.endswith("weight"):
        if len(shape) <= 1:
            return 0.125, 1.0  # norm gains
        numel = int(np.prod(shape))
        fan_in = numel // shape[0]
        return 1.0 / float(np.sqrt(fan_in)), 0.0
    return 0.5, 0.0  # embeddings, latents, position tables, scalars


def deterministic_array(key: str, shape: tuple[int, ...]) -> np.ndarray:
    shape = tuple(int(s) for s in shape)
    numel = int(np.prod(shape)) if shape else 1
    scale, offset = scale_offset(key, shape)
    values = uniform(key, numel) * scale
    if offset != 0.0:
        values = offset + values
    return values.astype(np.float32).reshape(shape)


def bits_hash(values: np.ndarray) -> int:
    """Order-sensitive hash of the float32 bit patterns: sum_i splitmix64(bits_i ^ (i << 32)) mod 2^64."""
    bits = np.ascontiguousarray(values, dtype=np.float32).reshape(-1).view(np.uint32).astype(np.uint64)
    index = np.arange(bits.size, dtype=np.uint64) << np.uint64(32)
    with np.errstate(over="ignore"):
        return int(np.sum(splitmix64(bits ^ index), dtype=np.uint64))
