#!/usr/bin/env python3
"""Measure where torch's CPU generator stands after upstream builds its model (issue #8, docs/rng.md).

world_model_interaction.py calls seed_everything(seed) and then instantiate_from_config(config.model): every
parameter initialisation draws from the CPU generator before the checkpoint overwrites it, so the VAE
posterior noise of the first encode comes from a generator that has moved on. This tool builds upstream's
model after torch.manual_seed(seed) and

  1. traces every random aten op of the construction (TorchDispatchMode) with the module and the part of
     LatentVisualDiffusion it belongs to, and derives the mt19937 outputs each consumes (`consumption`, the
     rules src/models/construction_draws.cpp applies);
  2. checks the derived total against torch itself: a fresh generator advanced by that many outputs (chunked
     uniform_, one output per float element) must equal, word for word, the generator the construction left;
  3. prints the counts per op kind and per part, and with --out writes tests/data/rng/construction_<config>.txt
     with them and the two posterior draws [1, 4, 40, 64] the pipeline takes next from that generator.

  python3 tools/rng/construction_draws.py --upstream .upstream --config tiny --out tests/data/rng
  python3 tools/rng/construction_draws.py --upstream .upstream --config full --lean --out tests/data/rng

--lean draws the initialisation of large parameters into a scratch tensor (same op, same shape and strides,
same generator) so that the 4.2 B-parameter model never commits its memory (about 4 GB instead of 17 GB).
"full" is configs/inference/world_model_interaction.yaml with the heads' shape_meta from the upstream
checkout's configs/train/meta.json and no CLIP download (pretrained weights are loaded after construction
and draw nothing).

Output format (text, one record per line, key=value tokens): `meta`, `group` (module class, op, layout,
dtype, op count, elements, outputs), `part` (name, outputs), `result` (total outputs after manual_seed;
scalar_cache: the cached double normal sample as 16 hex digits, or none), then two `draw` lines as in
make_rng_fixtures.py.
"""
from __future__ import annotations

import argparse
import collections
import inspect
import struct
import sys
import time
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

TOOL_DIR = Path(__file__).resolve().parent
REPO_ROOT = TOOL_DIR.parent.parent
sys.path.insert(0, str(REPO_ROOT / "tools" / "reference"))
sys.path.insert(0, str(TOOL_DIR))

import make_rng_fixtures as rngfix  # noqa: E402

POSTERIOR = (1, 4, 40, 64)
MT_N = 624

# Random aten ops a construction may call; anything else that draws would show up as a mismatch in step 2.
RANDOM_OPS = {"uniform_", "normal_", "randn", "rand", "randint", "random_", "randperm", "bernoulli_",
              "exponential_", "cauchy_", "log_normal_", "geometric_", "normal", "rand_like", "randn_like",
              "randint_like", "multinomial", "bernoulli"}


# Parts as src/models/construction_draws.cpp names them, by the instantiate_from_config targets on the stack.
PARTS = {
    (): "projectors",
    ("WMAModel",): "unet",
    ("WMAModel", "ConditionalUnet1D"): "heads",
    ("WMAModel", "SATokenProjector"): "action_token_projector",
    ("AutoencoderKL",): "first_stage_model",
    ("FrozenOpenCLIPEmbedder",): "cond_stage_model",
    ("FrozenOpenCLIPImageEmbedderV2",): "embedder",
    ("Resampler",): "image_proj_model",
}


def owner_part() -> str:
    targets = []
    frame = inspect.currentframe()
    while frame is not None:
        if frame.f_code.co_name == "instantiate_from_config":
            targets.append(str(frame.f_locals["config"]["target"]).rsplit(".", 1)[-1])
        frame = frame.f_back
    targets.reverse()  # outermost first: LatentVisualDiffusion, then what it builds
    if targets[:1] != ["LatentVisualDiffusion"]:
        raise RuntimeError(f"random op outside the model construction: {targets}")
    for depth in (2, 1, 0):
        key = tuple(targets[1:1 + depth])
        if len(targets) - 1 >= depth and key in PARTS:
            return PARTS[key]
    raise RuntimeError(f"no part for the construction stack {targets}; extend PARTS")


def owner_module() -> str:
    """Class of the innermost nn.Module whose __init__ (or reset/init helper) is on the stack."""
    frame = inspect.currentframe()
    while frame is not None:
        self_obj = frame.f_locals.get("self")
        if isinstance(self_obj, torch.nn.Module):
            return f"{type(self_obj).__module__.split('.')[0]}.{type(self_obj).__name__}"
        frame = frame.f_back
    return "?"


