"""Import upstream (unifolm-world-model-action) from a checkout, build its model from a yaml, set weights.

Nothing from upstream is copied here: the checkout's `src/` and `scripts/evaluation/` go on sys.path, our
xformers shim goes first, and open_clip learns the fixture architecture from the yaml itself.
"""
from __future__ import annotations

import contextlib
import copy
import os
import sys
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

import det_weights

TOOL_DIR = Path(__file__).resolve().parent
REPO_ROOT = TOOL_DIR.parent.parent

# Top-level yaml key holding open_clip model configs (open_clip's own json format) for custom `arch` names.
# Upstream reads only `model` and `data`, so this key is invisible to it.
OPEN_CLIP_CONFIGS_KEY = "open_clip_model_configs"


def setup_imports(upstream: Path, deterministic: bool = True) -> None:
    """Make `unifolm_wma`, the evaluation scripts and the xformers shim importable.

    deterministic: one CPU thread and torch.use_deterministic_algorithms (the fixtures); benchmarks pass False
    and leave torch's defaults alone (upstream's script sets neither).
    """
    upstream = upstream.resolve()
    for path in (upstream / "scripts" / "evaluation", upstream / "src", TOOL_DIR / "xformers_shim"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    # Last on the path, so an installed package wins: stand-ins for packages that upstream's evaluation
    # scripts import at module level for training-only features (see stubs/README.md).
    if str(TOOL_DIR / "stubs") not in sys.path:
        sys.path.append(str(TOOL_DIR / "stubs"))
    import warnings
    warnings.filterwarnings("ignore")
    if deterministic:
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True)
    # unifolm_wma.utils.common reads torch.utils.checkpoint at import; torch 2.3 does not import that submodule
    # with torch, upstream's scripts get it through pytorch_lightning (imported before unifolm_wma).
    import pytorch_lightning  # noqa: F401
    import xformers  # noqa: F401  the shim must win over any installed xformers
    if not str(Path(xformers.__file__).resolve()).startswith(str(TOOL_DIR)):
        raise RuntimeError(f"xformers resolved to {xformers.__file__}, expected the shim in {TOOL_DIR}")


def register_open_clip_configs(config: DictConfig) -> None:
    import open_clip.factory
    for name, cfg in (config.get(OPEN_CLIP_CONFIGS_KEY) or {}).items():
        open_clip.factory._MODEL_CONFIGS[name] = OmegaConf.to_container(cfg, resolve=True)


def resolve_shape_meta(config: DictConfig) -> DictConfig:
    """Upstream reads shape_meta_path relative to the CWD; ours are relative to the repository root."""
    config = copy.deepcopy(config)
    obs = config.model.params.wma_config.params.unet_head_config.params.obs_encoder_config.params
    path = obs.get("shape_meta_path")
    if path and not os.path.isabs(path):
        obs.shape_meta_path = str(REPO_ROOT / path)
    return config


def resolve_device(name: str) -> torch.device:
    """torch.device with an index for CUDA (what upstream's model.cuda(gpu_no) gives the model)."""
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit(f"--device {name}: torch sees no GPU")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
    return device


def prepare_config(path: Path, upstream: Path, device: str) -> DictConfig:
    """An inference yaml (upstream's own or one of ours) ready for build_model on `device`.

    The OpenCLIP embedders get pretrained=None (nothing is downloaded; the weights come from the formula) and
    `device` (where they send the tokens); a heads' shape_meta_path that the yaml leaves unset is upstream's
    configs/train/meta.json, which upstream's script finds relative to its working directory.
    """
    config = OmegaConf.load(path)
    m = config.model.params
    for stage in (m.cond_stage_config, m.img_cond_stage_config):
        stage.params.version = None
        stage.params.device = device
    obs = m.wma_config.params.unet_head_config.params.obs_encoder_config.params
    if not obs.get("shape_meta_path"):
        obs.shape_meta_path = str(upstream.resolve() / "configs" / "train" / "meta.json")
    return config


@contextlib.contextmanager
def skip_random_init() -> Iterator[None]:
    """torch.nn.init's random fills become no-ops: every parameter is overwritten by the formula afterwards,
    and 4.2 B random draws on the CPU are most of the full-size model's construction time."""
    names = ("uniform_", "normal_", "trunc_normal_", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_",
             "xavier_normal_", "orthogonal_")
    saved = {name: getattr(torch.nn.init, name) for name in names}
    for name in names:
        setattr(torch.nn.init, name, lambda tensor, *args, **kwargs: tensor)
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(torch.nn.init, name, fn)


