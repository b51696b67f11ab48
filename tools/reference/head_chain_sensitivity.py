#!/usr/bin/env python3
"""How far upstream's own 50-step actions and states move when the heads' outputs change by one ulp.

  python3 tools/reference/head_chain_sensitivity.py --upstream .upstream [--steps 50]

Reruns the e2e_policy_n<steps> pass of the fixtures (it must equal the fixture exactly), then again with every
step's action/state eps multiplied by float32(1 + 1e-7), one ulp above 1, and prints the max relative change of
the latent, actions and states (docs/fixtures.md, "Numerics of the recording machine"). A few minutes per pass.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

import configs  # noqa: E402
import upstream_env  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", type=Path, required=True)
    p.add_argument("--steps", type=int, default=50)
    args = p.parse_args()
    upstream_env.setup_imports(args.upstream)
    upstream_env.keep_sampler_on_model_device()
    import fixtures_wma
    from fixtures_components import fixture_prompts
    from safetensors.torch import load_file

    model = upstream_env.build_model(configs.tiny_config(args.upstream))
    upstream_env.set_deterministic_weights(model)
    prompt = fixture_prompts(args.upstream)[1]
    fixture = load_file(str(upstream_env.REPO_ROOT / "tests" / "fixtures" / f"e2e_policy_n{args.steps}.safetensors"))

    def run(factor: float) -> dict[str, torch.Tensor]:
        obs = fixtures_wma.observation_inputs(configs.TINY_VIDEO_HW, seed=51)
        torch.manual_seed(123)
        apply = model.apply_model

        def scaled(*a, **k):
            v, action_eps, state_eps = apply(*a, **k)
            return v, action_eps * factor, state_eps * factor

        model.apply_model = scaled
        try:
            with torch.no_grad():
                return fixtures_wma.PassRecorder(model).run(prompt, obs, args.steps, False, trace=False)
        finally:
            model.__dict__.pop("apply_model", None)  # PassRecorder removes its own wrapper, and with it ours

    def rel(x: torch.Tensor, y: torch.Tensor) -> float:
        return float((x - y).abs().max() / y.abs().max())

    base = run(1.0)
    keys = ("output.latent", "output.actions", "output.states")
    for k in keys:
        print(f"rerun vs fixture {k}: {rel(base[k], fixture[k]):.3g}", flush=True)
    ulp = float(torch.tensor(1 + 1e-7, dtype=torch.float32))
    moved = run(ulp)
    for k in keys:
        print(f"heads' eps x {ulp!r} on every step: {k} moves by {rel(moved[k], base[k]):.3g}", flush=True)


if __name__ == "__main__":
    main()
