#!/usr/bin/env python3
"""Record torch.randn streams as fixtures for tests/rng: what our TorchCpuGenerator and
TorchCudaGenerator (src/core/rng.h) must reproduce bit for bit. Reproduces upstream's use of
torch.randn (CPU: VAE posterior samples; CUDA: latent, actions, states, DDIM noise; spec 7.6).

  python3 tools/rng/make_rng_fixtures.py                     # CPU -> tests/data/rng/cpu_streams.txt
  python3 tools/rng/make_rng_fixtures.py --cuda --out DIR    # CUDA -> DIR/cuda_streams.txt

The CUDA file goes to tests/data/rng/cuda/. Needs only torch (no numpy), no network.

Format (text, one record per line, space-separated key=value tokens):
  meta key=value ...                 environment (torch version, device, sm_count, ...)
  case name=NAME seed=S              new case: torch.manual_seed(S) on a fresh process state
  reseed seed=S                      torch.manual_seed(S) in the middle of a case
  draw shape=AxBxC numel=N offset=O digest=H head=h,... tail=h,... [all=h,...] [stride=K sample=h,...]
     values are float32 bit patterns in hex; offset is the CUDA generator's Philox offset after the
     draw (-1 on the CPU); digest = sum_i bits_i * (2i + 1) mod 2^64 over the whole tensor.
"""
import argparse
import os
import sys

import torch

HEAD = 8
SMALL = 64  # draws up to this many elements are stored whole
SAMPLE_STRIDE = 97  # strided sample of big draws, for mismatch statistics when a digest differs

LATENT = (1, 4, 16, 40, 64)
ACTION = (1, 16, 16)
POSTERIOR = (1, 4, 40, 64)


def bits(t):
    """float32 bit patterns as a flat int64 CPU tensor (0 .. 2^32 - 1)."""
    return t.detach().cpu().contiguous().reshape(-1).view(torch.int32).to(torch.int64) & 0xFFFFFFFF


def digest(b):
    # Products stay below 2^54 and chunk sums of 512 below 2^63: exact in int64, then Python ints.
    w = 2 * torch.arange(b.numel(), dtype=torch.int64) + 1
    prod = b * w
    pad = (-prod.numel()) % 512
    chunks = torch.cat([prod, prod.new_zeros(pad)]).reshape(-1, 512).sum(dim=1)
    return sum(chunks.tolist()) % (1 << 64)


def hexlist(a):
    return ",".join(f"{v:08x}" for v in a.tolist())


def draw_line(t, offset, sample):
    b = bits(t)
    parts = [
        "draw",
        "shape=" + "x".join(str(d) for d in t.shape),
        f"numel={b.numel()}",
        f"offset={offset}",
        f"digest={digest(b):016x}",
        "head=" + hexlist(b[:HEAD]),
        "tail=" + hexlist(b[-HEAD:]),
    ]
    if b.numel() <= SMALL:
        parts.append("all=" + hexlist(b))
    elif sample:
        parts.append(f"stride={SAMPLE_STRIDE}")
        parts.append("sample=" + hexlist(b[::SAMPLE_STRIDE]))
    return " ".join(parts)


def sampling_call(latent_draws=53):
    """One image_guided_synthesis_sim_mode call's CUDA draws, in upstream's order (spec 7.6)."""
    seq = [LATENT, ACTION, ACTION]
    seq += [LATENT] * (latent_draws - 3)
    return seq


def cpu_cases():
    return [
        # Two observation frames' VAE posterior samples, twice (both sampling calls of an iteration).
        ("posterior", 123, [POSTERIOR] * 4),
        ("posterior_seed0", 0, [POSTERIOR] * 2),
        ("posterior_seed42", 42, [POSTERIOR] * 2),
        ("posterior_seed_max", 2**32 - 1, [POSTERIOR] * 2),
        # Scalar path (< 16 elements) with its cached sample carried across calls and across
        # vectorised calls, which leave the cache alone; the tail of ragged vectorised sizes.
        ("small_and_ragged", 123, [(7,), (7,), (1,), (15,), (16,), (17,), (3,), (33,), (1, 16, 16), (5,), (1000,)]),
        ("reseed_drops_cache", 7, [(3,), "reseed:7", (3,), (2, 3)]),
        ("latent_shape_on_cpu", 123, [LATENT]),
    ]


def cuda_cases():
    big_cases = [
        # Above one wave of resident threads (132 SMs x 2048 threads = 270336): the layout and the
        # offset increment depend on the SM count.
        ("beyond_one_wave", 123, [(270337,), (1000003,), (2, 1081344), (5,)]),
        ("odd_sizes", 99, [(1,), (3,), (257,), (1023,), (65537,)]),
    ]
    return [
        ("pipeline_seed123", 123, sampling_call() + [LATENT, ACTION, ACTION]),
        ("pipeline_seed42", 42, sampling_call() + [LATENT, ACTION, ACTION]),
        ("pipeline_seed2024", 2024, sampling_call(6)),
        ("reseed_resets_offset", 5, [ACTION, LATENT, "reseed:5", ACTION]),
    ] + big_cases


def run_cases(cases, device, gen_offset):
    lines = []
    for name, seed, seq in cases:
        torch.manual_seed(seed)
        lines.append(f"case name={name} seed={seed}")
        sampled = False
        for item in seq:
            if isinstance(item, str):
                s = int(item.split(":")[1])
                torch.manual_seed(s)
                lines.append(f"reseed seed={s}")
                continue
            t = torch.randn(item, device=device)
            big = t.numel() > SMALL
            lines.append(draw_line(t, gen_offset(), sample=big and not sampled))
            sampled = sampled or big
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cuda", action="store_true", help="record CUDA streams (needs a GPU)")
    ap.add_argument("--out", default=None, help="output folder (default tests/data/rng)")
    args = ap.parse_args()
    torch.set_default_dtype(torch.float32)
    meta = {"torch": torch.__version__}

    if args.cuda:
        if not torch.cuda.is_available():
            sys.exit("make_rng_fixtures: --cuda needs a CUDA device")
        torch.cuda.set_device(0)
        props = torch.cuda.get_device_properties(0)
        meta.update(
            device=props.name.replace(" ", "_"),
            sm_count=props.multi_processor_count,
            max_threads_per_sm=getattr(props, "max_threads_per_multi_processor", 2048),
            capability=f"{props.major}.{props.minor}",
            cuda=torch.version.cuda,
        )
        gen = torch.cuda.default_generators[0]
        has_offset = hasattr(gen, "get_offset")
        lines = run_cases(cuda_cases(), "cuda", (lambda: gen.get_offset()) if has_offset else (lambda: -1))
        fname = "cuda_streams.txt"
    else:
        meta.update(device="cpu", cpu_capability=torch.backends.cpu.get_cpu_capability())
        lines = run_cases(cpu_cases(), "cpu", lambda: -1)
        fname = "cpu_streams.txt"

    out = args.out or os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "rng"))
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, fname)
    with open(path, "w") as f:
        f.write("# torch.randn streams recorded by tools/rng/make_rng_fixtures.py; see its docstring\n")
        f.write("meta " + " ".join(f"{k}={v}" for k, v in meta.items()) + "\n")
        f.write("\n".join(lines) + "\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {sum(l.startswith('draw') for l in lines)} draws)")


if __name__ == "__main__":
    main()
