"""Fixtures for the pieces: weight formula checksums, schedules, VAE, OpenCLIP text/vision, Resampler, projectors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

import det_weights
from fixture_io import Fixture, FixtureWriter, metadata_json
from upstream_env import record_randn

PROMPT_CSV_DIR = "examples/world_model_interaction_prompts"


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_image(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """A smooth picture in [-1, 1] plus a little noise: realistic enough for resizing and convolutions."""
    *lead, h, w = shape
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h, dtype=torch.float64),
                            torch.linspace(0, 1, w, dtype=torch.float64), indexing="ij")
    n = int(np.prod(lead))
    phases = torch.rand(n, 3, generator=generator(seed), dtype=torch.float64) * 6.283
    planes = [torch.sin(7 * xx + 3 * yy + p[0]) * torch.cos(5 * yy - 2 * xx + p[1]) * 0.8 + 0.1 * torch.sin(p[2])
              for p in phases]
    img = torch.stack(planes).reshape(*lead, h, w)
    img = img + 0.1 * torch.randn(img.shape, generator=generator(seed + 1), dtype=torch.float64)
    return img.clamp(-1, 1).float()


# ------------------------------------------------------------------------------------------------ weights
def checksum_keys(model: torch.nn.Module) -> list[str]:
    """Parameters of every kind the formula distinguishes (gain, bias, 2-5D weight, embedding, scalar)."""
    return [
        "model.diffusion_model.input_blocks.1.0.in_layers.0.weight",
        "model.diffusion_model.input_blocks.1.0.in_layers.2.bias",
        "model.diffusion_model.input_blocks.1.0.in_layers.2.weight",
        "model.diffusion_model.input_blocks.1.0.temopral_conv.conv1.2.weight",
        "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k_ip.weight",
        "model.diffusion_model.init_attn.0.proj_in.weight",
        "model.diffusion_model.action_token_projector.latents",
        "model.diffusion_model.action_unet.up_modules.0.3.conv.weight",
        "model.diffusion_model.action_unet.obs_encoder.key_model_map.image.0.weight",
        "cond_stage_model.model.transformer.resblocks.0.attn.in_proj_bias",
        "cond_stage_model.model.positional_embedding",
        "cond_stage_model.model.logit_scale",
        "cond_stage_model.model.token_embedding.weight",
        "embedder.model.visual.class_embedding",
        "agent_state_pos_emb",
        "first_stage_model.decoder.up.1.block.0.nin_shortcut.weight",
    ]


def write_weight_checksums(model: torch.nn.Module, path: Path) -> None:
    params = dict(model.named_parameters())
    lines = ["# Deterministic weight checksums (tools/reference/make_fixtures.py; formula in docs/fixtures.md).",
             "# key ndim dims... bits_hash(hex) sum sum_sq   -- sums in float64, index order; bits_hash exact.",
             "# Each tensor also equals the parameter of the same key in the tiny model fed to upstream."]
    for key in checksum_keys(model):
        shape = tuple(params[key].shape)
        values = det_weights.deterministic_array(key, shape)
        if not torch.equal(params[key].detach(), torch.from_numpy(values)):
            raise RuntimeError(f"{key}: model parameter differs from the formula")
        flat = values.reshape(-1).astype(np.float64)
        total = float(np.cumsum(flat)[-1]) if flat.size else 0.0
        total_sq = float(np.cumsum(flat * flat)[-1]) if flat.size else 0.0
        dims = " ".join(str(d) for d in shape)
        lines.append(f"{key} {len(shape)}{' ' + dims if dims else ''} {det_weights.bits_hash(values):016x} "
                     f"{total:.17g} {total_sq:.17g}")
    path.write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------------------ schedules
def schedules_fixture(model: torch.nn.Module, config_name: str, scheduler_config) -> Fixture:
    from diffusers import DDIMScheduler  # noqa: F401  (instantiated from the yaml below)
    from unifolm_wma.models.samplers.ddim import DDIMSampler
    from unifolm_wma.utils.diffusion import make_beta_schedule, rescale_zero_terminal_snr
    from unifolm_wma.utils.utils import instantiate_from_config

    fx = Fixture("schedules", "Video (zero-SNR, v-pred) schedule buffers, DDIM parameters for both spacings at "
                 "50/16/20/10 steps and eta 0/1, dynamic-rescale arrays, and diffusers DDIMScheduler steps for the "
                 "action/state heads driven by the video timesteps as upstream calls them",
                 config_name,
                 "DDPM.register_schedule, LatentDiffusion scale_arr, DDIMSampler.make_schedule, "
                 "diffusers DDIMScheduler(noise_scheduler_config).set_timesteps/step")
    betas64 = rescale_zero_terminal_snr(make_beta_schedule("linear", 1000, linear_start=0.00085, linear_end=0.012))
    fx.tensors["wma.betas_f64"] = np.asarray(betas64, dtype=np.float64)
    for name in ("betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
                 "sqrt_one_minus_alphas_cumprod", "scale_arr"):
        fx.add(f"wma.{name}", getattr(model, name))

    sampler = DDIMSampler(model)
    for spacing in ("uniform_trailing", "uniform"):
        for steps in (50, 16, 20, 10):
            prefix = f"ddim.{spacing}.{steps}"
            for eta in (0.0, 1.0):
                sampler.make_schedule(steps, ddim_discretize=spacing, ddim_eta=eta, verbose=False)
                # Values as p_sample_ddim materialises them: torch.full(..., value) in float32.
                as_used = lambda seq: torch.tensor([float(torch.full((1,), v).item()) for v in seq])  # noqa: E731
                fx.add(f"{prefix}.sigmas_eta{int(eta)}", as_used(sampler.ddim_sigmas))
            fx.add(f"{prefix}.timesteps", torch.as_tensor(np.asarray(sampler.ddim_timesteps, dtype=np.int64)))
            fx.add(f"{prefix}.alphas", as_used(sampler.ddim_alphas))
            fx.add(f"{prefix}.alphas_prev", as_used(sampler.ddim_alphas_prev))
            fx.add(f"{prefix}.sqrt_one_minus_alphas", as_used(sampler.ddim_sqrt_one_minus_alphas))
            fx.add(f"{prefix}.scale_arr", sampler.ddim_scale_arr)
            fx.add(f"{prefix}.scale_arr_prev", sampler.ddim_scale_arr_prev)

    scheduler = instantiate_from_config(scheduler_config)
    fx.add("dp.betas", scheduler.betas)
    fx.add("dp.alphas_cumprod", scheduler.alphas_cumprod)
    # step() takes `** 0.5` of 0-dim float32 CPU tensors (ᾱ_t, 1 − ᾱ_t, ᾱ_prev, 1 − ᾱ_prev; upstream too, the
    # scheduler's tensors stay on the CPU), which torch computes with MKL's vsSqrt: within an ulp, not correctly
    # rounded. The values of the recording machine, one 0-dim pow each as step() does it.
    final = torch.as_tensor(scheduler.final_alpha_cumprod, dtype=torch.float32).reshape(1)
    args = torch.cat([scheduler.alphas_cumprod, 1 - scheduler.alphas_cumprod, final, 1 - final])
    fx.add("dp.host_sqrt.arg", args)
    fx.add("dp.host_sqrt.value", torch.stack([args[i] ** 0.5 for i in range(args.numel())]))
    for steps in (50, 16):
        scheduler = instantiate_from_config(scheduler_config)
        scheduler.set_timesteps(steps)
        sampler.make_schedule(steps, ddim_discretize="uniform_trailing", ddim_eta=1.0, verbose=False)
        video_ts = np.flip(sampler.ddim_timesteps)
        g = generator(100 + steps)
        x = torch.randn(1, 16, 16, generator=g) * 1.5
        fx.add(f"dp.{steps}.sample_in", x)
        fx.add(f"dp.{steps}.timesteps", torch.as_tensor(video_ts.copy()))
        eps_all, prev_all = [], []
        for t in video_ts:
            eps = torch.randn(1, 16, 16, generator=g)
            x = scheduler.step(eps, t, x, generator=None).prev_sample
            eps_all.append(eps)
            prev_all.append(x)
        fx.add(f"dp.{steps}.eps", torch.stack(eps_all))
        fx.add(f"dp.{steps}.prev_sample", torch.stack(prev_all))
    return fx


# ------------------------------------------------------------------------------------------------ VAE
def vae_fixture(model: torch.nn.Module, config_name: str) -> Fixture:
    fx = Fixture("vae", "AutoencoderKL per-frame encode (posterior mean/logvar, recorded CPU noise, scaled sample) "
                 "and decode on non-square 48x80 frames", config_name,
                 "LatentDiffusion.encode_first_stage / decode_first_stage (perframe_ae=True), "
                 "AutoencoderKL.encode -> DiagonalGaussianDistribution")
    video = test_image((1, 3, 2, 48, 80), seed=1)  # b c t h w
    fx.add("input.video", video)
    frames = video[0].permute(1, 0, 2, 3)
    posts = [model.first_stage_model.encode(frames[i:i + 1]) for i in range(frames.shape[0])]
    fx.add("output.posterior_mean", torch.cat([p.mean for p in posts]))
    fx.add("output.posterior_logvar", torch.cat([p.logvar for p in posts]))
    torch.manual_seed(11)
    with record_randn() as draws:
        z = model.encode_first_stage(video)
    for i, d in enumerate(draws):
        fx.add(f"noise.posterior.{i}", d)
    fx.add("output.z", z)
    fx.metadata["scale_factor"] = repr(model.scale_factor)
    z_in = torch.randn(1, 4, 2, 6, 10, generator=generator(12))
    fx.add("input.decode_z", z_in)
    fx.add("output.decoded", model.decode_first_stage(z_in))
    return fx


# ------------------------------------------------------------------------------------------------ CLIP
def fixture_prompts(upstream: Path) -> list[str]:
    instructions = [str(pd.read_csv(p)["instruction"][0])
                    for p in sorted((upstream / PROMPT_CSV_DIR).glob("*.csv"))]
    long_prompt = " ".join(["pick up the red block, then place it carefully on top of the blue one;"] * 8)
    return ["", *instructions, "!!!", "...,;:?", "Hello, World!", "  multiple   spaces\tand\ttabs\n newline ",
            "UPPER lower MiXeD", "don't stop: it's what we'd do", "naïve café résumé", "日本語のテキスト",
            "emoji 🤖🦾 robot arm", "numbers 12345 and 3.14", "&amp;lt;html&amp;gt; &quot;escaped&quot;",
            long_prompt, "a"]


def clip_text_fixture(model: torch.nn.Module, config_name: str, upstream: Path) -> Fixture:
    import open_clip
    prompts = fixture_prompts(upstream)
    encoded = [0, 1, len(prompts) - 2]  # empty, an upstream instruction, the one over 77 tokens
    fx = Fixture("clip_text", "OpenCLIP tokenizer ids for every prompt; text tower penultimate layer + ln_final for "
                 "prompts[output_prompt_index]", config_name,
                 "open_clip.tokenize; FrozenOpenCLIPEmbedder.forward (layer='penultimate')")
    fx.metadata["prompts"] = metadata_json(prompts)
    fx.add("input.tokens", open_clip.tokenize(prompts))
    fx.add("input.output_prompt_index", torch.tensor(encoded))
    fx.add("output.z", model.cond_stage_model([prompts[i] for i in encoded]))
    return fx


def clip_vision_fixture(model: torch.nn.Module, config_name: str, video_hw: tuple[int, int]) -> Fixture:
    fx = Fixture("clip_vision", "FrozenOpenCLIPImageEmbedderV2 on [-1,1] images: kornia blur+bicubic preprocessing "
                 "to 224 and all 257 tokens of the last block (no ln_post/proj), at the real 320x512 frame size and "
                 "at the tiny model's frame size", config_name,
                 "FrozenOpenCLIPImageEmbedderV2.preprocess / forward")
    for name, hw, seed in (("real", (320, 512), 21), ("tiny", video_hw, 22)):
        image = test_image((1, 3, *hw), seed=seed)
        fx.add(f"input.image_{name}", image)
        fx.add(f"output.tokens_{name}", model.embedder(image))
        if name == "real":
            fx.add(f"output.preprocessed_{name}", model.embedder.preprocess(image))
    return fx


def resampler_fixture(model: torch.nn.Module, config_name: str, clip_tokens: torch.Tensor) -> Fixture:
    fx = Fixture("resampler", "Resampler (image_proj_model) on CLIP vision tokens -> 256 context tokens",
                 config_name, "Resampler.forward")
    fx.add("input.clip_tokens", clip_tokens)
    fx.add("output.tokens", model.image_proj_model(clip_tokens))
    return fx


def projectors_fixture(model: torch.nn.Module, config_name: str) -> Fixture:
    fx = Fixture("projectors", "State/action MLPProjectors with their position embeddings (as "
                 "image_guided_synthesis_sim_mode adds them) and the SATokenProjector on one action token",
                 config_name, "MLPProjector.forward (+ agent_*_pos_emb); SATokenProjector.forward")
    g = generator(31)
    state = torch.rand(1, 2, 16, generator=g) * 2 - 1
    action = torch.rand(1, 16, 16, generator=g) * 2 - 1
    fx.add("input.state", state)
    fx.add("input.action", action)
    fx.add("output.state_mlp", model.state_projector(state))
    fx.add("output.state_emb", model.state_projector(state) + model.agent_state_pos_emb)
    fx.add("output.action_mlp", model.action_projector(action))
    fx.add("output.action_emb", model.action_projector(action) + model.agent_action_pos_emb)
    token = (model.action_projector(action) + model.agent_action_pos_emb)[:, 3:4]
    fx.add("input.sa_token", token)
    fx.add("output.sa_tokens", model.model.diffusion_model.action_token_projector(token))
    return fx


def write_components(model: torch.nn.Module, writer: FixtureWriter, config_name: str, upstream: Path,
                     video_hw: tuple[int, int], scheduler_config) -> None:
    writer.write(schedules_fixture(model, config_name, scheduler_config))
    writer.write(vae_fixture(model, config_name))
    writer.write(clip_text_fixture(model, config_name, upstream))
    vision = clip_vision_fixture(model, config_name, video_hw)
    writer.write(vision)
    writer.write(resampler_fixture(model, config_name, torch.from_numpy(vision.tensors["output.tokens_real"])))
    writer.write(projectors_fixture(model, config_name))
