#!/usr/bin/env python3
"""tests/fixtures/multistep.safetensors: diffusers' own DPMSolverMultistepScheduler (dpmsolver++, order 2) and
UniPCMultistepScheduler (bh2, order 2) stepped over recorded pseudo model outputs, every step's sample kept.

  /work/venv-ref/bin/python tools/reference/make_multistep_fixtures.py --out tests/fixtures

Needs only torch and diffusers (no upstream checkout). The model outputs are seeded normal draws, one per step
and independent of the sample, so the C++ test (tests/sampling/test_multistep_fixture.cpp) replays them exactly;
what the solvers do with them still depends on the sample through the data prediction. A second run writes a
byte-identical file on the same machine.

Two schedules, both at the trailing timesteps the video and the heads share:
- video: upstream's linear betas (make_beta_schedule('linear'), float64 here, handed to diffusers as
  trained_betas) with diffusers' own zero-terminal-SNR rescale, v-prediction. Upstream's dynamic rescale
  (scale_arr) has no diffusers counterpart, so the fixture covers scale 1.
- heads: squaredcos_cap_v2, epsilon, x0 clipped to [-1, 1]: diffusers' thresholding with sample_max_value 1
  clamps the threshold s to exactly 1, i.e. a plain clip.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixture_io import as_array, save_safetensors  # noqa: E402

SHAPE = (2, 4, 3, 5)
STEPS = (6, 16)
SEED = 18


def upstream_linear_betas(n: int = 1000, start: float = 0.00085, end: float = 0.012) -> np.ndarray:
    return np.linspace(start ** 0.5, end ** 0.5, n, dtype=np.float64) ** 2


def schedule_config(kind: str) -> dict:
    common = dict(num_train_timesteps=1000, solver_order=2, timestep_spacing="trailing",
                  final_sigmas_type="zero", lower_order_final=True)
    if kind == "video":
        return dict(common, trained_betas=upstream_linear_betas(), rescale_betas_zero_snr=True,
                    prediction_type="v_prediction")
    return dict(common, beta_schedule="squaredcos_cap_v2", prediction_type="epsilon",
                thresholding=True, sample_max_value=1.0)


def make_scheduler(solver: str, kind: str):
    from diffusers import DPMSolverMultistepScheduler, UniPCMultistepScheduler
    config = schedule_config(kind)
    if solver == "dpmpp_2m":
        return DPMSolverMultistepScheduler(algorithm_type="dpmsolver++", solver_type="midpoint", **config)
    return UniPCMultistepScheduler(solver_type="bh2", predict_x0=True, disable_corrector=[], **config)


def record(tensors: dict[str, np.ndarray], solver: str, kind: str, steps: int) -> None:
    scheduler = make_scheduler(solver, kind)
    scheduler.set_timesteps(steps)
    prefix = f"{solver}.{kind}.{steps}."
    generator = torch.Generator().manual_seed(SEED * 1000 + steps)
    sample = torch.randn(SHAPE, generator=generator)
    samples, outputs = [sample], []
    for t in scheduler.timesteps:
        output = torch.randn(SHAPE, generator=generator)
        sample = scheduler.step(output, t, sample).prev_sample
        outputs.append(output)
        samples.append(sample)
    tensors[prefix + "timesteps"] = as_array(scheduler.timesteps)
    tensors[prefix + "model_outputs"] = as_array(torch.stack(outputs))
    tensors[prefix + "samples"] = as_array(torch.stack(samples))
    tensors.setdefault(f"{kind}.alphas_cumprod", as_array(scheduler.alphas_cumprod))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="tests/fixtures")
    args = parser.parse_args()
    import diffusers
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    tensors: dict[str, np.ndarray] = {}
    for solver in ("dpmpp_2m", "unipc"):
        for kind in ("video", "heads"):
            for steps in STEPS:
                record(tensors, solver, kind, steps)
    metadata = {
        "what": "diffusers DPMSolverMultistepScheduler (dpmsolver++, midpoint, order 2) and UniPCMultistepScheduler "
                "(bh2, order 2), trailing spacing, final_sigmas_type zero, lower_order_final: "
                "<solver>.<video|heads>.<N>.{timesteps [N], model_outputs [N, ...], samples [N + 1, ...]} "
                "(samples[0] = x_T, samples[k + 1] after step k), <video|heads>.alphas_cumprod [1000]",
        "config": f"shape {list(SHAPE)}, steps {list(STEPS)}, seed {SEED}",
        "upstream": f"diffusers {diffusers.__version__}, torch {torch.__version__} (CPU)",
    }
    path = args.out / "multistep.safetensors"
    save_safetensors(path, tensors, metadata)
    print(f"wrote {path}: {len(tensors)} tensors, {path.stat().st_size / 1e3:.1f} kB")


if __name__ == "__main__":
    main()
