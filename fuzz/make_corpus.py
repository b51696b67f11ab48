#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora, fuzz/corpus/<target>/: small valid files of each format (and a few
invalid ones the tests keep), made here or copied from tests/, so that the corpora hold nothing of upstream's.
Standard library only; run from anywhere. Inputs libFuzzer finds later are added next to these."""
import json
import pathlib
import struct
import zipfile
import zlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def put(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data.encode() if isinstance(data, str) else data)


def ckpt():
    # Whole archives (the zip reader) and their data.pkl alone (fuzz_ckpt wraps a bare pickle into an archive).
    for path in sorted((ROOT / "tests/data/ckpt").glob("*.ckpt")):
        put("fuzz_ckpt", path.name, path.read_bytes())
        try:
            with zipfile.ZipFile(path) as z:
                for info in z.infolist():
                    if info.filename.endswith("/data.pkl") and info.compress_type == zipfile.ZIP_STORED:
                        put("fuzz_ckpt", path.stem + ".pkl", z.read(info))
        except zipfile.BadZipFile:
            pass


def safetensors_file(tensors, metadata=None):
    header, blob = {}, b""
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + blob


def safetensors():
    for path in sorted((ROOT / "tests/data/ckpt").glob("*.safetensors")):
        put("fuzz_safetensors", path.name, path.read_bytes())
    put("fuzz_safetensors", "all_dtypes.safetensors", safetensors_file({
        "f32": ("F32", [2, 3], struct.pack("<6f", *range(6))),
        "f16": ("F16", [2], struct.pack("<2e", 1.5, -2.0)),
        "bf16": ("BF16", [1, 2], b"\x80\x3f\x00\xc0"),
        "f64": ("F64", [2], struct.pack("<2d", 0.25, 1e300)),
        "i64": ("I64", [1], struct.pack("<q", -7)),
        "i32": ("I32", [2], struct.pack("<2i", 3, -4)),
        "i16": ("I16", [1], struct.pack("<h", -5)),
        "i8": ("I8", [2], b"\x01\xff"),
        "u8": ("U8", [2], b"\x00\xff"),
        "bool": ("BOOL", [3], b"\x00\x01\x01"),
        "empty": ("F32", [0, 4], b""),
        "scalar": ("F32", [], struct.pack("<f", 3.0)),
    }, {"format": "pt", "note": "fuzz seed"}))
    put("fuzz_safetensors", "one.safetensors", safetensors_file({"w": ("F32", [1], struct.pack("<f", 1.0))}))


def yaml():
    for path in sorted((ROOT / "tests/fixtures/configs").glob("*.yaml")):
        put("fuzz_yaml", path.name, path.read_bytes())
    put("fuzz_yaml", "scalars.yaml", "a: 1\nb: -3\nc: 0.5\nd: 1.0e-4\ne: 1e-8\nf: true\ng: False\nh: null\ni: ~\nj:\n"
        "k: \"quoted # not a comment\\n\\u00e9\"\nl: 'it''s'\nm: plain words\nn: .inf\no: \"1\"\np: 0x1F\nq: yes\n")
    put("fuzz_yaml", "nested.yaml", "model:\n  target: x.Y\n  params:\n    size: [32, 32]\n    list:\n      - 1\n"
        "      - {a: 1, b: [2, 3]}\n      - - 4\n        - 5\n    ref: ${model.params.size}\n"
        "    text: \"v${model.target}w\"\n    deep: ${model.params.list[1].b}\n")
    put("fuzz_yaml", "flow.yaml", "x: {a: [1, 2, {b: c}], 'q k': \"v\"}\ny: [ ]\nz: { }\n# comment\nw: >\n  folded\n")


def json_seeds():
    put("fuzz_json", "tiny_meta.json", (ROOT / "tests/fixtures/configs/tiny_meta.json").read_bytes())
    put("fuzz_json", "values.json", '{"n": null, "t": true, "f": false, "i": -12, "big": 9223372036854775807,'
        ' "x": 1.5e-3, "s": "a\\"b\\\\c\\u00e9\\ud83d\\ude00", "a": [[1, 2], [3, 4]], "o": {"k": []}}')
    request = {"language_instruction": "pick up the cup",
               "observation.images.top": [[[[0, 255], [1, 2]]] * 3] * 2,
               "observation.state": [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]],
               "action": [[0.0, 1.0]] * 4}
    put("fuzz_json", "predict_request.json", json.dumps(request))


def csv():
    put("fuzz_csv", "interaction.csv",
        "videoid,contentUrl,duration,data_dir,instruction,dynamic_confidence,dynamic_wording,"
        "dynamic_source_category,embodiment,fps\n"
        "0,x,x,demo_set,\"Stack the blocks: red, then \"\"yellow\"\".\",x,x,x,Robot Arm,30\n"
        "1,x,x,demo_set,Pick up the pen.,x,x,x,Robot Arm,15\n")
    put("fuzz_csv", "base.csv", "videoid,instruction,fps,start_idx,fs,num_gen\r\n0,wash the pan,16.0,152.0,2.0,6.0\r\n"
        "1,\"two\nlines\",5.0,0.0,2.0,4.0\r\n")


def http():
    body = b'{"language_instruction": "x"}'
    put("fuzz_http_request", "get.txt", b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
    put("fuzz_http_request", "post.txt", b"POST /predict_action?q=1 HTTP/1.1\r\nHost: h\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    put("fuzz_http_request", "chunked.txt", b"POST /predict_action HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
        b"Expect: 100-continue\r\n\r\n5;ext=1\r\nhello\r\n0a\r\n0123456789\r\n0\r\nTrailer: t\r\n\r\n")
    put("fuzz_http_request", "pipelined.txt", b"\r\nGET / HTTP/1.0\r\nConnection: close\r\n\r\n"
        b"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nconnection: keep-alive, close\r\n\r\n")
    put("fuzz_http_request", "refused.txt", b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx")


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_file(width, height, color_type, bit_depth, rows, interlace=0, extra=b""):
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlace)
    raw = b"".join(bytes([k % 5]) + row for k, row in enumerate(rows))  # every filter type
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra + png_chunk(b"IDAT", zlib.compress(raw, 9))
            + png_chunk(b"IEND", b""))


def png():
    w, h = 3, 2
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
    for color_type, depths in {0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16]}.items():
        for depth in depths:
            row_bytes = (w * channels[color_type] * depth + 7) // 8
            rows = [bytes((17 * k + 29 * y) % 256 for k in range(row_bytes)) for y in range(h)]
            extra = png_chunk(b"PLTE", bytes(range(12))) + png_chunk(b"tRNS", b"\x80") if color_type == 3 else b""
            put("fuzz_png", f"c{color_type}_d{depth}.png", png_file(w, h, color_type, depth, rows, extra=extra))
    # Adam7: seven passes of a 5x5 RGB image, each pass's rows filtered on their own.
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes:
        pw, ph = len(range(x0, 5, dx)), len(range(y0, 5, dy))
        if pw and ph:
            raw += b"".join(b"\x00" + bytes((x0 + y + k) % 256 for k in range(3 * pw)) for y in range(ph))
    ihdr = struct.pack(">IIBBBBB", 5, 5, 8, 2, 0, 0, 1)
    put("fuzz_png", "adam7.png", b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


def h5():
    # The built-in HDF5 reader's fixtures (tools/make_h5_fixture.py writes them with h5py).
    for path in sorted((ROOT / "tests/data/h5").glob("*.h5")):
        put("fuzz_h5", path.name, path.read_bytes())


if __name__ == "__main__":
    ckpt()
    safetensors()
    yaml()
    json_seeds()
    csv()
    http()
    png()
    h5()
