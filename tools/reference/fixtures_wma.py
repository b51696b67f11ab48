"""Fixtures for WMAModel (both passes, hs_a, heads) and end-to-end sampling calls and the interaction loop."""
from __future__ import annotations

import contextlib
from collections import deque
from typing import Iterator

import torch

from fixture_io import Fixture, FixtureWriter
from fixtures_components import fixture_prompts, generator, test_image
from upstream_env import record_randn

FS = 7  # 30 // frame_stride 4, the Z1 datasets' conditioning value
ORI_DIM = 14  # dual-arm Z1: dims 14, 15 of actions/states are padding
SPACING = "uniform_trailing"
ETA = 1.0
GUIDANCE_RESCALE = 0.7


def noise_shape(model: torch.nn.Module) -> tuple[int, int, int, int, int]:
    h, w = model.image_size
    return (1, model.channels, model.temporal_length, h, w)


def observation_inputs(video_hw: tuple[int, int], seed: int) -> dict[str, torch.Tensor]:
    """Observation dict as the interaction loop stacks it: images [B,C,O,H,W], state [B,O,16], action [B,16,16]."""
    g = generator(seed)
    images = test_image((1, 2, 3, *video_hw), seed=seed).permute(0, 2, 1, 3, 4).contiguous()
    state = torch.rand(1, 2, 16, generator=g) * 2 - 1
    state[..., ORI_DIM:] = 0
    action = torch.rand(1, 16, 16, generator=g) * 2 - 1
    action[..., ORI_DIM:] = 0
    return {"observation.images.top": images, "observation.state": state, "action": action}


