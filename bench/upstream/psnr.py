#!/usr/bin/env python3
"""Fidelity of one iteration against a reference: video PSNR as the ASC26 challenge scores it, and the relative
L2 error of latents, actions and states.

  python3 bench/upstream/psnr.py REFERENCE.safetensors OTHER.safetensors [--json FILE]

The first file is the reference (upstream fp32 as shipped, say). Either file may be a full record of
run_upstream.py (--record), its compact summary (--summary), or `wma bench --save_outputs` output.
Keys, in any of these spellings: `iter0.<pass>.output.<what>` (records), `<pass>.<what>` (wma bench),
`iter0.<pass>.output.video256_u8` (summaries: the frames already converted as below); <pass> is policy or world.

Video, per frame (ASC26's psnr_score_for_challenge.py applied to upstream's save_results, minus the H.264
round trip): clamp to [-1, 1]; (x + 1) / 2 * 255 truncated to uint8 (torch's float -> uint8 cast, as
save_results does); PIL Image.resize((256, 256), BILINEAR) of the 320x512 RGB frame; MSE over all pixels and
channels in float64; PSNR = 20 log10(255 / sqrt(MSE)), infinite when MSE = 0. The video's PSNR is the mean
over its 16 frames (infinite if any frame is identical); the minimum frame PSNR is shown too (the challenge
gate is 25 dB per video). In JSON an infinite PSNR is written as null.
Latents, actions, states: ||a - b||_2 / ||b||_2 with b the reference, and max|a - b| / max|b|.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

PASSES = ("policy", "world")
VIDEO_SIZE = 256


def video_to_frames(video: np.ndarray) -> np.ndarray:
    """Float video [1,3,T,H,W] (upstream) or [1,T,H,W,3] (channels-last) in [-1,1] -> uint8 [T,256,256,3]."""
    from PIL import Image
    v = np.asarray(video, dtype=np.float32)
    if v.ndim == 5 and v.shape[0] == 1:
        v = v[0]
    if v.ndim != 4:
        raise ValueError(f"video of shape {list(video.shape)}: expected [1,3,T,H,W] or [1,T,H,W,3]")
    if v.shape[0] == 3 and v.shape[-1] != 3:
        v = v.transpose(1, 2, 3, 0)                      # [T,H,W,3]
    elif v.shape[-1] != 3:
        raise ValueError(f"video of shape {list(video.shape)}: no RGB axis first or last")
    u8 = ((np.clip(v, -1.0, 1.0) + 1.0) / 2.0 * 255.0).astype(np.uint8)   # truncation, like torch's cast
    return np.stack([np.asarray(Image.fromarray(frame).resize((VIDEO_SIZE, VIDEO_SIZE), Image.Resampling.BILINEAR))
                     for frame in u8])


def frame_psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 20.0 * math.log10(255.0 / math.sqrt(mse))


def load(path: Path) -> dict[str, np.ndarray]:
    """Tensors keyed `<pass>.<what>` (what: video, video256_u8, latent, actions, states)."""
    from safetensors.numpy import load_file
    out = {}
    for key, value in load_file(str(path)).items():
        parts = key.split(".")
        if parts[0] == "iter0" and len(parts) == 4 and parts[2] == "output":
            parts = [parts[1], parts[3]]
        if len(parts) == 2 and parts[0] in PASSES:
            out[f"{parts[0]}.{parts[1]}"] = value
    if not out:
        raise SystemExit(f"{path}: no iter0.<pass>.output.* or <pass>.* tensors found")
    return out


def frames_of(tensors: dict[str, np.ndarray], pass_name: str) -> np.ndarray | None:
    if f"{pass_name}.video256_u8" in tensors:
        return tensors[f"{pass_name}.video256_u8"]
    if f"{pass_name}.video" in tensors:
        return video_to_frames(tensors[f"{pass_name}.video"])
    return None


def finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def compare(ref: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> dict:
    result: dict = {"video": {}, "tensors": {}}
    for p in PASSES:
        a, b = frames_of(ref, p), frames_of(other, p)
        if a is None or b is None:
            continue
        if a.shape != b.shape:
            raise SystemExit(f"{p} video: {list(a.shape)} frames in the reference, {list(b.shape)} in the other")
        per_frame = [frame_psnr(b[t], a[t]) for t in range(a.shape[0])]
        result["video"][p] = {"psnr_db": float(np.mean(per_frame)), "min_frame_psnr_db": float(min(per_frame)),
                              "frames": len(per_frame), "per_frame_db": per_frame}
    for p in PASSES:
        for what in ("latent", "actions", "states"):
            key = f"{p}.{what}"
            if key not in ref or key not in other:
                continue
            r, o = ref[key].astype(np.float64), other[key].astype(np.float64)
            if r.shape != o.shape:
                raise SystemExit(f"{key}: shape {list(r.shape)} in the reference, {list(o.shape)} in the other")
            rn, rm = float(np.linalg.norm(r)), float(np.abs(r).max())
            d = o - r
            result["tensors"][key] = {"rel_l2": float(np.linalg.norm(d)) / rn if rn else float(np.linalg.norm(d)),
                                      "max_rel": float(np.abs(d).max()) / rm if rm else float(np.abs(d).max())}
    return result


def table(result: dict) -> str:
    lines = [f"{'video':<10} {'PSNR (dB)':>10} {'min frame':>10}", "-" * 32]
    for p, v in result["video"].items():
        lines.append(f"{p:<10} {v['psnr_db']:>10.2f} {v['min_frame_psnr_db']:>10.2f}")
    lines += ["", f"{'tensor':<16} {'rel L2':>10} {'max rel':>10}", "-" * 38]
    for key, t in result["tensors"].items():
        lines.append(f"{key:<16} {t['rel_l2']:>10.3e} {t['max_rel']:>10.3e}")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("reference", type=Path)
    p.add_argument("other", type=Path)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    result = compare(load(args.reference), load(args.other))
    if not result["video"] and not result["tensors"]:
        raise SystemExit("no video, latent, actions or states key is present in both files")
    sys.stdout.write(f"reference: {args.reference}\nother:     {args.other}\n\n" + table(result))
    if args.json:
        for v in result["video"].values():
            v["psnr_db"] = finite_or_none(v["psnr_db"])
            v["min_frame_psnr_db"] = finite_or_none(v["min_frame_psnr_db"])
            v["per_frame_db"] = [finite_or_none(x) for x in v["per_frame_db"]]
        doc = {"reference": str(args.reference), "other": str(args.other), **result}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
