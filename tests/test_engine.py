"""expand on the real data sets, and its reproducibility guarantees."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import tifffile

from augkit.demo import write_demo
from augkit.engine import expand, plan_sources, read_manifest, staging_dir, Shard
from augkit.io import read_dataset


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    return write_demo(tmp_path_factory.mktemp("demo") / "demo", num_cases=8, size=48)


def test_lgg_30_to_300(shared_data, tmp_path):
    src = shared_data / "lgg" / "train30"
    out = tmp_path / "lgg300"
    result = expand(src, 300, out, seed=1, progress=False)
    assert result.num_samples == 300 and result.counts == {"real": 30, "classical": 270}
    rows = read_manifest(out / "manifest.csv")
    assert len(rows) == 300 and [int(r["index"]) for r in rows] == list(range(300))
    images = sorted(p for p in out.rglob("*.tif") if not p.name.endswith("_mask.tif"))
    masks = sorted(out.rglob("*_mask.tif"))
    assert len(images) == 300 and len(masks) == 300
    # The 30 originals are untouched, in their own patient folders.
    for original in src.rglob("*.tif"):
        assert (out / original.relative_to(src)).read_bytes() == original.read_bytes()
    for m in masks[::7]:
        assert set(np.unique(tifffile.imread(m))) <= {0, 255}
    # Every new sample lives beside its parent and records what was drawn.
    for row in rows[30:]:
        assert row["source"] == "classical" and row["parent_id"]
        assert row["id"].split("/")[0] == row["parent_id"].split("/")[0]
        assert row["seed"] and "transforms" in row["params"]
    assert not staging_dir(out).exists()


def test_brats_expand_keeps_nifti_affine_and_labels(shared_data, tmp_path):
    case = sorted((shared_data / "brats").iterdir())[0]
    src = tmp_path / "brats"
    src.mkdir()
    os.symlink(case, src / case.name)
    real = read_dataset(src)
    out = tmp_path / "brats_out"
    result = expand(src, len(real) + 12, out, seed=0, progress=False, dataset=real)
    assert result.counts == {"real": len(real), "classical": 12}
    src_img = nib.load(case / f"{case.name}_flair.nii.gz")
    new_rows = [r for r in read_manifest(out / "manifest.csv") if r["source"] == "classical"]
    for row in new_rows[:4]:
        name = row["id"].split("/")[-1]
        parent_z = int(row["parent_id"].rsplit("_z", 1)[1])
        flair = nib.load(out / row["files"].split(";")[0])
        assert flair.shape == (240, 240, 1) and flair.get_data_dtype() == np.int16
        expected = src_img.slicer[:, :, parent_z:parent_z + 1].affine
        assert np.allclose(flair.affine, expected)
        seg = nib.load(next(p for p in (out / name).glob("*_seg.nii.gz")))
        assert set(np.unique(np.asarray(seg.dataobj))) <= {0, 1, 2, 4}
    assert len(read_dataset(out)) == len(real) + 12


def test_membrane_expand_writes_png_folders(shared_data, tmp_path):
    out = tmp_path / "membrane_out"
    expand(shared_data / "membrane", 36, out, seed=0, progress=False)
    assert len(list((out / "image").glob("*.png"))) == 36
    assert len(list((out / "label").glob("*.png"))) == 36
    back = read_dataset(out)
    assert len(back) == 36 and all(set(np.unique(s.mask)) <= {0, 255} for s in back)


def test_same_seed_same_bytes_other_seed_other_bytes(demo_dir, tmp_path):
    a = tree_digest(expand(demo_dir, 40, tmp_path / "a", seed=3, progress=False).out_dir)
    b = tree_digest(expand(demo_dir, 40, tmp_path / "b", seed=3, progress=False).out_dir)
    c = tree_digest(expand(demo_dir, 40, tmp_path / "c", seed=4, progress=False).out_dir)
    assert a == b
    assert a != c


def test_shards_are_disjoint_and_their_union_is_the_full_run(demo_dir, tmp_path):
    full = tree_digest(expand(demo_dir, 30, tmp_path / "full", seed=2, progress=False).out_dir)
    union, rows = {}, []
    for i in range(3):
        out = expand(demo_dir, 30, tmp_path / f"part{i}", seed=2, shard=Shard(i, 3), progress=False).out_dir
        part = tree_digest(out)
        manifest = part.pop("manifest.csv")
        assert manifest and not set(part) & set(union)  # disjoint
        union.update(part)
        rows += read_manifest(out / "manifest.csv")
    full.pop("manifest.csv")
    assert union == full
    assert sorted(int(r["index"]) for r in rows) == list(range(30))


def test_kill_midway_then_rerun_gives_the_uninterrupted_result(tmp_path):
    src = write_demo(tmp_path / "demo", num_cases=10, size=128)
    reference = tree_digest(expand(src, 1500, tmp_path / "ref", seed=5, progress=False).out_dir)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "augkit", "expand", "--in", str(src), "--to", "1500",
           "--out", str(out), "--seed", "5", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = staging_dir(out) / ".augkit" / "rows"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if rows.is_dir() and len(os.listdir(rows)) >= 200:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed; make it longer"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(os.listdir(rows))
    assert 200 <= done < 1500 and not out.exists()
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert tree_digest(out) == reference


def test_plan_mixes_sources_at_the_asked_fraction():
    plan = plan_sources(30, 300, 0.4)
    assert plan[:30] == ["real"] * 30
    assert plan.count("gan") == 108 and plan.count("classical") == 162
    assert abs(plan[30:130].count("gan") - 40) <= 1  # any prefix is mixed, not gan-last
