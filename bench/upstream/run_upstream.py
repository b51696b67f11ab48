#!/usr/bin/env python3
"""Upstream's PyTorch code timed on one interaction iteration, for the side-by-side benchmark with `wma bench`.

  python3 bench/upstream/run_upstream.py --upstream .upstream_slim \
      --config .upstream_slim/configs/inference/world_model_interaction.yaml --mode shipped \
      [--steps 50] [--warmup 1] [--record FILE] [--summary FILE] [--replay FILE] [--json FILE] [--device cuda]

Builds upstream's model from the yaml (OpenCLIP pretrained=None, xformers replaced by the SDPA shim), sets the
deterministic weights of docs/fixtures.md on the device, then runs warm-up iterations and one timed iteration,
each right after seed_everything(123), exactly as world_model_interaction.py's loop body does (see
tools/reference/upstream_iteration.py and bench/upstream/README.md). Prints the profile table of `wma bench`.

Modes: shipped = fp32 eager as the script ships (torch defaults: cuDNN may use TF32, matmuls do not);
fp16 / bf16 = the same under torch.autocast; compiled = fp16 autocast + torch.compile of the diffusion model
(WMAModel with its action/state heads) + cudnn.benchmark (--cudagraphs: compile mode reduce-overhead).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tools" / "reference"))
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

import psnr  # noqa: E402
import upstream_env  # noqa: E402
import upstream_iteration as ui  # noqa: E402

MODES = ("shipped", "fp16", "bf16", "compiled")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", type=Path, required=True, help="checkout (or slim copy) of upstream")
    p.add_argument("--config", type=Path, required=True,
                   help="inference yaml: upstream's configs/inference/world_model_interaction.yaml, or ours")
    p.add_argument("--mode", choices=MODES, default="shipped")
    p.add_argument("--steps", type=int, default=50, help="DDIM steps per pass")
    p.add_argument("--warmup", type=int, default=1, help="untimed iterations before the timed one")
    p.add_argument("--device", default="cuda")
    p.add_argument("--record", type=Path, help="write inputs, every randn draw and the outputs (safetensors)")
    p.add_argument("--summary", type=Path,
                   help="write the outputs only, videos as psnr.py's 256x256 uint8 frames (small enough to "
                        "bring back from the GPU machine)")
    p.add_argument("--replay", type=Path, help="take inputs and every randn draw from this record")
    p.add_argument("--json", type=Path, help="write the profile as JSON")
    p.add_argument("--cudagraphs", action="store_true", help="compiled mode: torch.compile mode reduce-overhead")
    p.add_argument("--compile-backend", default="inductor", help=argparse.SUPPRESS)  # eager: CPU smoke tests
    return p.parse_args()


def log(message: str) -> None:
    print(f"[run_upstream] {message}", flush=True)


def main() -> None:
    args = parse_args()
    if args.steps < 1 or args.warmup < 0:
        raise SystemExit("--steps must be >= 1 and --warmup >= 0")
    if args.mode == "compiled" and args.warmup < 1:
        raise SystemExit("--mode compiled needs --warmup >= 1 (compilation happens in the warm-up)")
    device = upstream_env.resolve_device(args.device)
    startup: dict[str, float] = {}

    t = time.perf_counter()
    upstream_env.setup_imports(args.upstream, deterministic=False)
    if device.type == "cpu":
        upstream_env.keep_sampler_on_model_device()  # upstream's DDIMSampler moves its schedule to "cuda"
    from pytorch_lightning import seed_everything
    import world_model_interaction  # noqa: F401  (import cost counted here, as in upstream's script)
    startup["import_s"] = time.perf_counter() - t

    t = time.perf_counter()
    config = upstream_env.prepare_config(args.config, args.upstream, str(device))
    model = upstream_env.build_model(config, fast_init=True)
    startup["build_s"] = time.perf_counter() - t
    t = time.perf_counter()
    model = model.cuda(device) if device.type == "cuda" else model.to(device)
    startup["to_device_s"] = time.perf_counter() - t
    t = time.perf_counter()
    n_params = upstream_env.set_deterministic_weights_fast(model)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    startup["weights_s"] = time.perf_counter() - t
    log(f"model: {n_params / 1e9:.3f} B parameters on {device} (import {startup['import_s']:.1f} s, build "
        f"{startup['build_s']:.1f} s, to device {startup['to_device_s']:.1f} s, weights {startup['weights_s']:.1f} s)")

    replay = None
    if args.replay:
        replay, meta = ui.load_record(args.replay)
        settings = ui.settings_from_metadata(meta, autocast_dtype=ui.autocast_for(args.mode))
        if settings.steps != args.steps:
            raise SystemExit(f"--replay {args.replay} holds {settings.steps} DDIM steps per pass, --steps is {args.steps}")
        inputs = ui.inputs_from_record(replay)
    else:
        settings = ui.IterationSettings(steps=args.steps, autocast_dtype=ui.autocast_for(args.mode))
        h, w = model.image_size
        inputs = ui.synthetic_inputs(h * 8, w * 8, model.agent_state_dim, model.agent_action_dim)
    height, width = inputs["observation.images.top"].shape[-2:]

    if args.mode == "compiled":
        torch.backends.cudnn.benchmark = True
        model.model.diffusion_model.compile(backend=args.compile_backend,
                                            mode="reduce-overhead" if args.cudagraphs else None)
    runner = ui.UpstreamIteration(model, device, settings)

    t = time.perf_counter()
    for i in range(args.warmup):
        seed_everything(ui.SEED)
        runner.run(inputs, replay=replay)
        log(f"warm-up iteration {i + 1}/{args.warmup}: {time.perf_counter() - t:.1f} s")
    startup["warmup_s"] = time.perf_counter() - t

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    profiler = ui.Profiler(device)
    seed_everything(ui.SEED)
    outputs = runner.run(inputs, profiler=profiler, record=bool(args.record), replay=replay)
    sections = profiler.sections()
    memory = ui.memory_stats(device)

    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"upstream ({args.mode}): {device_name}, {args.config}, {args.steps} DDIM steps per pass, "
          f"{args.warmup} warm-up + 1 timed iteration")
    print(ui.profile_table(sections, memory, args.steps), end="", flush=True)

    settings.extra_metadata = {"mode": args.mode, "device": device_name, "torch": torch.__version__,
                               "config": str(args.config), "replayed": str(args.replay or "")}
    if args.record:
        tensors = dict(outputs)
        tensors.update(ui.input_tensors(inputs, settings.fs))
        ui.save_record(args.record, tensors, ui.record_metadata(settings, height, width))
        log(f"wrote {args.record} ({args.record.stat().st_size / 1e6:.1f} MB)")
    if args.summary:
        small = {}
        for p in ui.PASSES:
            small[f"iter0.{p}.output.video256_u8"] = torch.from_numpy(
                psnr.video_to_frames(outputs[f"iter0.{p}.output.video"].numpy()))
            for what in ("latent", "actions", "states"):
                small[f"iter0.{p}.output.{what}"] = outputs[f"iter0.{p}.output.{what}"]
        ui.save_record(args.summary, small, ui.record_metadata(settings, height, width))
        log(f"wrote {args.summary} ({args.summary.stat().st_size / 1e6:.1f} MB)")
    if args.json:
        doc = {"engine": "upstream", "mode": args.mode, "device": device_name, "config": str(args.config),
               "ddim_steps": args.steps, "warmup": args.warmup, "sections": sections, "memory": memory,
               "denoiser_step_ms": ui.step_ms(sections, args.steps), "decode_s": ui.decode_s(sections),
               "startup": startup, "parameters": n_params, "torch": torch.__version__,
               "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
               "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
               "cudnn_benchmark": torch.backends.cudnn.benchmark, "cudagraphs": bool(args.cudagraphs)}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
