"""Provenance of results: the code and machine a result was made on, and caches that refuse
an entry made on other code (issue 26, item 1)."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from augkit.errors import ProvenanceError
from augkit.evaluate.provenance import check_same_code, code_hash, provenance

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO / "benchmarks"


def fake_tree(root: Path) -> Path:
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "plugins" / "plug").mkdir(parents=True)
    (root / "src" / "pkg" / "a.py").write_text("A = 1\n")
    (root / "plugins" / "plug" / "b.py").write_text("B = 2\n")
    (root / "benchmarks").mkdir()
    (root / "benchmarks" / "bench.py").write_text("C = 3\n")
    return root


def test_provenance_of_this_checkout_names_revision_code_and_machine():
    import keras

    record = provenance()
    assert re.fullmatch(r"[0-9a-f]{40}", record["git_revision"])
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert record["git_revision"] == head
    assert isinstance(record["git_dirty"], bool)
    assert record["code_hash"] == code_hash(REPO)
    assert re.fullmatch(r"[0-9a-f]{16}", record["code_hash"])
    assert record["packages"]["numpy"] == np.__version__
    assert record["packages"]["keras"] == keras.__version__
    assert record["python"] == ".".join(map(str, sys.version_info[:3]))
    assert record["cpu_count"] >= 1 and record["machine"]
    json.dumps(record)  # goes into results.json as it is


def test_outside_git_the_revision_is_unknown(tmp_path):
    record = provenance(fake_tree(tmp_path))
    assert record["git_revision"] == "unknown" and record["git_dirty"] is None
    assert record["code_hash"] == code_hash(tmp_path)


def test_code_hash_follows_src_and_plugins_only(tmp_path):
    root = fake_tree(tmp_path)
    before = code_hash(root)
    (root / "benchmarks" / "bench.py").write_text("C = 4\n")  # not library code
    assert code_hash(root) == before
    (root / "plugins" / "plug" / "b.py").write_text("B = 3\n")
    after_plugin = code_hash(root)
    assert after_plugin != before
    (root / "src" / "pkg" / "new.py").write_text("")  # a new module counts too
    assert code_hash(root) != after_plugin


def test_no_source_tree_gives_an_unknown_code_hash(tmp_path):
    assert code_hash(tmp_path) == "unknown"  # not the hash of nothing, which would look like a version


def test_check_same_code_refuses_other_code_naming_the_file(tmp_path):
    check_same_code({"code_hash": "abc"}, "abc", tmp_path / "run.json")
    with pytest.raises(ProvenanceError, match=r"run\.json: made on code abc, this is code def.*Fix: delete it"):
        check_same_code({"code_hash": "abc"}, "def", tmp_path / "run.json")
    with pytest.raises(ProvenanceError, match="unknown hash"):  # a cache from before code hashes
        check_same_code({}, "def", tmp_path / "run.json")


@pytest.fixture
def bench(monkeypatch):
    """The Dice-gain benchmark's setup and run modules, imported from benchmarks/."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    setup = importlib.import_module("dice_gain_setup")
    runs = importlib.import_module("dice_gain_runs")
    return setup, runs


def test_benchmark_cache_hit_after_a_code_change_is_refused(bench, tmp_path, monkeypatch):
    setup, runs = bench
    root = fake_tree(tmp_path / "code")
    monkeypatch.setattr(setup, "code_hash", lambda: code_hash(root))
    monkeypatch.setattr(runs, "code_hash", lambda: code_hash(root))
    cache = tmp_path / "runs" / "n30-classical-s0.json"
    cache.parent.mkdir()
    cache.write_text(json.dumps({"condition": "classical", "code_hash": code_hash(root)}))
    assert setup.read_cached(cache)["condition"] == "classical"  # same code: a hit

    (root / "src" / "pkg" / "a.py").write_text("A = 2  # a change to the library\n")
    with pytest.raises(ProvenanceError, match=re.escape(str(cache))):
        setup.read_cached(cache)
    # and the key of the next run moves with the code, so it is a miss, not a stale hit
    assert setup.fingerprint({"code": code_hash(root)}) != setup.fingerprint({"code": "old"})


def test_cached_gan_says_it_was_loaded_from_the_cache_and_refuses_other_code(bench, tmp_path, monkeypatch):
    setup, runs = bench
    current = {"hash": "c0de"}
    monkeypatch.setattr(setup, "code_hash", lambda: current["hash"])
    monkeypatch.setattr(runs, "code_hash", lambda: current["hash"])

    class Painter:
        def fit(self, samples, **kwargs):
            self.fitted_on = [s for s in samples]

        def save(self, folder):
            Path(folder).mkdir(parents=True)
            (Path(folder) / "config.json").write_text("{}")

        @classmethod
        def load(cls, folder):
            return cls()

    args = type("Args", (), {"gan_seed": 0, "progress": False})()
    folder = tmp_path / "gan" / "painter"
    _, info = runs._trained_or_cached(args, Painter(), folder, ["s1"], ["v1"], "painter")
    assert info["source"] == "trained by this benchmark" and info["code_hash"] == "c0de"

    _, info = runs._trained_or_cached(args, Painter(), folder, ["s1"], ["v1"], "painter")
    assert info["source"].startswith(f"loaded from the cache {folder}")
    assert info["train_seconds"] is None  # not trained now

    current["hash"] = "c0de2"
    with pytest.raises(ProvenanceError, match="info.json: made on code c0de, this is code c0de2"):
        runs._trained_or_cached(args, Painter(), folder, ["s1"], ["v1"], "painter")
    (folder / "info.json").unlink()  # a model with no record of the code that made it
    with pytest.raises(ProvenanceError, match="info.json: made on code of unknown hash"):
        runs._trained_or_cached(args, Painter(), folder, ["s1"], ["v1"], "painter")