def build_model(config: DictConfig, fast_init: bool = False) -> torch.nn.Module:
    """Instantiate upstream's LatentVisualDiffusion exactly as world_model_interaction.py does (eval, fp32, CPU).

    fast_init: skip torch's random initialisation (skip_random_init); the model is the same once the
    deterministic weights are set.
    """
    from unifolm_wma.utils.utils import instantiate_from_config
    register_open_clip_configs(config)
    config = resolve_shape_meta(config)
    model_config = config.model
    model_config.params.wma_config.params.use_checkpoint = False
    torch.manual_seed(0)  # construction draws random init that set_deterministic_weights overwrites
    with skip_random_init() if fast_init else contextlib.nullcontext():
        model = instantiate_from_config(model_config)
    model.perframe_ae = True
    model.eval()
    return model


def parameter_keys(model: torch.nn.Module) -> list[str]:
    """State-dict keys that are parameters; a shared parameter is listed under its first key only."""
    return [name for name, _ in model.named_parameters()]


def buffer_keys(model: torch.nn.Module) -> list[str]:
    params = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    return [key for key in model.state_dict().keys() if key not in params]


def set_deterministic_weights(model: torch.nn.Module) -> None:
    """Every parameter := det_weights formula of its (first) state-dict key. Buffers keep upstream's values."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            values = det_weights.deterministic_array(name, tuple(param.shape))
            param.copy_(torch.from_numpy(values))


def set_deterministic_weights_fast(model: torch.nn.Module) -> int:
    """set_deterministic_weights for a model on any device: on a GPU computed there (seconds for 4.2 B values)
    and each tensor spot-checked bit for bit against the numpy formula; on the CPU numpy is faster than
    torch's int64 arithmetic, so it is the numpy formula itself. Returns the number of values set."""
    total = 0
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.device.type == "cpu":
                param.copy_(torch.from_numpy(det_weights.deterministic_array(name, tuple(param.shape))))
            else:
                det_weights.fill_deterministic_(param.data, name)
                det_weights.check_against_numpy(param.data, name)
            total += param.numel()
    return total


@contextlib.contextmanager
def record_randn() -> Iterator[list[torch.Tensor]]:
    """Record every torch.randn draw (upstream's only noise source at inference) in call order."""
    draws: list[torch.Tensor] = []
    original: Callable[..., torch.Tensor] = torch.randn

    def recording_randn(*args, **kwargs) -> torch.Tensor:
        out = original(*args, **kwargs)
        draws.append(out.detach().cpu().clone())
        return out

    torch.randn = recording_randn
    try:
        yield draws
    finally:
        torch.randn = original


@contextlib.contextmanager
def replay_randn(values: list[torch.Tensor]) -> Iterator[None]:
    """Serve torch.randn from a list (used to check that recorded noise reproduces a pass)."""
    queue = list(values)
    original = torch.randn

    def replaying_randn(*args, **kwargs) -> torch.Tensor:
        shape = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list, torch.Size)) else args
        value = queue.pop(0)
        if tuple(value.shape) != tuple(shape):
            raise RuntimeError(f"replay: expected shape {tuple(shape)}, recorded {tuple(value.shape)}")
        return value.to(kwargs.get("device") or "cpu").clone()

    torch.randn = replaying_randn
    try:
        yield
    finally:
        torch.randn = original
    if queue:
        raise RuntimeError(f"replay: {len(queue)} recorded draws left unused")


def to_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    if t.is_floating_point():
        t = t.float()
    return t.contiguous().numpy()


def keep_sampler_on_model_device() -> None:
    """DDIMSampler.register_buffer moves every tensor to CUDA unconditionally; keep them where the model is."""
    from unifolm_wma.models.samplers.ddim import DDIMSampler

    def register_buffer(self, name: str, attr: object) -> None:
        if isinstance(attr, torch.Tensor):
            attr = attr.to(self.model.device)
        setattr(self, name, attr)

    DDIMSampler.register_buffer = register_buffer
