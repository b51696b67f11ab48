"""One interaction iteration of upstream's world_model_interaction.py, timed, recorded or replayed.

Shared by bench/upstream/run_upstream.py (side-by-side benchmark) and make_fixtures.py --full-size --compare.
The iteration is the body of run_inference's loop for itr 0: the policy pass (sim_mode=False, the instruction)
-> the predicted actions pushed into the action queue (padding dims zeroed, as upstream does in place) -> the
world-model pass (sim_mode=True, prompt ""), each pass upstream's own image_guided_synthesis_sim_mode
(conditioning, DDIM sampling, per-frame VAE decode). Nothing of upstream is re-implemented: the timers and
recorders wrap upstream's functions.
"""
from __future__ import annotations

import contextlib
import resource
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

# unitree_z1_stackbox as upstream's run_world_model_interaction.sh runs it: csv fps 30, --frame_stride 4
# -> model_input_fs = 30 // 4 = 7; the Z1 arm has 7 action/state dims (the rest of the 16 is padding).
DATASET = "unitree_z1_stackbox"
PROMPT = "Stack the blocks in the rectangular block: red at the bottom, yellow in the middle, green on top."
FS = 30 // 4
ORI_DIM = 7
SPACING = "uniform_trailing"
ETA = 1.0
GUIDANCE_SCALE = 1.0
GUIDANCE_RESCALE = 0.7
SEED = 123
PASSES = ("policy", "world")


# ---------------------------------------------------------------------------------------------------- inputs

def synthetic_inputs(height: int, width: int, state_dim: int = 16, action_dim: int = 16,
                     ori_dim: int = ORI_DIM) -> dict[str, torch.Tensor]:
    """The observation queues at the start of the iteration, in upstream's layouts (documented in
    bench/upstream/README.md). Computed in float64, rounded once to float32.

    images [1,3,2,H,W] (B,C,O,H,W, older frame first), u = x/W, v = y/H, frame o, channel c:
      0.6 sin(2 pi ((c+1) u + (2-c) v) + 0.7 o + c) + 0.3 cos(10 pi u v + c),
      inside the box |u - 0.5 - 0.05 o| < 0.12 and |v - 0.6| < 0.15: (0.8, -0.2, -0.6)[c]
    state [1,2,16]: 0.5 sin(1.3 d + 0.4 o + 0.1) for d < ori_dim, 0 for the padding
    action [1,16,16]: zeros (the queue after an episode start; the policy pass zeroes its embedding anyway)
    """
    v, u = np.meshgrid(np.arange(height) / height, np.arange(width) / width, indexing="ij")
    images = np.zeros((1, 3, 2, height, width))
    box_colour = (0.8, -0.2, -0.6)
    for o in range(2):
        box = (np.abs(u - 0.5 - 0.05 * o) < 0.12) & (np.abs(v - 0.6) < 0.15)
        for c in range(3):
            img = 0.6 * np.sin(2 * np.pi * ((c + 1) * u + (2 - c) * v) + 0.7 * o + c) \
                + 0.3 * np.cos(10 * np.pi * u * v + c)
            images[0, c, o] = np.where(box, box_colour[c], img)
    d = np.arange(state_dim)
    state = np.stack([np.where(d < ori_dim, 0.5 * np.sin(1.3 * d + 0.4 * o + 0.1), 0.0) for o in range(2)])[None]
    action = np.zeros((1, 16, action_dim))
    as32 = lambda a: torch.from_numpy(a.astype(np.float32))  # noqa: E731
    return {"observation.images.top": as32(images), "observation.state": as32(state), "action": as32(action)}


# --------------------------------------------------------------------------------------------------- profile

