"""evaluate_images end to end on constructed sets: a copy of the real set, a set of noise, a
collapsed set (30 copies of one image); the report files; bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from augkit.errors import UsageError
from augkit.evaluate import evaluate_images
from augkit.sample import Provenance, Sample

PNGS = {"examples.png", "nn_similarity.png", "feature_distances.png", "closest_pairs.png",
        "intensity_histograms.png"}


@pytest.fixture(scope="module")
def copy_run(real_set, derive, tmp_path_factory):
    out = tmp_path_factory.mktemp("copy")
    return out, evaluate_images(real_set, derive(real_set, lambda im, m: (im.copy(), m), "copy"), out)


def test_copy_is_flagged_and_sits_at_the_floor(copy_run):
    out, m = copy_run
    mem = m["memorisation"]
    assert mem["num_near_copies"] == 30 and mem["near_copy_fraction"] == 1.0
    fr, kd = m["fidelity"]["frechet"], m["fidelity"]["kid"]
    assert fr["ratio"] <= 1.2 and fr["full"] == pytest.approx(0.0, abs=1e-6)
    assert kd["excess_sd"] <= 2.0
    assert m["diversity"]["feature_ratio"] == pytest.approx(1.0)
    assert m["diversity"]["pixel_ratio"] == pytest.approx(1.0)


def test_report_files_are_written(copy_run):
    out, m = copy_run
    names = {p.name for p in out.iterdir()}
    assert PNGS | {"near_copies.png", "report.html", "metrics.json"} <= names
    assert not any(p.name.startswith(".tmp-") for p in out.parent.iterdir())
    for png in PNGS:
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(m))
    html = (out / "report.html").read_text()
    assert all(png in html for png in PNGS) and "copy-real00" in html


def test_noise_is_far_above_the_floor(real_set, tmp_path):
    rng = np.random.default_rng(5)
    noise = [Sample(image=rng.integers(0, 256, s.image.shape, dtype=np.uint8), mask=s.mask,
                    provenance=Provenance(id=f"noise{i}", source="gan")) for i, s in enumerate(real_set)]
    m = evaluate_images(real_set, noise, tmp_path, seed=1)
    assert m["fidelity"]["frechet"]["ratio"] > 10
    assert m["fidelity"]["kid"]["excess_sd"] > 10
    assert m["memorisation"]["num_near_copies"] == 0
    assert "near_copies.png" not in {p.name for p in tmp_path.iterdir()}


def test_collapsed_set_has_no_diversity(real_set, tmp_path):
    one = real_set[3]
    collapsed = [Sample(image=one.image.copy(), mask=one.mask.copy(),
                        provenance=Provenance(id=f"c{i}", source="gan")) for i in range(30)]
    m = evaluate_images(real_set, collapsed, tmp_path)
    d = m["diversity"]
    assert d["feature_ratio"] < 0.01 and d["pixel_ratio"] < 0.01
    assert d["feature_real"] > 1.0  # the real set itself is varied


def test_bad_input(real_set, tmp_path):
    with pytest.raises(UsageError, match="at least 2"):
        evaluate_images(real_set, real_set[:1], tmp_path)
    rgb = [Sample(image=np.zeros((48, 48, 3), np.uint8), provenance=Provenance(id=f"x{i}")) for i in range(3)]
    with pytest.raises(UsageError, match="channels"):
        evaluate_images(real_set, rgb, tmp_path)
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_a_failed_report_leaves_nothing(real_set, derive, tmp_path, monkeypatch):
    import augkit.evaluate.report as report

    def broken(*args, **kwargs):
        raise RuntimeError("plot failed")

    monkeypatch.setattr(report, "_plot_intensities", broken)
    with pytest.raises(RuntimeError, match="plot failed"):
        evaluate_images(real_set[:6], derive(real_set[:6], lambda im, m: (im, m), "c"), tmp_path / "rep")
    assert list(tmp_path.iterdir()) == []


def test_rerun_into_the_same_folder_replaces_the_report(real_set, make_set, copy_run, tmp_path):
    out = tmp_path / "report"
    shutil.copytree(copy_run[0], out)
    assert (out / "near_copies.png").exists()
    m = evaluate_images(real_set, make_set(10, seed=42, tag="new", source="gan"), out)
    assert m["memorisation"]["num_near_copies"] == 0
    assert not (out / "near_copies.png").exists()  # the copy run's grid is gone
    assert json.loads((out / "metrics.json").read_text())["num_synthetic"] == 10
