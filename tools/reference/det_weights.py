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


# --- the same formula vectorised with torch (any device), for the full-size model -----------------------------
# torch has no general uint64 arithmetic, so the 64-bit words live in int64 tensors: addition, multiplication
# and xor wrap identically for signed and unsigned words, and a logical right shift is the arithmetic shift
# masked to its low (64 - s) bits. Everything after the shift is float64, as in the numpy version, so the
# values are bit-identical; `check_against_numpy` confirms it for every tensor at run time.

def _as_int64(value: int) -> int:
    value &= _MASK64
    return value - (1 << 64) if value >= (1 << 63) else value


_SM_ADD = _as_int64(0x9E3779B97F4A7C15)
_SM_MUL1 = _as_int64(0xBF58476D1CE4E5B9)
_SM_MUL2 = _as_int64(0x94D049BB133111EB)


def _shr(z, s: int):
    return (z >> s) & ((1 << (64 - s)) - 1)


def _splitmix64_torch(z):
    z = z + _SM_ADD
    z = (z ^ _shr(z, 30)) * _SM_MUL1
    z = (z ^ _shr(z, 27)) * _SM_MUL2
    return z ^ _shr(z, 31)


def fill_deterministic_(tensor, key: str, chunk: int = 1 << 26) -> None:
    """tensor := the formula for `key` (float32 rounding of the float64 value, then cast to tensor's dtype)."""
    import torch
    shape = tuple(tensor.shape)
    numel = tensor.numel()
    scale, offset = scale_offset(key, shape)
    seed = _as_int64(fnv1a64(key.encode("utf-8")))
    flat = tensor.view(-1) if tensor.is_contiguous() else None
    if flat is None:
        raise ValueError(f"{key}: parameter is not contiguous")
    for start in range(0, numel, chunk):
        n = min(chunk, numel - start)
        z = torch.arange(start, start + n, dtype=torch.int64, device=tensor.device) + seed
        x = _shr(_splitmix64_torch(z), 40).to(torch.float64) / float(1 << 23) - 1.0
        values = x * scale
        if offset != 0.0:
            values = offset + values
        flat[start:start + n].copy_(values.to(torch.float32))


def values_at(key: str, shape: tuple[int, ...], index: np.ndarray) -> np.ndarray:
    """The formula's float32 values at the given flat element indices (numpy reference for spot checks)."""
    scale, offset = scale_offset(key, tuple(int(s) for s in shape))
    seed = np.uint64(fnv1a64(key.encode("utf-8")))
    with np.errstate(over="ignore"):
        z = splitmix64(seed + index.astype(np.uint64))
    x = (z >> np.uint64(40)).astype(np.float64) / float(1 << 23) - 1.0
    values = x * scale
    if offset != 0.0:
        values = offset + values
    return values.astype(np.float32)


def check_against_numpy(tensor, key: str, samples: int = 64) -> None:
    """Compare the first, last and some strided elements with the numpy formula, bit for bit."""
    numel = tensor.numel()
    index = np.unique(np.concatenate([np.arange(min(samples, numel)),
                                      np.arange(max(0, numel - samples), numel),
                                      np.linspace(0, numel - 1, num=min(samples, numel)).astype(np.int64)]))
    got = tensor.detach().reshape(-1)[index].float().cpu().numpy()
    want = values_at(key, tuple(tensor.shape), index)
    if not np.array_equal(got.view(np.uint32), want.view(np.uint32)):
        bad = int(np.flatnonzero(got.view(np.uint32) != want.view(np.uint32))[0])
        raise RuntimeError(f"deterministic weights: {key} element {index[bad]} is {got[bad]!r}, "
                           f"the formula gives {want[bad]!r}")


if __name__ == "__main__":
    # Self-test of the torch version against the numpy one (any device: python3 det_weights.py [cuda]).
    import sys

    import torch
    device = torch.device(sys.argv[1] if len(sys.argv) > 1 else "cpu")
    cases = [("model.diffusion_model.out.2.weight", (4, 320, 3, 3)), ("a.norm.weight", (1280,)),
             ("b.in_proj_bias", (3072,)), ("cond_stage_model.model.token_embedding.weight", (4941, 1024)),
             ("logit_scale", ())]
    for key, shape in cases:
        t = torch.empty(shape, dtype=torch.float32, device=device)
        fill_deterministic_(t, key, chunk=1000)  # small chunks: the chunk boundaries are exercised too
        want = deterministic_array(key, shape)
        got = t.cpu().numpy()
        if not np.array_equal(got.view(np.uint32), want.view(np.uint32)):
            raise SystemExit(f"{key}: torch and numpy formulas differ")
        check_against_numpy(t, key)
    print(f"det_weights: torch formula on {device} equals the numpy formula bit for bit ({len(cases)} tensors)")
