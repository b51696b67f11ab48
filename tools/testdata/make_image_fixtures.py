#!/usr/bin/env python3
"""Writes tests/data/images/: small PNG and JPEG files made from synthetic patterns, and next to each
<name>.ppm, the RGB8 pixels that PIL's `Image.open(f).convert("RGB")` gives for it, which is how upstream reads
its observation frames and prompt pictures. tests/io/test_image_read.cpp compares our decoders with them.

PIL writes what it can (8-bit RGB/RGBA/grey/grey+alpha/palette, 1-bit, 4-bit palette, 16-bit grey, JPEGs);
the rest (2/4-bit grey, 16-bit colour, Adam7 interlacing, which PIL cannot write) comes from the small PNG
encoder below, with every row's filter type cycling through all five so that each one is exercised.
Either way PIL decodes the file to make the .ppm.

    python3 -m venv /tmp/venv-img && /tmp/venv-img/bin/pip install pillow numpy
    /tmp/venv-img/bin/python tools/testdata/make_image_fixtures.py
"""
import pathlib
import struct
import zlib

import numpy as np
import PIL
from PIL import Image, features

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "images"
W, H = 37, 27  # odd sides: partial JPEG MCUs and Adam7 passes of uneven sizes


def pattern(channels, depth=8, w=W, h=H):
    """Gradients, a checkerboard and diagonal stripes: every sample value range, edges for the JPEG tests."""
    y, x = np.mgrid[0:h, 0:w]
    top = (1 << depth) - 1
    planes = []
    for c in range(channels):
        smooth = (x * (c + 1) * 7 + y * (5 - c) * 11) / (w * 8 + h * 11)
        checker = ((x // 4 + y // 3 + c) % 2) * 0.25
        stripes = 0.2 * np.sin((x + 2 * y + 9 * c) * 0.7)
        planes.append(np.clip((0.6 * smooth + checker + stripes + 0.1) % 1.0, 0, 1) * top)
    a = np.rint(np.stack(planes, axis=-1)).astype(np.uint16 if depth == 16 else np.uint8)
    return a if channels > 1 else a[..., 0]


# --- a PNG encoder for what PIL cannot write ---

ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def pack_row(samples, depth):
    """One scanline's samples (a 1-D array) as PNG bytes: big-endian 16-bit, or sub-byte samples packed MSB first."""
    if depth == 16:
        return samples.astype(">u2").tobytes()
    if depth == 8:
        return samples.astype(np.uint8).tobytes()
    per_byte = 8 // depth
    padded = np.zeros(-(-len(samples) // per_byte) * per_byte, dtype=np.uint8)
    padded[: len(samples)] = samples
    out = np.zeros(len(padded) // per_byte, dtype=np.uint8)
    for k in range(per_byte):
        out |= padded[k::per_byte] << (8 - depth * (k + 1))
    return out.tobytes()


def filter_rows(rows, bpp, first_filter):
    """Applies filter type (first_filter + row index) % 5 to each row (ISO 15948 9.2)."""
    out, prev = b"", bytes(len(rows[0])) if rows else b""
    for i, row in enumerate(rows):
        f = (first_filter + i) % 5
        line = bytearray([f])
        for j, v in enumerate(row):
            a = row[j - bpp] if j >= bpp else 0
            b = prev[j]
            c = prev[j - bpp] if j >= bpp else 0
            if f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            else:
                pred = [0, a, b, (a + b) // 2][f]
            line.append((v - pred) & 0xFF)
        out += bytes(line)
        prev = row
    return out


def encode_png(samples, color_type, depth, interlace=False, palette=None):
    """samples: [H, W, C] (or [H, W]) integer array of raw sample values (palette indices for colour type 3)."""
    s = samples.reshape(samples.shape[0], samples.shape[1], -1)
    h, w, c = s.shape
    assert c == CHANNELS[color_type]
    bpp = max(1, c * depth // 8)
    raw = b""
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    for k, (x0, y0, dx, dy) in enumerate(passes):
        sub = s[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        raw += filter_rows([pack_row(r.reshape(-1), depth) for r in sub], bpp, k)
    chunks = [(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, int(interlace)))]
    if palette is not None:
        chunks.append((b"PLTE", bytes(np.asarray(palette, dtype=np.uint8).reshape(-1))))
    chunks += [(b"IDAT", zlib.compress(raw, 9)), (b"IEND", b"")]
    out = b"\x89PNG\r\n\x1a\n"
    for name, body in chunks:
        out += struct.pack(">I", len(body)) + name + body + struct.pack(">I", zlib.crc32(name + body))
    return out


def colour_palette(n):
    i = np.arange(n)
    return np.stack([(i * 37) % 256, (i * 91 + 40) % 256, 255 - (i * 53) % 256], axis=-1)


def write_ppm(path, rgb):
    h, w, _ = rgb.shape
    path.write_bytes(b"P6\n%d %d\n255\n" % (w, h) + rgb.astype(np.uint8).tobytes())


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    files = {}

    def pil(name, image, **save):
        path = OUT / name
        image.save(path, **save)
        files[name] = path

    def raw(name, data):
        (OUT / name).write_bytes(data)
        files[name] = OUT / name

    pil("rgb8.png", Image.fromarray(pattern(3)))
    pil("rgba8.png", Image.fromarray(pattern(4)))
    pil("grey8.png", Image.fromarray(pattern(1)))
    pil("grey_alpha8.png", Image.fromarray(pattern(2)))
    p8 = Image.fromarray((pattern(1).astype(np.int32) * 7 % 256).astype(np.uint8)).convert("P")
    p8.putpalette(colour_palette(256).astype(np.uint8).reshape(-1).tolist())
    pil("palette8_trns.png", p8, transparency=5)  # tRNS: PIL's convert("RGB") ignores it
    p4 = Image.fromarray((pattern(1) // 16).astype(np.uint8)).convert("P")
    p4.putpalette(colour_palette(16).astype(np.uint8).reshape(-1).tolist())
    pil("palette4.png", p4, bits=4)
    pil("bilevel1.png", Image.fromarray(pattern(1) > 127))
    # PIL clips 16-bit grey to 255 where it shifts 16-bit colour right by 8: values up to 511 show which.
    pil("grey16.png", Image.fromarray(pattern(1, 16) >> 7))

    raw("grey2.png", encode_png(pattern(1) // 64, 0, 2))
    raw("grey4.png", encode_png(pattern(1) // 16, 0, 4))
    raw("rgb16.png", encode_png(pattern(3, 16), 2, 16))
    raw("rgba16.png", encode_png(pattern(4, 16), 6, 16))
    raw("grey_alpha16.png", encode_png(pattern(2, 16), 4, 16))
    raw("rgb8_adam7.png", encode_png(pattern(3), 2, 8, interlace=True))
    raw("palette2_adam7.png", encode_png(pattern(1) // 64, 3, 2, interlace=True, palette=colour_palette(4)))
    raw("rgba16_adam7.png", encode_png(pattern(4, 16), 6, 16, interlace=True))
    raw("grey16_adam7.png", encode_png(pattern(1, 16) >> 7, 0, 16, interlace=True))
    # Indices past the end of PLTE: PIL's convert("RGB") gives black for them.
    raw("palette4_short.png", encode_png(pattern(1) // 16, 3, 4, palette=colour_palette(5)))
    # 3x2: passes 2, 3 and 5 are empty, which the decoder must skip.
    raw("tiny_rgb8_adam7.png", encode_png(pattern(3, 8, 3, 2), 2, 8, interlace=True))

    rgb = Image.fromarray(pattern(3))
    pil("baseline420.jpg", rgb, quality=85, subsampling=2)
    pil("baseline422.jpg", rgb, quality=85, subsampling=1)
    pil("baseline444.jpg", rgb, quality=95, subsampling=0)
    pil("progressive420.jpg", rgb, quality=85, subsampling=2, progressive=True)
    pil("progressive444.jpg", rgb, quality=90, subsampling=0, progressive=True)
    pil("grey.jpg", Image.fromarray(pattern(1)), quality=85)
    pil("restart420.jpg", rgb, quality=75, subsampling=2, restart_marker_blocks=2)

    for name, path in sorted(files.items()):
        with Image.open(path) as im:
            write_ppm(path.with_suffix(".ppm"), np.asarray(im.convert("RGB")))
            print(f"{name:22s} {im.mode:5s} {path.stat().st_size:6d} bytes")
    print(f"Pillow {PIL.__version__}, libjpeg-turbo {features.version('libjpeg_turbo')}, "
          f"zlib {features.version('zlib')}")


if __name__ == "__main__":
    main()
