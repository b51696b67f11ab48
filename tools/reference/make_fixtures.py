#!/usr/bin/env python3
"""Regenerate tests/fixtures/ from upstream's own code at small configurations with deterministic weights.

  python3 tools/reference/make_fixtures.py --upstream .upstream --out tests/fixtures

Developers run this (never CI); see docs/fixtures.md for the venv and the upstream checkout. A second run
writes byte-identical files.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import configs  # noqa: E402
import upstream_env  # noqa: E402
from fixture_io import FixtureWriter  # noqa: E402

TINY_CONFIG_NAME = "configs/tiny.yaml"
TINY_BASE_CONFIG_NAME = "configs/tiny_base.yaml"
ALL_PARTS = ("weights", "components", "wma", "e2e", "loop", "base")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", type=Path, required=True,
                   help="checkout of unitreerobotics/unifolm-world-model-action (git-ignored, e.g. .upstream)")
    p.add_argument("--out", type=Path, default=upstream_env.REPO_ROOT / "tests" / "fixtures")
    p.add_argument("--full-size", action="store_true",
                   help="build the real-size model (GPU machine) instead of the tiny fixtures; see docs/fixtures.md")
    p.add_argument("--only", nargs="*", default=None,
                   help="subset of: weights components wma e2e loop base (default: all)")
    return p.parse_args()


def run_tiny(args: argparse.Namespace) -> None:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    cfg = configs.tiny_config(args.upstream)
    configs.write_config(cfg, out / TINY_CONFIG_NAME, upstream_env.REPO_ROOT / configs.TINY_META,
                         configs.shape_meta(*configs.TINY_VIDEO_HW))
    start = time.time()
    model = upstream_env.build_model(cfg)
    upstream_env.set_deterministic_weights(model)
    print(f"built tiny model and set weights in {time.time() - start:.0f}s", flush=True)
    only = set(args.only or ALL_PARTS)
    writer = FixtureWriter(out)
    with torch_no_grad():
        if "weights" in only:
            from fixtures_components import write_weight_checksums
            write_weight_checksums(model, out / "weight_checksums.txt")
        if "components" in only:
            from fixtures_components import write_components
            write_components(model, writer, TINY_CONFIG_NAME, args.upstream, configs.TINY_VIDEO_HW,
                             cfg.model.params.noise_scheduler_config)
        if only & {"wma", "e2e", "loop"}:
            from fixtures_wma import write_wma
            write_wma(model, writer, TINY_CONFIG_NAME, args.upstream, configs.TINY_VIDEO_HW, parts=only,
                      steps_list=(4, 50), loop_steps=4)
    if "base" in only:
        del model  # one tiny model in memory at a time
        base_cfg = configs.tiny_config(args.upstream, configs.UPSTREAM_BASE_YAML)
        configs.write_config(base_cfg, out / TINY_BASE_CONFIG_NAME, upstream_env.REPO_ROOT / configs.TINY_META,
                             configs.shape_meta(*configs.TINY_VIDEO_HW), configs.UPSTREAM_BASE_YAML)
        base_model = upstream_env.build_model(base_cfg)
        upstream_env.set_deterministic_weights(base_model)
        from fixtures_base import write_base
        with torch_no_grad():
            write_base(base_model, writer, TINY_BASE_CONFIG_NAME, configs.TINY_VIDEO_HW)
    if only == set(ALL_PARTS):
        writer.write_index(extra_files=[
            ("weight_checksums.txt", "Checksums of named tensors from the deterministic weight formula "
             "(tests/fixtures/test_deterministic_weights.cpp regenerates them in C++)."),
            (TINY_CONFIG_NAME, "The tiny model as an upstream-style yaml (derived from upstream's "
             "configs/inference/world_model_interaction.yaml); tiny_meta.json is its observation shape meta."),
            (TINY_BASE_CONFIG_NAME, "The tiny base model: the same sizes applied to upstream's "
             "configs/inference/base_model_inference.yaml (one observation step, base_model_gen_only).")])
    print(f"done in {time.time() - start:.0f}s", flush=True)


def torch_no_grad():
    import torch
    return torch.no_grad()


def main() -> None:
    args = parse_args()
    upstream_env.setup_imports(args.upstream)
    upstream_env.keep_sampler_on_model_device()
    if args.full_size:
        raise SystemExit("--full-size: TODO, not implemented yet (see docs/fixtures.md)")
    run_tiny(args)


if __name__ == "__main__":
    main()