class RandomOpTracer(TorchDispatchMode):
    """Records the random ops. With `lean`, an in-place random op on a large tensor draws into a scratch copy
    and zero_/fill_ on one are skipped, so untouched parameter pages are never committed: the generator moves
    exactly as in a plain build, the model just keeps zeros (nothing in construction branches on them).
    The scratch buffer is kept: a freed one would be reused (already committed) by the next parameter."""

    LEAN_NUMEL = 1 << 20

    def __init__(self, lean: bool) -> None:
        super().__init__()
        self.lean = lean
        self.ops: list[dict] = []
        self.scratch: dict[torch.dtype, torch.Tensor] = {}

    def scratch_like(self, t: torch.Tensor) -> torch.Tensor:
        size = max(((n - 1) * st for n, st in zip(t.shape, t.stride())), default=0) + 1
        buf = self.scratch.get(t.dtype)
        if buf is None or buf.numel() < size:
            buf = self.scratch[t.dtype] = torch.empty(max(size, 64 << 20), dtype=t.dtype)
        return buf.as_strided(t.shape, t.stride())

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func._schema.name.split("::")[-1]
        big = bool(args) and isinstance(args[0], torch.Tensor) and args[0].numel() > self.LEAN_NUMEL
        if self.lean and big and name in ("zero_", "fill_"):
            return args[0]
        if name not in RANDOM_OPS:
            return func(*args, **kwargs)
        if self.lean and big and name.endswith("_"):
            func(self.scratch_like(args[0]), *args[1:], **kwargs)
            out = target = args[0]
        else:
            out = func(*args, **kwargs)
            target = args[0] if name.endswith("_") else out
        self.ops.append({
            "op": name, "module": owner_module(), "part": owner_part(), "dtype": target.dtype, "numel": target.numel(),
            "contiguous": target.is_contiguous(),
        })
        return out


def consumption(op: dict, cache_valid: bool) -> tuple[int, bool]:
    """mt19937 outputs an op takes from torch's CPU generator, and whether a double normal sample is cached after.

    ATen (native/cpu/DistributionKernels.cpp, DistributionTemplates.h, torch 2.3 .. 2.15):
      uniform_     cpu_serial_kernel, uniform_real_distribution<T>: float/half/bf16 one random(), double random64().
      normal_/randn  float32 contiguous with >= 16 elements: normal_fill_AVX2, one random() per element plus 16
                   more for a ragged tail; otherwise per element normal_distribution<double>: two random64() per
                   pair, the second value cached on the generator (read by the next scalar draw, even across calls).
    """
    name, n = op["op"], op["numel"]
    if n == 0:
        return 0, cache_valid
    if name in ("uniform_", "rand", "rand_like"):
        per = 2 if op["dtype"] == torch.float64 else 1
        return per * n, cache_valid
    if name in ("normal_", "randn", "randn_like"):
        if op["dtype"] == torch.float32 and n >= 16 and op["contiguous"]:
            return n + (16 if n % 16 else 0), cache_valid
        if op["dtype"] in (torch.float64, torch.float16, torch.bfloat16) and n >= 16 and op["contiguous"]:
            raise NotImplementedError(f"normal_fill for {op['dtype']}: not seen in upstream's construction")
        outputs = 0
        for _ in range(n):
            if cache_valid:
                cache_valid = False
            else:
                outputs += 4
                cache_valid = True
        return outputs, cache_valid
    raise NotImplementedError(f"no consumption rule for {name} ({op['module']}); extend consumption()")


def summarise(ops: list[dict]) -> tuple[int, bool, list[tuple], dict[str, int]]:
    total, cache = 0, False
    groups: dict[tuple, list[int]] = collections.OrderedDict()
    parts: dict[str, int] = collections.OrderedDict()
    for op in ops:
        used, cache = consumption(op, cache)
        total += used
        parts[op["part"]] = parts.get(op["part"], 0) + used
        key = (op["module"], op["op"], "contiguous" if op["contiguous"] else "strided", str(op["dtype"]))
        g = groups.setdefault(key, [0, 0, 0])
        g[0] += 1
        g[1] += op["numel"]
        g[2] += used
    return total, cache, [(*k, *v) for k, v in groups.items()], parts


def parse_state(state: torch.Tensor) -> dict:
    """torch.get_rng_state() of the CPU generator (CPUGeneratorImpl::get_state, THGeneratorStateNew)."""
    raw = bytes(state.tolist())
    seed, left, seeded, nxt = struct.unpack_from("<QiiQ", raw, 0)
    words = struct.unpack_from(f"<{MT_N}Q", raw, 24)
    off = 24 + 8 * MT_N
    normal_x, normal_y, normal_rho, normal_valid = struct.unpack_from("<dddi", raw, off)
    return {"seed": seed, "left": left, "next": nxt, "state": words, "normal_y": normal_y,
            "normal_valid": bool(normal_valid)}


