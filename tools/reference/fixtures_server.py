"""Fixture for the policy server: one request through upstream's scripts/evaluation/real_eval_server.py.

Server.predict_action moves tensors to CUDA and needs the data module, so its glue (a dozen lines) is
repeated here on the CPU in the same order, calling upstream's own parts: the WMAData spatial transform on
the request's integer tensor, the min_max Normalize / Unnormalize, _map_to_uni_state/_map_to_uni_action,
and real_eval_server.image_guided_synthesis (context [state | text | image], no action tokens).
"""
from __future__ import annotations

import sys
import types
from types import SimpleNamespace

import torch

from fixture_io import Fixture
from fixtures_components import generator, test_image
from fixtures_wma import ETA, GUIDANCE_RESCALE, SPACING, noise_shape
from upstream_env import record_randn

STATE_DIM = 7
ACTION_DIM = 7
FRAME_STRIDE = 2  # run_real_eval_server.sh
REQUEST_HW = (48, 80)  # the tiny model takes 64x64: Resize(64) upsamples to 64x106 (non-integer pixels), crop 64


def stub_unused_imports() -> None:
    """real_eval_server imports its web stack and wma_data a video reader at module level; neither is used here."""
    stubs = {"uvicorn": {}, "fastapi": {"FastAPI": object}, "fastapi.responses": {"JSONResponse": dict},
             "matplotlib": {}, "matplotlib.pyplot": {"switch_backend": lambda *_: None},
             "decord": {"VideoReader": object, "cpu": lambda *_: None}}
    for name, attrs in stubs.items():
        if name not in sys.modules:
            module = types.ModuleType(name)
            module.__dict__.update(attrs)
            sys.modules[name] = module
    sys.modules["matplotlib"].pyplot = sys.modules["matplotlib.pyplot"]


def server_fixture(model: torch.nn.Module, config_name: str, prompt: str, video_hw: tuple[int, int],
                   steps: int) -> Fixture:
    stub_unused_imports()
    import real_eval_server as server
    from torchvision import transforms
    from unifolm_wma.data.normolize import Normalize, Unnormalize
    from unifolm_wma.data.wma_data import WMAData

    fx = Fixture(f"server_decision_n{steps}",
                 f"One POST /predict_action of real_eval_server.py: request images [2,3,{REQUEST_HW[0]},"
                 f"{REQUEST_HW[1]}] (integers) and raw states [2,{STATE_DIM}], {steps} DDIM steps ({SPACING}, eta "
                 f"{ETA}), fs 30/{FRAME_STRIDE}; every torch.randn draw in call order; the prepared observation, the "
                 "final latent, the normalised and the answered (un-normalised, robot dims) actions",
                 config_name, "scripts/evaluation/real_eval_server.py Server.predict_action + image_guided_synthesis")
    g = generator(71)
    images = torch.round((test_image((2, 3, *REQUEST_HW), seed=72) + 1) * 127.5).to(torch.int64).clamp(0, 255)
    stats = {"action": {"min": torch.rand(ACTION_DIM, generator=g) * 2 - 3,
                        "max": torch.rand(ACTION_DIM, generator=g) * 2 + 1},
             "observation.state": {"min": torch.rand(STATE_DIM, generator=g) - 2,
                                   "max": torch.rand(STATE_DIM, generator=g) + 1}}
    states = torch.rand(2, STATE_DIM, generator=g) * 2 - 0.5
    actions = torch.zeros(model.temporal_length, ACTION_DIM)
    fx.add("input.images", images)
    fx.add("input.states", states)
    for feature, mm in stats.items():
        for stat, value in mm.items():
            fx.add(f"{feature}/{stat}", value)
    fx.metadata.update({"prompt": prompt, "ddim_steps": str(steps), "ddim_eta": str(ETA), "timestep_spacing": SPACING,
                        "frame_stride": str(FRAME_STRIDE), "guidance_rescale": str(GUIDANCE_RESCALE)})

    # Server.predict_action, on the CPU.
    h, w = video_hw
    spatial_transform = transforms.Compose([transforms.Resize(min(h, w)), transforms.CenterCrop([h, w])])
    shapes = {"action": [ACTION_DIM], "observation.state": [STATE_DIM]}
    modes = {"action": "min_max", "observation.state": "min_max"}
    data = SimpleNamespace(max_state_dim=16, max_action_dim=16)
    obs_images = (spatial_transform(images).unsqueeze(0) / 255 - 0.5) * 2
    obs_state = Normalize(shapes, modes, stats)({"observation.state": states.clone()})["observation.state"]
    obs_state, _ = WMAData._map_to_uni_state(data, obs_state, "joint position")
    obs_action, action_mask = WMAData._map_to_uni_action(data, actions, "joint position")
    observation = {"observation.images.top": obs_images, "observation.state": obs_state.unsqueeze(0),
                   "action": obs_action.unsqueeze(0)}
    fx.add("prepared.observation.images.top", obs_images)
    fx.add("prepared.observation.state", observation["observation.state"])

    latents: list[torch.Tensor] = []
    decode = model.decode_first_stage

    def decode_recorded(z, **kw):
        latents.append(z.detach().clone())
        return decode(z, **kw)

    model.decode_first_stage = decode_recorded
    torch.manual_seed(123)
    try:
        with record_randn() as draws:
            _, pred_action, _ = server.image_guided_synthesis(
                model, prompt, observation, noise_shape(model), ddim_steps=steps, ddim_ets=ETA,
                unconditional_guidance_scale=1.0, fs=30 / FRAME_STRIDE, timestep_spacing=SPACING,
                guidance_rescale=GUIDANCE_RESCALE)
    finally:
        del model.decode_first_stage
    n_obs = images.shape[0]
    if len(draws) != n_obs + 3 + steps:
        raise RuntimeError(f"expected {n_obs + 3 + steps} randn draws, got {len(draws)}")
    for i in range(n_obs):
        fx.add(f"noise.posterior.{i}", draws[i])
    fx.add("noise.x_T", draws[n_obs])
    fx.add("noise.action_T", draws[n_obs + 1])
    fx.add("noise.state_T", draws[n_obs + 2])
    fx.add("noise.step", torch.stack(draws[n_obs + 3:]))
    fx.add("output.latent", latents[0])
    fx.add("output.actions_normalised", pred_action)
    answer = pred_action[..., action_mask[0] == 1.0][0].cpu()
    answer = Unnormalize(shapes, modes, stats)({"action": answer})["action"]
    fx.add("output.action", answer)
    return fx
