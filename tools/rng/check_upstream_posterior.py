#!/usr/bin/env python3
"""Run upstream's world_model_interaction.py until its first two CPU torch.randn draws (the VAE posterior
noise of the first encode) and compare them with tests/data/rng/construction_full.txt, which
tools/rng/construction_draws.py derived from the construction alone. Confirms, on the real script with the
real checkpoint, that nothing else draws from the CPU generator between seed_everything and the first encode.

  python3 tools/rng/check_upstream_posterior.py --upstream .upstream -- \\
      --seed 123 --ckpt_path <ckpt> --config <upstream yaml> --prompt_dir <prompts> --dataset <name> \\
      --savedir <tmp dir> [the run's other flags]

Everything after `--` goes to upstream's script unchanged; run it from the upstream checkout's root (it
reads configs/train/meta.json from the working directory). Upstream moves the model to CUDA; --cpu stubs
that out (and decord, which the data module imports but the script never uses), imports upstream through
tools/reference/upstream_env (xformers shim) and registers the yaml's open_clip_model_configs, so the tiny
fixture config runs on a CPU-only machine (with --expected tests/data/rng/construction_tiny.txt, a checkpoint
holding any weights of that config, and the yaml's data.params.test.params.data_dir set to the prompts).
Exits 0 when both draws match bit for bit, 1 otherwise.
"""
from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

import torch

TOOL_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(TOOL_DIR))

import make_rng_fixtures as rngfix  # noqa: E402


class Done(Exception):
    pass


def recorded_draws(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.startswith("draw ")]


def run_on_cpu(upstream: Path, script_args: list[str]) -> None:
    import types
    from omegaconf import OmegaConf
    sys.path.insert(0, str(TOOL_DIR.parent / "reference"))
    import upstream_env
    upstream_env.setup_imports(upstream)
    upstream_env.register_open_clip_configs(OmegaConf.load(script_args[script_args.index("--config") + 1]))
    try:
        import decord  # noqa: F401
    except ImportError:
        stub = types.ModuleType("decord")
        stub.VideoReader = stub.cpu = None
        sys.modules["decord"] = stub
    from unifolm_wma.models.ddpms import LatentVisualDiffusion
    LatentVisualDiffusion.cuda = lambda self, device=None: self


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", type=Path, required=True)
    p.add_argument("--expected", type=Path, default=TOOL_DIR.parent.parent / "tests/data/rng/construction_full.txt")
    p.add_argument("--cpu", action="store_true", help="run upstream's script without a GPU (see above)")
    p.add_argument("script_args", nargs=argparse.REMAINDER)
    args = p.parse_args()
    script_args = args.script_args[1:] if args.script_args[:1] == ["--"] else args.script_args
    expected = recorded_draws(args.expected)

    script = args.upstream.resolve() / "scripts" / "evaluation" / "world_model_interaction.py"
    sys.path[:0] = [str(script.parent), str(args.upstream.resolve() / "src")]
    if args.cpu:
        run_on_cpu(args.upstream, script_args)
    from unifolm_wma.utils.distributions import DiagonalGaussianDistribution

    # Only the posterior's own draws count (the construction calls torch.randn on the CPU too).
    got: list[str] = []
    original_randn, original_sample = torch.randn, DiagonalGaussianDistribution.sample
    inside_sample = [False]

    def watching_randn(*a, **kw):
        out = original_randn(*a, **kw)
        if inside_sample[0] and out.device.type == "cpu":
            got.append(rngfix.draw_line(out, -1, True))
        return out

    def watching_sample(self, *a, **kw):
        inside_sample[0] = True
        try:
            out = original_sample(self, *a, **kw)
        finally:
            inside_sample[0] = False
        if len(got) >= len(expected):
            raise Done
        return out

    sys.argv = [str(script)] + script_args
    torch.randn, DiagonalGaussianDistribution.sample = watching_randn, watching_sample
    try:
        runpy.run_path(str(script), run_name="__main__")
    except Done:
        pass
    finally:
        torch.randn, DiagonalGaussianDistribution.sample = original_randn, original_sample
    ok = got == expected
    for i, (g, e) in enumerate(zip(got, expected)):
        print(f"posterior draw {i}: {'same' if g == e else 'DIFFERENT'}")
        if g != e:
            print("  upstream:", g[:160])
            print("  expected:", e[:160])
    if len(got) != len(expected):
        print(f"upstream made {len(got)} CPU randn draws, expected {len(expected)}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