class Profiler:
    """Sections with count / total / average, like src/pipeline/profile.cpp; synchronises the device at each
    boundary (as ours does) and nowhere else."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.stats: dict[str, list[float]] = {}

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def add(self, name: str, seconds: float) -> None:
        stat = self.stats.setdefault(name, [0, 0.0])
        stat[0] += 1
        stat[1] += seconds

    @contextlib.contextmanager
    def section(self, name: str) -> Iterator[None]:
        self.sync()
        start = time.perf_counter()
        yield
        self.sync()
        self.add(name, time.perf_counter() - start)

    def total(self, name: str) -> float:
        return self.stats.get(name, [0, 0.0])[1]

    def sections(self) -> dict[str, dict[str, float]]:
        order = ["iteration_total", "action_generation", "world_model_interaction", "synthesis/conditioning_prep",
                 "synthesis/ddim_sampling", "synthesis/decode_first_stage"]
        names = [n for n in order if n in self.stats] + [n for n in self.stats if n not in order]
        return {n: {"count": int(self.stats[n][0]), "total_s": self.stats[n][1],
                    "average_s": self.stats[n][1] / self.stats[n][0]} for n in names}


def memory_stats(device: torch.device) -> dict[str, int]:
    """Key names as `wma bench` writes them (peak_<name>_bytes)."""
    out = {"peak_host_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        out["peak_gpu_allocated_bytes"] = torch.cuda.max_memory_allocated(device)
        out["peak_gpu_reserved_bytes"] = torch.cuda.max_memory_reserved(device)
        out["peak_gpu_device_used_bytes"] = total - free
    return out


def profile_table(sections: dict[str, dict[str, float]], memory: dict[str, int], steps: int) -> str:
    """The table of src/pipeline/profile.cpp plus the two summary lines of `wma bench`."""
    lines = [f"{'section':<34} {'count':>7} {'total (s)':>12} {'average (s)':>12}", "-" * 68]
    for name, s in sections.items():
        lines.append(f"{name:<34} {s['count']:>7d} {s['total_s']:>12.3f} {s['average_s']:>12.4f}")
    for key, value in memory.items():
        name = key.removeprefix("peak_").removesuffix("_bytes")
        lines.append(f"peak {name}: {value / 1048576.0:.1f} MiB" if name != "host"
                     else f"peak host memory: {value / 1048576.0:.1f} MiB")
    lines.append(f"denoiser step (mean over both passes): {step_ms(sections, steps):.2f} ms")
    lines.append(f"VAE decode (16 frames, mean): {decode_s(sections):.3f} s")
    return "\n".join(lines) + "\n"


def step_ms(sections: dict[str, dict[str, float]], steps: int) -> float:
    """Mean wall time of one DDIM step (UNet + heads + update), as `wma bench` reports it."""
    s = sections["synthesis/ddim_sampling"]
    return 1e3 * s["total_s"] / (s["count"] * steps)


def decode_s(sections: dict[str, dict[str, float]]) -> float:
    return sections["synthesis/decode_first_stage"]["average_s"]


# ------------------------------------------------------------------------------------------ noise and hooks

class NoiseTape:
    """torch.randn, recorded (kept on its device: no host sync inside the loop) or replayed from a record."""

    def __init__(self, recording: bool, replaying: bool) -> None:
        self.recording, self.replaying = recording, replaying
        self.draws: list[torch.Tensor] = []
        self.replay: deque[torch.Tensor] = deque()

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Patches torch.randn only when recording or replaying: a plain timed run calls torch's own."""
        if not (self.recording or self.replaying):
            yield
            return
        original = torch.randn

        def randn(*args, **kwargs) -> torch.Tensor:
            if not self.replaying:
                out = original(*args, **kwargs)
                self.draws.append(out.detach().clone())
                return out
            shape = tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list, torch.Size)) \
                else tuple(args)
            if not self.replay:
                raise RuntimeError(f"replay: no recorded draw left for torch.randn{shape}")
            value = self.replay.popleft()
            if tuple(value.shape) != shape:
                raise RuntimeError(f"replay: torch.randn{shape} asked, the record holds {tuple(value.shape)}")
            device = kwargs.get("device")
            return value.to(device if device is not None else "cpu").clone()

        torch.randn = randn
        try:
            yield
        finally:
            torch.randn = original


def pass_noise(draws: list[torch.Tensor], n_obs: int, steps: int) -> dict[str, torch.Tensor]:
    """One pass's draws under RecordedNoise's names (src/pipeline/noise.cpp)."""
    if len(draws) != n_obs + 3 + steps:
        raise RuntimeError(f"expected {n_obs + 3 + steps} torch.randn draws in a pass, got {len(draws)}")
    out = {f"noise.posterior.{i}": draws[i] for i in range(n_obs)}
    out["noise.x_T"], out["noise.action_T"], out["noise.state_T"] = draws[n_obs:n_obs + 3]
    out["noise.step"] = torch.stack(draws[n_obs + 3:])
    return out


