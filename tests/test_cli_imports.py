"""A light command starts at once: ``augkit --help``, ``augkit plugins`` and ``augkit info``
import neither TensorFlow, Keras nor torch (albumentations imports torch through its
``albumentations.pytorch`` part, so it stays out too). Which modules load is checked, never how
long it takes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("tensorflow", "keras", "torch", "albumentations", "ray")
PROBE = """
import json, sys
from augkit.cli import cli
try:
    cli(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def heavy_modules_after(*args: str) -> list[str]:
    result = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from augkit.io.demo import write_demo

    return write_demo(tmp_path_factory.mktemp("demo") / "demo", num_cases=3, size=32)


@pytest.mark.parametrize("args", [["--help"], ["plugins"], ["plugins", "--json"], ["expand", "--help"]])
def test_light_commands_import_no_deep_learning_framework(args):
    assert heavy_modules_after(*args) == []


def test_info_on_a_folder_imports_no_deep_learning_framework(demo):
    assert heavy_modules_after("info", str(demo)) == []


def test_the_probe_sees_a_heavy_import(demo, tmp_path):
    """The check can fail: expand needs albumentations, and the probe reports it."""
    assert "albumentations" in heavy_modules_after("expand", "--in", str(demo), "--to", "4",
                                                   "--out", str(tmp_path / "x"), "--quiet")