def conditioning(model: torch.nn.Module, prompt: str, obs: dict[str, torch.Tensor], sim_mode: bool,
                 seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """c_concat and c_crossattn exactly as image_guided_synthesis_sim_mode builds them."""
    from einops import rearrange, repeat
    from world_model_interaction import get_latent_z
    img = obs["observation.images.top"].permute(0, 2, 1, 3, 4)
    cond_img = rearrange(img, "b o c h w -> (b o) c h w")[-1:]
    img_emb = model.image_proj_model(model.embedder(cond_img))
    torch.manual_seed(seed)
    z = get_latent_z(model, img.permute(0, 2, 1, 3, 4))
    c_concat = repeat(z[:, :, -1:], "b c t h w -> b c (repeat t) h w", repeat=model.temporal_length)
    text = model.get_learned_conditioning([prompt])
    state_emb = model.state_projector(obs["observation.state"]) + model.agent_state_pos_emb
    action_emb = model.action_projector(obs["action"]) + model.agent_action_pos_emb
    if not sim_mode:
        action_emb = torch.zeros_like(action_emb)
    return c_concat, torch.cat([state_emb, action_emb, text, img_emb], dim=1)


@contextlib.contextmanager
def capture_hs_a(unet: torch.nn.Module) -> Iterator[list[list[torch.Tensor]]]:
    """hs_a is local to WMAModel.forward; the action head receives it as its third argument."""
    captured: list[list[torch.Tensor]] = []
    handle = unet.action_unet.register_forward_pre_hook(
        lambda _m, args: captured.append([h.detach().clone() for h in args[2]]))
    try:
        yield captured
    finally:
        handle.remove()


def wma_fixture(model: torch.nn.Module, config_name: str, prompt: str, video_hw: tuple[int, int],
                sim_mode: bool, t: int) -> Fixture:
    name = "wma_world" if sim_mode else "wma_policy"
    pass_name = "world-model pass (sim_mode, text '')" if sim_mode else "policy pass (action embedding zeroed)"
    fx = Fixture(name, f"WMAModel forward, {pass_name}: v prediction, the 9 hs_a features handed to the heads, "
                 "action and state head eps", config_name,
                 "WMAModel.forward via DiffusionWrapper (conditioning_key hybrid); context built as in "
                 "image_guided_synthesis_sim_mode")
    obs = observation_inputs(video_hw, seed=41 if sim_mode else 42)
    c_concat, context = conditioning(model, "" if sim_mode else prompt, obs, sim_mode, seed=43)
    g = generator(44 if sim_mode else 45)
    x_noisy = torch.randn(noise_shape(model), generator=g)
    xc = torch.cat([x_noisy, c_concat], dim=1)
    x_action = torch.randn(1, 16, 16, generator=g)
    x_state = torch.randn(1, 16, 16, generator=g)
    timesteps = torch.tensor([t], dtype=torch.long)
    fs = torch.tensor([FS], dtype=torch.long)
    obs_images = obs["observation.images.top"][:, :, -model.n_obs_steps_acting:]
    obs_state = obs["observation.state"][:, -model.n_obs_steps_acting:]
    unet = model.model.diffusion_model
    with capture_hs_a(unet) as hs_a:
        v, a_eps, s_eps = unet(xc, x_action, x_state, timesteps, context=context,
                               context_action=[obs_images, obs_state, sim_mode, False], fs=fs)
    for key, value in (("x", xc), ("x_action", x_action), ("x_state", x_state), ("timesteps", timesteps),
                       ("context", context), ("obs_images", obs_images), ("obs_state", obs_state), ("fs", fs)):
        fx.add(f"input.{key}", value)
    fx.add("output.v", v)
    fx.add("output.action_eps", a_eps)
    fx.add("output.state_eps", s_eps)
    for i, h in enumerate(hs_a[0]):
        fx.add(f"output.hs_a.{i}", h)
    fx.metadata["prompt"] = "" if sim_mode else prompt
    return fx


class PassRecorder:
    """Runs image_guided_synthesis_sim_mode once, recording every randn draw, the final latent and per-step outputs."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    def run(self, prompt: str, obs: dict[str, torch.Tensor], steps: int, sim_mode: bool,
            trace: bool, probe_steps: tuple[int, ...] = ()) -> dict[str, torch.Tensor]:
        """trace: every step's model outputs; probe_steps: the inputs and outputs of these steps (0 = first)."""
        from world_model_interaction import image_guided_synthesis_sim_mode
        model = self.model
        latents: list[torch.Tensor] = []
        inputs: list[tuple[torch.Tensor, ...]] = []
        outputs: list[tuple[torch.Tensor, ...]] = []
        decode, apply = model.decode_first_stage, model.apply_model

        def decode_recorded(z, **kw):
            latents.append(z.detach().clone())
            return decode(z, **kw)

        def apply_recorded(*args, **kw):
            inputs.append(tuple(a.detach().clone() for a in args[:4]))  # x_t, action_t, state_t, t
            out = apply(*args, **kw)
            outputs.append(tuple(o.detach().clone() for o in out))
            return out

        model.decode_first_stage, model.apply_model = decode_recorded, apply_recorded
        try:
            with record_randn() as draws:
                video, actions, states = image_guided_synthesis_sim_mode(
                    model, prompt, {k: v.clone() for k, v in obs.items()}, noise_shape(model),
                    ddim_steps=steps, ddim_eta=ETA, unconditional_guidance_scale=1.0, fs=FS,
                    text_input=not sim_mode, timestep_spacing=SPACING, guidance_rescale=GUIDANCE_RESCALE,
                    sim_mode=sim_mode)
        finally:
            del model.decode_first_stage, model.apply_model
        n_obs = obs["observation.images.top"].shape[2]
        if len(draws) != n_obs + 3 + steps:
            raise RuntimeError(f"expected {n_obs + 3 + steps} randn draws, got {len(draws)}")
        rec = {f"noise.posterior.{i}": draws[i] for i in range(n_obs)}
        rec["noise.x_T"], rec["noise.action_T"], rec["noise.state_T"] = draws[n_obs:n_obs + 3]
        rec["noise.step"] = torch.stack(draws[n_obs + 3:])
        rec["output.latent"] = latents[0]
        rec["output.video"] = video
        rec["output.actions"] = actions
        rec["output.states"] = states
        if trace:
            for j, name in enumerate(("v", "action_eps", "state_eps")):
                rec[f"trace.{name}"] = torch.stack([o[j] for o in outputs])
        if probe_steps:
            rec["probe.step"] = torch.tensor(probe_steps)
            for j, name in enumerate(("x", "action", "state", "t")):
                rec[f"probe.{name}"] = torch.stack([inputs[k][j] for k in probe_steps])
            for j, name in enumerate(("v", "action_eps", "state_eps")):
                rec[f"probe.{name}"] = torch.stack([outputs[k][j] for k in probe_steps])
        return rec


def e2e_fixture(model: torch.nn.Module, config_name: str, prompt: str, video_hw: tuple[int, int],
                steps: int, sim_mode: bool) -> Fixture:
    kind = "world" if sim_mode else "policy"
    # Long runs: the action/state chain amplifies last-bit differences of the heads step after step (see
    # docs/fixtures.md), so a few steps' model inputs and outputs are kept to compare the model where upstream
    # ran it. Their video is left out for size: the decode is the N=4 fixtures' and the latent is kept.
    long_run = steps > 4
    probe_steps = (0, steps // 2 - 1, steps - 1) if long_run else ()
    fx = Fixture(f"e2e_{kind}_n{steps}",
                 f"One {kind} sampling call end to end: conditioning, {steps} DDIM steps ({SPACING}, eta {ETA}, "
                 "v-pred video + diffusers DDIM heads), per-frame VAE decode; every torch.randn draw recorded in "
                 "call order (posterior noise per observation frame, x_T, action_T, state_T, one per step)"
                 + ("; probe.* = the model inputs (x, action, state, t) and outputs (v, action_eps, state_eps) of "
                    f"steps {list(probe_steps)}, no output.video" if long_run else
                    "; trace.* = model outputs per step"),
                 config_name, "scripts/evaluation/world_model_interaction.py image_guided_synthesis_sim_mode "
                 f"(sim_mode={sim_mode}, text_input={not sim_mode})")
    obs = observation_inputs(video_hw, seed=51)
    for k, v in obs.items():
        fx.add(f"input.{k}", v)
    fx.add("input.fs", torch.tensor([FS]))
    fx.metadata.update({"prompt": "" if sim_mode else prompt, "ddim_steps": str(steps), "ddim_eta": str(ETA),
                        "timestep_spacing": SPACING, "guidance_rescale": str(GUIDANCE_RESCALE)})
    torch.manual_seed(123)
    rec = PassRecorder(model).run(prompt, obs, steps, sim_mode, trace=not long_run, probe_steps=probe_steps)
    for k, v in rec.items():
        if not (long_run and k == "output.video"):
            fx.add(k, v)
    return fx


def loop_fixture(model: torch.nn.Module, config_name: str, prompt: str, video_hw: tuple[int, int],
                 steps: int, iterations: int) -> Fixture:
    from eval_utils import populate_queues
    fx = Fixture(f"loop_n{steps}", f"World-model interaction loop, {iterations} iterations of (policy call, world "
                 f"call) at {steps} DDIM steps, queues as in world_model_interaction.py (ori dims {ORI_DIM}); per "
                 "call every randn draw, the latent, actions/states; the last world call's decoded video; the "
                 "queues after each iteration (they hold the fed-back decoded frames 14-15)", config_name,
                 "world_model_interaction.py run_inference loop body + eval_utils.populate_queues + "
                 "image_guided_synthesis_sim_mode")
    fx.metadata.update({"prompt": prompt, "ddim_steps": str(steps), "ori_action_dim": str(ORI_DIM),
                        "ori_state_dim": str(ORI_DIM), "iterations": str(iterations)})
    g = generator(61)
    init_image = test_image((1, 3, *video_hw), seed=62)
    init_state = torch.rand(1, 16, generator=g) * 2 - 1
    init_state[:, ORI_DIM:] = 0
    fx.add("input.image", init_image)
    fx.add("input.state", init_state)
    fx.add("input.fs", torch.tensor([FS]))
    queues = {"observation.images.top": deque(maxlen=model.n_obs_steps_imagen),
              "observation.state": deque(maxlen=model.n_obs_steps_imagen),
              "action": deque(maxlen=model.temporal_length)}
    populate_queues(queues, {"observation.images.top": init_image, "observation.state": init_state,
                             "action": torch.zeros(1, 16)})
    recorder = PassRecorder(model)
    torch.manual_seed(123)

    def stacked() -> dict[str, torch.Tensor]:
        return {"observation.images.top": torch.stack(list(queues["observation.images.top"]), dim=1)
                .permute(0, 2, 1, 3, 4),
                "observation.state": torch.stack(list(queues["observation.state"]), dim=1),
                "action": torch.stack(list(queues["action"]), dim=1)}

    for itr in range(iterations):
        policy = recorder.run(prompt, stacked(), steps, sim_mode=False, trace=False)
        pred_actions = policy["output.actions"]
        for k, v in policy.items():
            if k != "output.video":  # not fed back; the decode is covered by the world calls
                fx.add(f"iter{itr}.policy.{k}", v)
        for idx in range(pred_actions.shape[1]):
            step = {"action": pred_actions[0][idx:idx + 1]}
            step["action"][:, ORI_DIM:] = 0.0
            populate_queues(queues, step)
        world = recorder.run("", stacked(), steps, sim_mode=True, trace=False)
        for k, v in world.items():
            # Size: earlier videos are checked through their latents and the frames they leave in the queue.
            if k != "output.video" or itr == iterations - 1:
                fx.add(f"iter{itr}.world.{k}", v)
        pred_videos, pred_states = world["output.video"], world["output.states"]
        for idx in range(model.temporal_length):
            step = {"observation.images.top": pred_videos[0][:, idx:idx + 1].permute(1, 0, 2, 3),
                    "observation.state": pred_states[0][idx:idx + 1],
                    "action": torch.zeros_like(pred_actions[0][-1:])}
            step["observation.state"][:, ORI_DIM:] = 0.0
            populate_queues(queues, step)
        for k, v in stacked().items():
            fx.add(f"iter{itr}.queue.{k}", v)
    return fx


def write_wma(model: torch.nn.Module, writer: FixtureWriter, config_name: str, upstream, video_hw,
              parts: set[str], steps_list: tuple[int, ...], loop_steps: int) -> None:
    prompt = fixture_prompts(upstream)[1]
    if "wma" in parts:
        writer.write(wma_fixture(model, config_name, prompt, video_hw, sim_mode=False, t=999))
        writer.write(wma_fixture(model, config_name, prompt, video_hw, sim_mode=True, t=519))
    if "e2e" in parts:
        for steps in steps_list:
            writer.write(e2e_fixture(model, config_name, prompt, video_hw, steps, sim_mode=False))
            writer.write(e2e_fixture(model, config_name, prompt, video_hw, steps, sim_mode=True))
    if "loop" in parts:
        writer.write(loop_fixture(model, config_name, prompt, video_hw, loop_steps, iterations=2))