def replay_draws(record: dict[str, torch.Tensor], prefix: str, device: torch.device) -> list[torch.Tensor]:
    """A pass's draws in call order; CPU-stream draws stay on the CPU, the rest go to `device` up front."""
    draws = []
    i = 0
    while f"{prefix}noise.posterior.{i}" in record:
        draws.append(record[f"{prefix}noise.posterior.{i}"])
        i += 1
    draws += [record[prefix + k].to(device) for k in ("noise.x_T", "noise.action_T", "noise.state_T")]
    draws += list(record[prefix + "noise.step"].to(device).unbind(0))
    return draws


# ----------------------------------------------------------------------------------------------- iteration

@dataclass
class IterationSettings:
    steps: int = 50
    prompt: str = PROMPT
    fs: int = FS
    ori_action_dim: int = ORI_DIM
    ori_state_dim: int = ORI_DIM
    autocast_dtype: torch.dtype | None = None
    extra_metadata: dict[str, str] = field(default_factory=dict)


class UpstreamIteration:
    """Runs the iteration on `model` (already on its device, weights set)."""

    def __init__(self, model: torch.nn.Module, device: torch.device, settings: IterationSettings) -> None:
        self.model = model
        self.device = device
        self.settings = settings

    def noise_shape(self) -> list[int]:
        h, w = self.model.image_size
        return [1, self.model.model.diffusion_model.out_channels, self.model.temporal_length, h, w]

    @contextlib.contextmanager
    def _hooks(self, profiler: Profiler | None, latents: list[torch.Tensor]) -> Iterator[list[float]]:
        """Section timers around upstream's DDIMSampler.sample and decode_first_stage; keeps each pass's final
        latent. The first element of the yielded list is the pass start time (set by run_pass)."""
        from unifolm_wma.models.samplers.ddim import DDIMSampler
        model = self.model
        sample, decode = DDIMSampler.sample, model.decode_first_stage
        mark = [0.0]

        def timed_sample(sampler, *args, **kwargs):
            if profiler:
                profiler.sync()
                profiler.add("synthesis/conditioning_prep", time.perf_counter() - mark[0])
                with profiler.section("synthesis/ddim_sampling"):
                    return sample(sampler, *args, **kwargs)
            return sample(sampler, *args, **kwargs)

        def timed_decode(z, **kwargs):
            latents.append(z)
            if profiler:
                with profiler.section("synthesis/decode_first_stage"):
                    return decode(z, **kwargs)
            return decode(z, **kwargs)

        DDIMSampler.sample = timed_sample
        model.decode_first_stage = timed_decode
        try:
            yield mark
        finally:
            DDIMSampler.sample = sample
            del model.decode_first_stage

    def run(self, inputs: dict[str, torch.Tensor], profiler: Profiler | None = None, record: bool = False,
            replay: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """One iteration from `inputs` (synthetic_inputs layout). Returns the record's tensors (noise only when
        recording or replaying; outputs always) with CPU float32 values."""
        from eval_utils import populate_queues
        from world_model_interaction import image_guided_synthesis_sim_mode
        s, model, dev = self.settings, self.model, self.device
        n_obs = inputs["observation.images.top"].shape[2]
        queues = {"observation.images.top": deque(maxlen=model.n_obs_steps_imagen),
                  "observation.state": deque(maxlen=model.n_obs_steps_imagen),
                  "action": deque(maxlen=model.temporal_length)}
        for o in range(n_obs):
            populate_queues(queues, {"observation.images.top": inputs["observation.images.top"][:, :, o].to(dev),
                                     "observation.state": inputs["observation.state"][:, o].to(dev)})
        for a in range(inputs["action"].shape[1]):
            populate_queues(queues, {"action": inputs["action"][:, a].to(dev)})

        def observation() -> dict[str, torch.Tensor]:
            return {"observation.images.top": torch.stack(list(queues["observation.images.top"]), dim=1)
                    .permute(0, 2, 1, 3, 4),
                    "observation.state": torch.stack(list(queues["observation.state"]), dim=1),
                    "action": torch.stack(list(queues["action"]), dim=1)}

        tape = NoiseTape(recording=record, replaying=replay is not None)
        latents: list[torch.Tensor] = []
        out: dict[str, torch.Tensor] = {}
        section = profiler.section if profiler else (lambda _name: contextlib.nullcontext())
        autocast = torch.autocast(dev.type, dtype=s.autocast_dtype) if s.autocast_dtype \
            else contextlib.nullcontext()

        def run_pass(name: str, mark: list[float], prompt: str, sim_mode: bool, obs: dict[str, torch.Tensor]):
            tape.draws = []
            replayed = replay_draws(replay, f"iter0.{name}.", dev) if replay is not None else None
            if replayed is not None:
                tape.replay = deque(replayed)
            if profiler:
                profiler.sync()
            mark[0] = time.perf_counter()
            result = image_guided_synthesis_sim_mode(
                model, prompt, obs, self.noise_shape(), action_cond_step=model.temporal_length,
                ddim_steps=s.steps, ddim_eta=ETA, unconditional_guidance_scale=GUIDANCE_SCALE, fs=s.fs,
                text_input=not sim_mode, timestep_spacing=SPACING, guidance_rescale=GUIDANCE_RESCALE,
                sim_mode=sim_mode)
            if tape.replay:
                raise RuntimeError(f"replay: {len(tape.replay)} recorded draws of the {name} pass left unused")
            if record or replay is not None:
                for k, v in pass_noise(replayed or tape.draws, n_obs, s.steps).items():
                    out[f"iter0.{name}.{k}"] = v
            return result

        with torch.no_grad(), autocast, tape.active(), self._hooks(profiler, latents) as mark:
            with section("iteration_total"):
                with section("action_generation"):
                    video0, actions, states0 = run_pass("policy", mark, s.prompt, False, observation())
                    out["iter0.policy.output.actions"] = actions.detach().clone()
                    for idx in range(len(actions[0])):
                        step = {"action": actions[0][idx:idx + 1]}
                        step["action"][:, s.ori_action_dim:] = 0.0  # in place on the actions, as upstream
                        populate_queues(queues, step)
                with section("world_model_interaction"):
                    world_obs = observation()
                    video1, actions1, states1 = run_pass("world", mark, "", True, world_obs)
        out["iter0.policy.output.video"] = video0
        out["iter0.policy.output.latent"] = latents[0]
        out["iter0.policy.output.states"] = states0
        out["iter0.world.input.action"] = world_obs["action"]
        out["iter0.world.output.video"] = video1
        out["iter0.world.output.latent"] = latents[1]
        out["iter0.world.output.actions"] = actions1
        out["iter0.world.output.states"] = states1
        return {k: v.detach().float().cpu().contiguous() for k, v in out.items()}


# --------------------------------------------------------------------------------------------------- records

def record_metadata(settings: IterationSettings, height: int, width: int) -> dict[str, str]:
    meta = {"what": "one interaction iteration of upstream's world_model_interaction.py (policy pass, then the "
                    "world-model pass with the predicted actions): inputs, every torch.randn draw per pass in "
                    "call order (RecordedNoise names), outputs; upstream layouts, float32",
            "dataset": DATASET, "prompt": settings.prompt, "fs": str(settings.fs), "ddim_steps": str(settings.steps),
            "ddim_eta": str(ETA), "timestep_spacing": SPACING, "guidance_rescale": str(GUIDANCE_RESCALE),
            "unconditional_guidance_scale": str(GUIDANCE_SCALE), "seed": str(SEED), "perframe_ae": "true",
            "ori_action_dim": str(settings.ori_action_dim), "ori_state_dim": str(settings.ori_state_dim),
            "height": str(height), "width": str(width),
            "inputs": "bench/upstream/README.md (synthetic_inputs in tools/reference/upstream_iteration.py)"}
    meta.update(settings.extra_metadata)
    return meta


def input_tensors(inputs: dict[str, torch.Tensor], fs: int) -> dict[str, torch.Tensor]:
    out = {f"input.{k}": v.float().contiguous() for k, v in inputs.items()}
    out["input.fs"] = torch.tensor([fs], dtype=torch.int64)
    return out


def inputs_from_record(record: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: record[f"input.{k}"] for k in ("observation.images.top", "observation.state", "action")}


def save_record(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Written to a temporary name and renamed, so a record is never half-written."""
    from safetensors.torch import save_file
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    save_file({k: v.contiguous() for k, v in sorted(tensors.items())}, str(tmp), metadata=metadata)
    tmp.replace(path)


def load_record(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open
    tensors = {}
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
        for key in f.keys():
            tensors[key] = f.get_tensor(key)
    return tensors, metadata


def settings_from_metadata(metadata: dict[str, str], **overrides) -> IterationSettings:
    settings = IterationSettings(steps=int(metadata["ddim_steps"]), prompt=metadata["prompt"], fs=int(metadata["fs"]),
                                 ori_action_dim=int(metadata["ori_action_dim"]),
                                 ori_state_dim=int(metadata["ori_state_dim"]))
    for k, v in overrides.items():
        setattr(settings, k, v)
    return settings


# ---------------------------------------------------------------------------------- module-level reference

DUMP_PARTS = ("text", "image_tokens", "z", "state_emb", "action_emb", "step0.v", "step0.action_eps",
              "step0.state_eps", "decode")


def first_ddim_timestep(model: torch.nn.Module, steps: int) -> int:
    from unifolm_wma.utils.diffusion import make_ddim_timesteps
    timesteps = make_ddim_timesteps(ddim_discr_method=SPACING, num_ddim_timesteps=steps,
                                    num_ddpm_timesteps=model.num_timesteps, verbose=False)
    return int(np.flip(timesteps)[0])


def reference_tensors(model: torch.nn.Module, device: torch.device, record: dict[str, torch.Tensor],
                      metadata: dict[str, str], pass_name: str,
                      parts: tuple[str, ...] = DUMP_PARTS) -> dict[str, torch.Tensor]:
    """Upstream's value of each `dump.<pass>.<part>` (bench/upstream/README.md defines them), computed by
    calling upstream's modules directly on the record's inputs and noise."""
    from einops import rearrange, repeat
    from world_model_interaction import get_latent_z
    sim_mode = pass_name == "world"
    prefix = f"iter0.{pass_name}."
    images = record["input.observation.images.top"].to(device)           # [B,C,O,H,W]
    state = record["input.observation.state"].to(device)
    action = (record[prefix + "input.action"] if sim_mode else record["input.action"]).to(device)
    prompt = "" if sim_mode else metadata["prompt"]
    out: dict[str, torch.Tensor] = {}
    need = set(parts)
    with torch.no_grad():
        img = images.permute(0, 2, 1, 3, 4)                               # [B,O,C,H,W] as upstream permutes
        cond_img = rearrange(img, "b o c h w -> (b o) c h w")[-1:]
        image_tokens = model.image_proj_model(model.embedder(cond_img))
        tape = NoiseTape(recording=False, replaying=True)
        tape.replay = deque(replay_draws(record, prefix, device)[:img.shape[1]])
        with tape.active():
            z = get_latent_z(model, img.permute(0, 2, 1, 3, 4))
        if tape.replay:
            raise RuntimeError(f"{pass_name}: get_latent_z left {len(tape.replay)} posterior draws unused")
        text = model.get_learned_conditioning(prompt)
        state_emb = model.state_projector(state) + model.agent_state_pos_emb
        action_emb = model.action_projector(action) + model.agent_action_pos_emb
        if not sim_mode:
            action_emb = torch.zeros_like(action_emb)
        out.update({"text": text, "image_tokens": image_tokens, "z": z, "state_emb": state_emb,
                    "action_emb": action_emb})
        if need & {"step0.v", "step0.action_eps", "step0.state_eps"}:
            c_concat = repeat(z[:, :, -1:], "b c t h w -> b c (repeat t) h w", repeat=model.temporal_length)
            cond = {"c_concat": [c_concat],
                    "c_crossattn": [torch.cat([state_emb, action_emb, text, image_tokens], dim=1)],
                    "c_crossattn_action": [images[:, :, -model.n_obs_steps_acting:],
                                           state[:, -model.n_obs_steps_acting:], sim_mode, False]}
            steps = int(metadata["ddim_steps"])
            ts = torch.full((1,), first_ddim_timestep(model, steps), device=device, dtype=torch.long)
            fs = torch.tensor([int(metadata["fs"])], dtype=torch.long, device=device)
            v, a_eps, s_eps = model.apply_model(record[prefix + "noise.x_T"].to(device),
                                                record[prefix + "noise.action_T"].to(device),
                                                record[prefix + "noise.state_T"].to(device), ts, cond, fs=fs,
                                                unconditional_conditioning_img_nonetext=None)
            out.update({"step0.v": v, "step0.action_eps": a_eps, "step0.state_eps": s_eps})
        if "decode" in need:
            out["decode"] = model.decode_first_stage(record[prefix + "output.latent"].to(device))
    return {f"dump.{pass_name}.{k}": v.detach().float().cpu() for k, v in out.items() if k in need}


@contextlib.contextmanager
def capture_dump(model: torch.nn.Module, steps: int) -> Iterator[dict[str, list]]:
    """While an iteration runs, capture the dump tensors from inside upstream's own pipeline (no direct calls):
    the conditioning handed to DDIMSampler.sample, the VAE latents from encode_first_stage, and the first
    apply_model outputs of each pass. Used by make_dump.py to check the comparison end to end."""
    from unifolm_wma.models.samplers.ddim import DDIMSampler
    captured: dict[str, list] = {"cond": [], "z": [], "step0": []}
    sample, encode, apply = DDIMSampler.sample, model.encode_first_stage, model.apply_model
    calls = [0]

    def sample_hook(sampler, *args, **kwargs):
        captured["cond"].append(kwargs["conditioning"])
        calls[0] = 0
        return sample(sampler, *args, **kwargs)

    def encode_hook(x):
        z = encode(x)
        captured["z"].append(z)
        return z

    def apply_hook(*args, **kwargs):
        result = apply(*args, **kwargs)
        if calls[0] == 0:
            captured["step0"].append(tuple(r.detach().clone() for r in result))
        calls[0] += 1
        return result

    DDIMSampler.sample = sample_hook
    model.encode_first_stage, model.apply_model = encode_hook, apply_hook
    try:
        yield captured
    finally:
        DDIMSampler.sample = sample
        del model.encode_first_stage, model.apply_model


def split_context(context: torch.Tensor, n_state: int, n_action: int, n_text: int) -> dict[str, torch.Tensor]:
    """c_crossattn = [state | action | text | image] (image_guided_synthesis_sim_mode's concatenation)."""
    a, b, c = n_state, n_state + n_action, n_state + n_action + n_text
    return {"state_emb": context[:, :a], "action_emb": context[:, a:b], "text": context[:, b:c],
            "image_tokens": context[:, c:]}


def compare_table(ours: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]) -> tuple[str, list[dict]]:
    """Per key: max|a-b| / max|b| (b = upstream), also the relative L2 error ||a-b|| / ||b||."""
    rows = []
    lines = [f"{'tensor':<30} {'shape':<24} {'max|ref|':>10} {'max|err|':>10} {'max rel':>10} {'rel L2':>10}",
             "-" * 99]
    for key in sorted(reference):
        ref = reference[key].double()
        if key not in ours:
            rows.append({"key": key, "status": "missing in dump"})
            lines.append(f"{key:<30} missing in the dump")
            continue
        got = ours[key].double()
        if tuple(got.shape) != tuple(ref.shape):
            rows.append({"key": key, "status": f"shape {list(got.shape)} != upstream {list(ref.shape)}"})
            lines.append(f"{key:<30} shape {list(got.shape)} in the dump, upstream {list(ref.shape)}")
            continue
        err = (got - ref).abs()
        ref_max = float(ref.abs().max())
        max_err = float(err.max())
        rel = max_err / ref_max if ref_max > 0 else (0.0 if max_err == 0 else float("inf"))
        ref_l2 = float(ref.norm())
        rel_l2 = float((got - ref).norm()) / ref_l2 if ref_l2 > 0 else (0.0 if max_err == 0 else float("inf"))
        rows.append({"key": key, "shape": list(ref.shape), "max_abs_ref": ref_max, "max_abs_err": max_err,
                     "max_rel": rel, "rel_l2": rel_l2, "finite": bool(torch.isfinite(got).all())})
        lines.append(f"{key:<30} {str(list(ref.shape)):<24} {ref_max:>10.3e} {max_err:>10.3e} {rel:>10.3e} "
                     f"{rel_l2:>10.3e}")
    extra = sorted(set(ours) - set(reference))
    if extra:
        lines.append(f"(not compared: {', '.join(extra)})")
    return "\n".join(lines) + "\n", rows


def autocast_for(mode: str) -> torch.dtype | None:
    return {"shipped": None, "fp16": torch.float16, "bf16": torch.bfloat16, "compiled": torch.float16}[mode]