def advance(outputs: int, chunk: int = 1 << 26) -> None:
    """Move the default CPU generator on by exactly `outputs` mt19937 outputs (float uniform_ is serial, 1 each)."""
    while outputs > 0:
        n = min(outputs, chunk)
        torch.empty(n, dtype=torch.float32).uniform_()
        outputs -= n


def predicted_state(seed: int, outputs: int, cache: float | None) -> dict:
    torch.manual_seed(seed)
    advance(outputs)
    s = parse_state(torch.get_rng_state())
    s["normal_valid"] = cache is not None
    s["normal_y"] = cache if cache is not None else s["normal_y"]
    return s


def same_state(a: dict, b: dict) -> bool:
    if a["state"] != b["state"] or a["left"] != b["left"] or a["next"] != b["next"]:
        return False
    return a["normal_valid"] == b["normal_valid"] and (not a["normal_valid"] or a["normal_y"] == b["normal_y"])


def build(args: argparse.Namespace, tracer: RandomOpTracer) -> None:
    import configs
    import upstream_env
    upstream_env.setup_imports(args.upstream)
    if tracer.lean:
        # Deterministic mode NaN-fills every torch.empty, which would commit all parameter pages.
        torch.utils.deterministic.fill_uninitialized_memory = False
    from unifolm_wma.utils.utils import instantiate_from_config
    if args.config == "tiny":
        cfg = configs.tiny_config(args.upstream)
    else:
        cfg = configs.full_config(args.upstream, "cpu")
        # Upstream reads configs/train/meta.json from its working directory (its own checkout).
        obs = cfg.model.params.wma_config.params.unet_head_config.params.obs_encoder_config.params
        obs.shape_meta_path = str((args.upstream / "configs" / "train" / "meta.json").resolve())
    upstream_env.register_open_clip_configs(cfg)
    cfg = upstream_env.resolve_shape_meta(cfg)
    cfg.model.params.wma_config.params.use_checkpoint = False
    torch.manual_seed(args.seed)
    with tracer:
        model = instantiate_from_config(cfg.model)
    del model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", type=Path, required=True)
    p.add_argument("--config", choices=("tiny", "full"), required=True)
    p.add_argument("--seed", type=int, default=123)
    p.add_argument("--lean", action="store_true",
                   help="draw large parameters' init into scratch tensors (the full model then fits in ~3 GB)")
    p.add_argument("--out", type=Path, default=None, help="folder for construction_<config>.txt")
    args = p.parse_args()
    if args.config == "full" and not args.lean:
        print("note: the full model needs about 17 GB of RAM without --lean", file=sys.stderr)

    tracer = RandomOpTracer(args.lean)
    t0 = time.time()
    build(args, tracer)
    t_build = time.time() - t0
    state_after = torch.get_rng_state()
    after = parse_state(state_after)
    total, cache_valid, groups, parts = summarise(tracer.ops)
    cache = after["normal_y"] if cache_valid else None
    predicted = predicted_state(args.seed, total, cache)
    ok = same_state(predicted, after)
    print(f"{len(tracer.ops)} random ops, {total} mt19937 outputs, scalar cache "
          f"{'valid' if cache_valid else 'empty'}; derived count {'MATCHES' if ok else 'DOES NOT MATCH'} the "
          f"generator the construction left (build {t_build:.1f} s)")
    for g in groups:
        print("  ", *g)
    for name, used in parts.items():
        print(f"   part {name}: {used}")
    if not ok:
        sys.exit(1)

    # What the pipeline draws next from this generator: the two posterior samples of the first encode.
    torch.set_rng_state(state_after)
    draws = [torch.randn(POSTERIOR) for _ in range(2)]
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"construction_{args.config}.txt"
        lines = [f"meta torch={torch.__version__} config={args.config} seed={args.seed} "
                 f"build={'lean' if args.lean else 'plain'}"]
        for module, op, layout, dtype, count, numel, used in groups:
            lines.append(f"group module={module} op={op} layout={layout} dtype={dtype.replace('torch.', '')} "
                         f"count={count} numel={numel} outputs={used}")
        for name, used in parts.items():
            lines.append(f"part name={name} outputs={used}")
        cache_hex = struct.pack("<d", cache).hex() if cache is not None else "none"
        lines.append(f"result outputs={total} scalar_cache={cache_hex}")
        for d in draws:
            lines.append(rngfix.draw_line(d, -1, True))
        path.write_text("\n".join(lines) + "\n")
        print("wrote", path)


if __name__ == "__main__":
    main()
