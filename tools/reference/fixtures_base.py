"""Fixture of upstream's base-model generation (scripts/evaluation/base_model_inference.py) at the tiny sizes.

The prompt folder (one png + prompts.csv) is written to a temporary directory and read by upstream's own
load_data_prompts; the chunk loop is run_inference's body (image_guided_synthesis num_gen times, each next
input the last decoded frame repeated), on the CPU in float32: upstream wraps it in torch.cuda.amp.autocast(),
which does nothing to CPU tensors.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from fixture_io import Fixture, FixtureWriter
from fixtures_components import generator
from upstream_env import record_randn

STEPS = 4
NUM_GEN = 2  # two chunks: the second starts from the first one's last decoded frame
FPS, FRAME_STRIDE = 16.0, 2.0  # the csv columns, as floats like upstream's examples; fs conditioning 16 // 2 = 8
SPACING = "uniform_trailing"
ETA = 1.0
GUIDANCE_RESCALE = 0.7
PROMPT = "wash the pan"  # examples/base_model_prompts/prompts.csv, videoid 0
# Resize(64) shrinks the first (antialiased in both directions) and enlarges the second; CenterCrop then
# cuts the long side of both.
SOURCE_HW = ((72, 90), (40, 50))


def source_image(hw: tuple[int, int], seed: int) -> np.ndarray:
    """uint8 [H, W, 3]: a smooth picture with noise, including saturated pixels (PIL clips after each pass)."""
    h, w = hw
    yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    g = generator(seed)
    phases = torch.rand(3, generator=g, dtype=torch.float64).numpy() * 6.283
    planes = [np.sin(9 * xx + 4 * yy + p) * 160 + 128 for p in phases]
    noise = torch.randn(h, w, 3, generator=g, dtype=torch.float64).numpy() * 20
    return np.clip(np.rint(np.stack(planes, axis=-1) + noise), 0, 255).astype(np.uint8)


def write_prompt_dir(folder: Path, images: list[np.ndarray]) -> None:
    from PIL import Image
    rows = ["videoid,instruction,fps,start_idx,fs,num_gen"]
    for i, image in enumerate(images):
        Image.fromarray(image, "RGB").save(folder / f"{i}.png")
        rows.append(f"{i},{PROMPT},{FPS},0.0,{FRAME_STRIDE},{float(NUM_GEN)}")
    (folder / "prompts.csv").write_text("\n".join(rows) + "\n")


def base_fixture(model: torch.nn.Module, config_name: str, video_hw: tuple[int, int]) -> Fixture:
    from einops import repeat
    from base_model_inference import image_guided_synthesis, load_data_prompts
    fx = Fixture(f"base_n{STEPS}",
                 f"Base-model generation from one image and a prompt: upstream's prompt-folder loading (PIL Resize + "
                 f"CenterCrop), {NUM_GEN} chunks of image_guided_synthesis ({STEPS} DDIM steps, {SPACING}, eta "
                 f"{ETA}, text input, context [text 77 | image 16] per frame), each chunk's input the previous "
                 "chunk's last decoded frame; every torch.randn draw per chunk in call order (posterior noise of the "
                 "16 input frames, x_T, action_T, state_T, one per step); the latent of every chunk, the last "
                 "chunk's decoded video. input.image.1 only checks the image loading (an enlarged image)",
                 config_name, "scripts/evaluation/base_model_inference.py load_data_prompts, run_inference loop "
                 "body, image_guided_synthesis (perframe_ae, bs 1)")
    images = [source_image(hw, seed=71 + i) for i, hw in enumerate(SOURCE_HW)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_prompt_dir(folder, images)
        filenames, videos, prompts, fps, fs, num_gen = load_data_prompts(
            str(folder), str(folder / "out"), video_size=video_hw, video_frames=model.temporal_length)
    if filenames != ["0.png", "1.png"] or num_gen[0] != NUM_GEN:
        raise RuntimeError(f"load_data_prompts returned {filenames}, num_gen {num_gen}")
    for i, (image, video) in enumerate(zip(images, videos)):
        fx.add_u8(f"input.image.{i}", image)
        # The loaded frame is (u / 255 - 0.5) / 0.5 of a uint8 picture u: store u, and check that it is exact.
        u = torch.round((video[:, 0] * 0.5 + 0.5) * 255)
        if not torch.equal((u / 255 - 0.5) / 0.5, video[:, 0]):
            raise RuntimeError("the loaded frame is not a normalised uint8 picture")
        fx.add_u8(f"input.frame.{i}", u.to(torch.uint8).permute(1, 2, 0).numpy())
    fs_value = fps[0] // fs[0]
    fx.add("input.fs", torch.tensor([int(fs_value)]))
    fx.metadata.update({"prompt": prompts[0], "fps": str(fps[0]), "frame_stride": str(fs[0]),
                        "num_gen": str(NUM_GEN), "ddim_steps": str(STEPS), "ddim_eta": str(ETA),
                        "timestep_spacing": SPACING, "guidance_rescale": str(GUIDANCE_RESCALE)})

    h, w = video_hw[0] // 8, video_hw[1] // 8
    noise_shape = [1, model.model.diffusion_model.out_channels, model.temporal_length, h, w]
    latents: list[torch.Tensor] = []
    decode = model.decode_first_stage

    def decode_recorded(z, **kw):
        latents.append(z.detach().clone())
        return decode(z, **kw)

    model.decode_first_stage = decode_recorded
    video = torch.stack(videos[:1], dim=0)
    torch.manual_seed(123)
    try:
        for chunk in range(NUM_GEN):
            with record_randn() as draws:
                samples = image_guided_synthesis(model, prompts[:1], video, noise_shape, STEPS, ETA, 1.0, fs_value,
                                                 True, SPACING, GUIDANCE_RESCALE)
            frames = model.temporal_length
            if len(draws) != frames + 3 + STEPS:
                raise RuntimeError(f"chunk {chunk}: expected {frames + 3 + STEPS} randn draws, got {len(draws)}")
            p = f"chunk{chunk}."
            for i in range(frames):
                fx.add(f"{p}noise.posterior.{i}", draws[i])
            fx.add(f"{p}noise.x_T", draws[frames])
            fx.add(f"{p}noise.action_T", draws[frames + 1])
            fx.add(f"{p}noise.state_T", draws[frames + 2])
            fx.add(f"{p}noise.step", torch.stack(draws[frames + 3:]))
            fx.add(f"{p}output.latent", latents[-1])
            if chunk == NUM_GEN - 1:
                fx.add(f"{p}output.video", samples[0])
            video = repeat(samples[0][:, :, -1, :, :].unsqueeze(2), "b c t h w -> b c (repeat t) h w",
                           repeat=samples[0].shape[2])
    finally:
        del model.decode_first_stage
    return fx


def write_base(model: torch.nn.Module, writer: FixtureWriter, config_name: str, video_hw: tuple[int, int]) -> None:
    writer.write(base_fixture(model, config_name, video_hw))
