#!/usr/bin/env python3
"""Fails when a quoted #include under src/ reaches a layer above its own (design.md section 2).

Usage: tools/check_layers.py [SRC_DIR]   (default: the src/ next to this tools/ folder)

Each top-level folder of src/ is a layer and may include itself and the layers listed for it in ALLOWED. Exit
status 1, one line per offending include (file:line), when any include crosses upward or an entry of EXCEPTIONS
is no longer needed; 0 otherwise. Includes that resolve outside src/ (third_party/) are not layered.
"""

import pathlib
import re
import sys

ALLOWED = {
    "core": set(),
    "io": {"core"},
    "backends": {"core"},
    "ops": {"backends", "core"},
    "nn": {"ops", "io", "core"},
    "models": {"nn", "ops", "io", "core"},
    # ops: the samplers' updates run on the chains' device (sampling/sampler.h).
    "sampling": {"ops", "core"},
    "pipeline": {"models", "nn", "ops", "sampling", "io", "core"},
    # Not backends: above ops/ the device is reached through ops/device.h.
    "app": {"pipeline", "models", "nn", "ops", "sampling", "io", "core"},
}

# (including file or layer, included path): the only crossings allowed. Each must still be needed: one that
# matches no include fails the check, so the list can only shrink.
EXCEPTIONS = {
    # The kernels' parameter types (Activation, LinearEpilogue, ...), declared once for ops/ and both backends:
    # a header of types only (TYPES_ONLY), so backends/ gains no dependency on ops/'s code.
    ("backends", "ops/params.h"),
}

# Headers excepted for lower layers: they may include core/ alone, so the exception cannot pull more in.
TYPES_ONLY = {"ops/params.h"}

SOURCE_SUFFIXES = {".h", ".hpp", ".cpp", ".cc", ".cu", ".cuh", ".inc"}
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def quoted_includes(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if m:
                yield number, m.group(1)


def resolve(src, including, name):
    """The included file's path relative to src (as the compiler finds it: next to the includer first, then
    on the -I src path), or None when it lies outside src."""
    for base in (including.parent, src):
        candidate = (base / name).resolve()
        if candidate.is_file():
            try:
                return candidate.relative_to(src).as_posix()
            except ValueError:
                return None
    # Not found (e.g. a generated header): take it as written, relative to src.
    return name if name.split("/")[0] in ALLOWED else None


def layer_of(relative):
    top = relative.split("/")[0]
    return top if top in ALLOWED else None


def check_types_only(src, problems):
    for header in sorted(TYPES_ONLY):
        path = src / header
        if not path.is_file():
            problems.append(f"tools/check_layers.py: types-only header {header} not found")
            continue
        for number, name in quoted_includes(path):
            included = resolve(src, path, name)
            if included is not None and layer_of(included) != "core":
                problems.append(f"{src.name}/{header}:{number}: includes \"{name}\": a types-only header "
                                f"may include core/ alone")


def check(src):
    src = src.resolve()
    problems, used = [], set()
    for path in sorted(p for p in src.rglob("*") if p.suffix in SOURCE_SUFFIXES and p.is_file()):
        relative = path.relative_to(src).as_posix()
        layer = layer_of(relative)
        if layer is None:
            continue
        for number, name in quoted_includes(path):
            included = resolve(src, path, name)
            if included is None:
                continue
            target = layer_of(included)
            if target is None or target == layer or target in ALLOWED[layer]:
                continue
            exception = next((e for e in ((relative, included), (layer, included)) if e in EXCEPTIONS), None)
            if exception:
                used.add(exception)
                continue
            may = ", ".join(sorted(ALLOWED[layer])) or "nothing else"
            problems.append(f"{src.name}/{relative}:{number}: includes \"{name}\": {layer}/ may include {may} "
                            f"(design.md section 2)")
    for who, target in sorted(EXCEPTIONS - used):
        problems.append(f"tools/check_layers.py: exception ({who}, {target}) matches no include any more; "
                        f"remove it")
    check_types_only(src, problems)
    return problems


def main(argv):
    if len(argv) > 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    src = pathlib.Path(argv[1]) if len(argv) == 2 else pathlib.Path(__file__).resolve().parent.parent / "src"
    if not src.is_dir():
        print(f"check_layers: {src} is not a folder", file=sys.stderr)
        return 2
    problems = check(src)
    for p in problems:
        print(p)
    if problems:
        print(f"check_layers: {len(problems)} layering problem(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
