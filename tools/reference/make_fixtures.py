#!/usr/bin/env python3
"""Regenerate tests/fixtures/ from upstream's own code at small configurations with deterministic weights.

  python3 tools/reference/make_fixtures.py --upstream .upstream --out tests/fixtures
  python3 tools/reference/make_fixtures.py --upstream .upstream --full-size --compare DUMP [--record REC]

Developers run this (never CI); see docs/fixtures.md for the venv and the upstream checkout. A second run
writes byte-identical files. --full-size --compare (GPU machine) checks tensors that `wma bench --dump`
wrote against upstream's full-size model with the same deterministic weights (docs/fixtures.md).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import configs  # noqa: E402
import upstream_env  # noqa: E402
from fixture_io import FixtureWriter  # noqa: E402

TINY_CONFIG_NAME = "configs/tiny.yaml"
TINY_BASE_CONFIG_NAME = "configs/tiny_base.yaml"
ALL_PARTS = ("weights", "components", "wma", "e2e", "loop", "base", "server")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", type=Path, required=True,
                   help="checkout of unitreerobotics/unifolm-world-model-action (git-ignored, e.g. .upstream)")
    p.add_argument("--out", type=Path, default=upstream_env.REPO_ROOT / "tests" / "fixtures")
    p.add_argument("--full-size", action="store_true",
                   help="build the real-size model (GPU machine) instead of the tiny fixtures; see docs/fixtures.md")
    p.add_argument("--only", nargs="*", default=None,
                   help="subset of: weights components wma e2e loop base server (default: all)")
    full = p.add_argument_group("--full-size")
    full.add_argument("--compare", type=Path, help="dump of our engine (dump.<pass>.<part> tensors) to check")
    full.add_argument("--record", type=Path,
                      help="the record the dump was made from (bench/upstream/run_upstream.py --record); without "
                           "it the iteration is run here at seed 123 and --save-record may keep it")
    full.add_argument("--save-record", type=Path, help="write the record made here (safetensors)")
    full.add_argument("--config", type=Path,
                      help="inference yaml (default: upstream's configs/inference/world_model_interaction.yaml; "
                           "tests/fixtures/configs/tiny.yaml to try the comparison on a CPU)")
    full.add_argument("--device", default="cuda")
    full.add_argument("--steps", type=int, default=50, help="DDIM steps, when the record is made here")
    full.add_argument("--allow-tf32", action="store_true",
                      help="leave cuDNN's TF32 on, as upstream ships (default: off, a true fp32 reference)")
    full.add_argument("--json", type=Path, help="write the comparison as JSON")
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
        if "server" in only:
            from fixtures_components import fixture_prompts
            from fixtures_server import server_fixture
            writer.write(server_fixture(model, TINY_CONFIG_NAME, fixture_prompts(args.upstream)[1],
                                        configs.TINY_VIDEO_HW, steps=4))
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
             "(tests/models/test_deterministic_weights.cpp regenerates them in C++)."),
            (TINY_CONFIG_NAME, "The tiny model as an upstream-style yaml (derived from upstream's "
             "configs/inference/world_model_interaction.yaml); tiny_meta.json is its observation shape meta."),
            (TINY_BASE_CONFIG_NAME, "The tiny base model: the same sizes applied to upstream's "
             "configs/inference/base_model_inference.yaml (one observation step, base_model_gen_only).")])
    print(f"done in {time.time() - start:.0f}s", flush=True)


def torch_no_grad():
    import torch
    return torch.no_grad()


def run_full_size(args: argparse.Namespace) -> None:
    """Upstream's tensors for each dump.<pass>.<part> of --compare, and the error table."""
    import torch
    import upstream_iteration as ui
    from safetensors.torch import load_file
    if not args.compare:
        raise SystemExit("--full-size needs --compare DUMP.safetensors (what our engine dumped)")
    device = upstream_env.resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.allow_tf32 = args.allow_tf32
    dump = load_file(str(args.compare))
    wanted: dict[str, list[str]] = {}
    for key in dump:
        parts = key.split(".", 2)
        if len(parts) != 3 or parts[0] != "dump" or parts[1] not in ui.PASSES or parts[2] not in ui.DUMP_PARTS:
            raise SystemExit(f"{args.compare}: unexpected tensor {key} (expected dump.<policy|world>.<part>, "
                             f"part one of {', '.join(ui.DUMP_PARTS)})")
        wanted.setdefault(parts[1], []).append(parts[2])

    start = time.time()
    config_path = args.config or (args.upstream / configs.UPSTREAM_YAML)
    config = upstream_env.prepare_config(config_path, args.upstream, str(device))
    model = upstream_env.build_model(config, fast_init=True)
    model = model.cuda(device) if device.type == "cuda" else model.to(device)
    upstream_env.set_deterministic_weights_fast(model)
    print(f"built {config_path} on {device} and set weights in {time.time() - start:.0f}s", flush=True)

    if args.record:
        record, metadata = ui.load_record(args.record)
    else:
        from pytorch_lightning import seed_everything
        settings = ui.IterationSettings(steps=args.steps)
        h, w = model.image_size
        inputs = ui.synthetic_inputs(h * 8, w * 8, model.agent_state_dim, model.agent_action_dim)
        seed_everything(ui.SEED)
        record = ui.UpstreamIteration(model, device, settings).run(inputs, record=True)
        record.update(ui.input_tensors(inputs, settings.fs))
        metadata = ui.record_metadata(settings, h * 8, w * 8)
        if args.save_record:
            ui.save_record(args.save_record, record, metadata)
        print(f"ran the iteration here (seed {ui.SEED}, {args.steps} steps, fp32)", flush=True)

    reference = {}
    for pass_name, parts in wanted.items():
        reference.update(ui.reference_tensors(model, device, record, metadata, pass_name, tuple(parts)))
    table, rows = ui.compare_table(dump, reference)
    print(f"dump {args.compare} against upstream ({config_path}, {device}, cuDNN TF32 "
          f"{'on' if args.allow_tf32 else 'off'}); max rel = max|dump - upstream| / max|upstream|, "
          "rel L2 = ||dump - upstream|| / ||upstream||\n")
    print(table, end="")
    if args.json:
        args.json.write_text(json.dumps({"dump": str(args.compare), "record": str(args.record or ""),
                                         "config": str(config_path), "device": str(device),
                                         "cudnn_tf32": args.allow_tf32, "rows": rows}, indent=2) + "\n")
    if any("status" in r or not r["finite"] for r in rows):
        raise SystemExit("some dump tensors are missing, mis-shaped or not finite (see the table)")


def main() -> None:
    args = parse_args()
    if args.full_size:
        import torch
        upstream_env.setup_imports(args.upstream, deterministic=torch.device(args.device).type == "cpu")
        if torch.device(args.device).type == "cpu":
            upstream_env.keep_sampler_on_model_device()
        run_full_size(args)
        return
    upstream_env.setup_imports(args.upstream)
    upstream_env.keep_sampler_on_model_device()
    run_tiny(args)


if __name__ == "__main__":
    main()
