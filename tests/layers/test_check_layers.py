#!/usr/bin/env python3
"""tools/check_layers.py passes on the real src/ and fails, naming file:line, on copies with an upward include."""

import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "check_layers.py"


def run(src):
    return subprocess.run([sys.executable, str(SCRIPT), str(src)], capture_output=True, text=True)


class CheckLayers(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.src = pathlib.Path(self.tmp.name) / "src"
        shutil.copytree(ROOT / "src", self.src)

    def tearDown(self):
        self.tmp.cleanup()

    def plant(self, relative, include):
        """Appends `include` to src/relative; returns its line number."""
        path = self.src / relative
        lines = path.read_text(encoding="utf-8").splitlines()
        lines.append(f'#include "{include}"')
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return len(lines)

    def expect_failure(self, relative, include, line):
        r = run(self.src)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(f'src/{relative}:{line}: includes "{include}"', r.stdout)

    def test_real_tree_passes(self):
        r = run(ROOT / "src")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout, "")

    def test_core_including_ops_fails(self):
        line = self.plant("core/tensor.h", "ops/ops.h")
        self.expect_failure("core/tensor.h", "ops/ops.h", line)

    def test_pipeline_including_backends_fails(self):
        line = self.plant("pipeline/session.cpp", "backends/backend.h")
        self.expect_failure("pipeline/session.cpp", "backends/backend.h", line)

    def test_relative_path_is_resolved(self):
        line = self.plant("sampling/ddim.cpp", "../models/wma_model.h")
        self.expect_failure("sampling/ddim.cpp", "../models/wma_model.h", line)

    def test_exception_does_not_extend_to_other_headers(self):
        line = self.plant("backends/backend.h", "ops/checks.h")
        self.expect_failure("backends/backend.h", "ops/checks.h", line)

    def test_types_only_header_must_stay_on_core(self):
        line = self.plant("ops/params.h", "backends/backend.h")
        self.expect_failure("ops/params.h", "backends/backend.h", line)

    def test_unneeded_exception_fails(self):
        for path in (self.src / "backends").rglob("*"):
            if path.is_file():
                text = path.read_text(encoding="utf-8", errors="replace")
                path.write_text(text.replace('#include "ops/params.h"', ""), encoding="utf-8")
        r = run(self.src)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("exception (backends, ops/params.h) matches no include", r.stdout)


if __name__ == "__main__":
    unittest.main()
