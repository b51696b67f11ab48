"""Writes tests/data/preprocess/: RGB8 images and torchvision's Resize(short side, antialiased
bilinear on float) + CenterCrop + (x/255-0.5)*2 output, as upstream prepares observations.
Files are raw little-endian: <name>.rgb8 (H*W*3 uint8) and <name>.f32 (3*h*w float32)."""
import argparse
import pathlib

import numpy as np
import torch
import torchvision.transforms as T

CASES = [  # name, H, W, resize, crop (h, w)
    ("landscape_60x80", 60, 80, 32, (32, 51)),   # 4:3 like the 480x640 examples: pads columns
    ("portrait_70x50", 70, 50, 24, (20, 24)),    # crops rows, odd sizes
    ("upscale_9x13", 9, 13, 16, (16, 16)),       # scale < 1 path
    ("quarter_120x160", 120, 160, 80, (80, 128)),  # the 480x640 -> 320 -> 320x512 ratios at 1/4 size
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/data/preprocess")
    out = pathlib.Path(ap.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    for name, h, w, size, crop in CASES:
        img = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        x = torch.from_numpy(img).permute(2, 0, 1).float().unsqueeze(1)  # [3, 1, H, W] as upstream
        tf = T.Compose([T.Resize(size, antialias=True), T.CenterCrop(crop)])
        y = (tf(x) / 255.0 - 0.5) * 2
        (out / f"{name}.rgb8").write_bytes(img.tobytes())
        (out / f"{name}.f32").write_bytes(y.squeeze(1).contiguous().numpy().astype("<f4").tobytes())
        print(name, tuple(y.squeeze(1).shape))


if __name__ == "__main__":
    main()
