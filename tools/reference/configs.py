"""Model configurations for the fixtures, derived from upstream's own inference yaml.

`tiny` keeps every code path of configs/inference/world_model_interaction.yaml alive at a size that runs on
one CPU thread in minutes. The full-size model is upstream's yaml itself, prepared by
upstream_env.prepare_config.
"""
from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from upstream_env import OPEN_CLIP_CONFIGS_KEY

UPSTREAM_YAML = "configs/inference/world_model_interaction.yaml"
UPSTREAM_BASE_YAML = "configs/inference/base_model_inference.yaml"

TINY_CLIP_ARCH = "wma-fixture-tiny-clip"
TINY_VIDEO_HW = (64, 64)  # latent 8x8: three UNet downsamples reach 1x1
TINY_META = "tests/fixtures/configs/tiny_meta.json"

# open_clip json format. Text width 1024 is forced by context_dim; 3 layers so the penultimate output
# runs two blocks
# (open_clip 2.22 fixes the text MLP ratio at 4). Vision: 224 / 14 = 16 patches (257 tokens) as in ViT-H, head width 80 as in ViT-H.
TINY_OPEN_CLIP = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 224, "layers": 3, "width": 160, "head_width": 80, "mlp_ratio": 2.0,
                   "patch_size": 14},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 1024, "heads": 16, "layers": 3},
}


def shape_meta(height: int, width: int) -> dict:
    """Observation shapes read by the heads' MultiImageObsEncoder (upstream: configs/train/meta.json)."""
    return {"obs": {"image": {"shape": [3, height, width], "type": "rgb"},
                    "agent_pos": {"shape": [16], "type": "low_dim"}},
            "action": {"shape": [16]}}


def _no_download(p: DictConfig, arch: str, device: str) -> None:
    p.arch = arch
    p.version = None  # open_clip pretrained=None: random init, nothing fetched
    p.device = device


def tiny_config(upstream: Path, upstream_yaml: str = UPSTREAM_YAML) -> DictConfig:
    """The tiny sizes applied to an upstream inference yaml (the interaction one, or the base model's)."""
    cfg = OmegaConf.load(upstream / upstream_yaml)
    m = cfg.model.params
    m.image_size = [TINY_VIDEO_HW[0] // 8, TINY_VIDEO_HW[1] // 8]

    w = m.wma_config.params
    w.model_channels = 64
    w.channel_mult = [1, 2, 2, 4]       # 64, 128, 128, 256
    w.attention_resolutions = [1, 2]    # levels 0-1 spatial+temporal attention, levels 2-3 none
    w.num_head_channels = 32            # heads 2/4 (init_attn 8 x 32), middle 8
    w.use_checkpoint = False

    h = w.unet_head_config.params
    h.diffusion_step_embed_dim = 32
    h.down_dims = [32, 64, 64, 128]
    obs = h.obs_encoder_config.params
    obs.spatial_softmax_kp = 32
    obs.shape_meta_path = TINY_META

    s = w.stem_process_config.params    # dim/output_dim stay 1024 (hard-coded width of the action tokens)
    s.dim_head = 32
    s.heads = 8
    s.ff_mult = 1

    dd = m.first_stage_config.params.ddconfig
    dd.ch = 32
    dd.num_res_blocks = 1

    _no_download(m.cond_stage_config.params, TINY_CLIP_ARCH, "cpu")
    _no_download(m.img_cond_stage_config.params, TINY_CLIP_ARCH, "cpu")

    r = m.image_proj_stage_config.params
    r.dim = 256
    r.depth = 2
    r.dim_head = 32
    r.heads = 4
    r.embedding_dim = TINY_OPEN_CLIP["vision_cfg"]["width"]
    r.ff_mult = 2

    cfg[OPEN_CLIP_CONFIGS_KEY] = {TINY_CLIP_ARCH: TINY_OPEN_CLIP}
    return cfg


def write_config(cfg: DictConfig, path: Path, meta_path: Path, meta: dict, upstream_yaml: str = UPSTREAM_YAML) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ("# Written by tools/reference/make_fixtures.py from upstream's " + upstream_yaml + ".\n"
              "# shape_meta_path is relative to the repository root; " + OPEN_CLIP_CONFIGS_KEY +
              " gives open_clip configs for custom arch names.\n")
    path.write_text(header + OmegaConf.to_yaml(cfg))
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
