#!/usr/bin/env python3
"""A dump in the format of `wma bench --dump`, taken from upstream itself, to test make_fixtures.py --compare.

  python3 tools/reference/make_dump.py --upstream .upstream --config tests/fixtures/configs/tiny.yaml \
      --device cpu --steps 2 --record REC.safetensors --out DUMP.safetensors [--perturb KEY]

Runs the iteration once (seed 123), writes its record, and writes the dump tensors as they occur inside
upstream's own pipeline (captured by hooks, not by the direct module calls that --compare makes): the
conditioning handed to DDIMSampler.sample (split into state / action / text / image tokens), the VAE latents
from encode_first_stage, the first apply_model outputs of each pass, and the decoded videos. So
`make_fixtures.py --full-size --compare DUMP --record REC --config <same yaml> --device cpu` must report
~0 everywhere, and a dump written with --perturb KEY (that tensor times 1 + 1e-3) must show max rel 1e-3 there.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import upstream_env  # noqa: E402
import upstream_iteration as ui  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", type=Path, required=True)
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--record", type=Path, required=True, help="record of the iteration (written)")
    p.add_argument("--out", type=Path, required=True, help="the dump (written)")
    p.add_argument("--perturb", help="multiply this dump tensor by 1 + 1e-3")
    args = p.parse_args()

    device = upstream_env.resolve_device(args.device)
    upstream_env.setup_imports(args.upstream, deterministic=device.type == "cpu")
    if device.type == "cpu":
        upstream_env.keep_sampler_on_model_device()
    from einops import rearrange
    from pytorch_lightning import seed_everything
    config = upstream_env.prepare_config(args.config, args.upstream, str(device))
    model = upstream_env.build_model(config, fast_init=True).to(device)
    upstream_env.set_deterministic_weights_fast(model)

    settings = ui.IterationSettings(steps=args.steps)
    h, w = model.image_size
    inputs = ui.synthetic_inputs(h * 8, w * 8, model.agent_state_dim, model.agent_action_dim)
    seed_everything(ui.SEED)
    with ui.capture_dump(model, args.steps) as captured:
        record = ui.UpstreamIteration(model, device, settings).run(inputs, record=True)
    record.update(ui.input_tensors(inputs, settings.fs))
    ui.save_record(args.record, record, ui.record_metadata(settings, h * 8, w * 8))

    n_obs = inputs["observation.images.top"].shape[2]
    n_state, n_action, n_text = inputs["observation.state"].shape[1], inputs["action"].shape[1], 77
    dump = {}
    for i, pass_name in enumerate(ui.PASSES):
        context = captured["cond"][i]["c_crossattn"][0]
        parts = ui.split_context(context, n_state, n_action, n_text)
        parts["z"] = rearrange(captured["z"][i], "(b t) c h w -> b c t h w", t=n_obs)
        parts["step0.v"], parts["step0.action_eps"], parts["step0.state_eps"] = captured["step0"][i]
        parts["decode"] = record[f"iter0.{pass_name}.output.video"]
        for k, v in parts.items():
            dump[f"dump.{pass_name}.{k}"] = v.detach().float().cpu().contiguous()
    if args.perturb:
        if args.perturb not in dump:
            raise SystemExit(f"--perturb {args.perturb}: no such dump tensor ({', '.join(sorted(dump))})")
        dump[args.perturb] = dump[args.perturb] * (1 + 1e-3)
    ui.save_record(args.out, dump, {"what": "dump.<pass>.<part> taken from upstream by tools/reference/make_dump.py",
                                    "perturbed": args.perturb or ""})
    print(f"wrote {args.record} and {args.out} ({len(dump)} tensors)")


if __name__ == "__main__":
    main()
