"""expand on the real data sets, and its reproducibility guarantees."""

import json
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

from tree_digests import tree_digest
from augkit.io.demo import write_demo
from augkit.expand.manifest import read_manifest
from augkit.expand.options import Shard
from augkit.expand.run import expand
from augkit.expand.staging import staging_dir
from augkit.expand.plan import plan_sources
from augkit.io import read_dataset



def finished_file_stamps(stage: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime) of every file of the indices a run has marked finished: a resume that
    reuses them keeps both; a redo writes new files (atomic replace: new inodes)."""
    stamps = {}
    for row_file in (stage / ".augkit" / "rows").glob("[0-9]*.json"):
        for name in filter(None, json.loads(row_file.read_text()).get("files", "").split(";")):
            st = (stage / name).stat()
            stamps[name] = (st.st_ino, st.st_mtime_ns)
    return stamps


def stamps_now(root: Path, names) -> dict[str, tuple[int, int]]:
    return {name: ((root / name).stat().st_ino, (root / name).stat().st_mtime_ns) for name in names}


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
    real = read_dataset(src, unit="slice")
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
        seg = nib.load(out / row["files"].split(";")[-1])
        assert row["files"].split(";")[-1] == f"{case.name}/{name}/{name}_seg.nii.gz"
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
        assert part.pop(".augkit.json")  # each part's marker, like its manifest, is its own
        assert manifest and not set(part) & set(union)  # disjoint
        union.update(part)
        rows += read_manifest(out / "manifest.csv")
    full.pop("manifest.csv")
    full.pop(".augkit.json")
    assert union == full
    assert sorted(int(r["index"]) for r in rows) == list(range(30))


def test_kill_midway_then_rerun_gives_the_uninterrupted_result(tmp_path):
    src = write_demo(tmp_path / "demo", num_cases=10, size=128)
    reference = tree_digest(expand(src, 1500, tmp_path / "ref", seed=5, progress=False).out_dir)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "augkit", "expand", "--in", str(src), "--to", "1500",
           "--out", str(out), "--seed", "5", "--quiet", "--generator", "none"]  # the API's classical run
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
    kept = finished_file_stamps(staging_dir(out))
    assert len(kept) >= 200
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert tree_digest(out) == reference
    assert stamps_now(out, kept) == kept  # the finished samples were moved in, not made again


def test_resume_ignores_half_written_files_of_the_killed_run(demo_dir, tmp_path, monkeypatch):
    # A SIGKILL between mkstemp and os.replace leaves an empty ".tmp-*.json" among the rows;
    # the resumed run must neither read it as a row nor ship it.
    import augkit.expand.maker as maker

    reference = tree_digest(expand(demo_dir, 40, tmp_path / "ref", seed=4, progress=False).out_dir)
    out = tmp_path / "run"
    real_make, calls = maker.SampleMaker.make, []

    def make_then_die(self, index, source):
        if len(calls) == 15:
            raise KeyboardInterrupt
        calls.append(index)
        return real_make(self, index, source)

    monkeypatch.setattr(maker.SampleMaker, "make", make_then_die)
    with pytest.raises(KeyboardInterrupt):
        expand(demo_dir, 40, out, seed=4, progress=False)
    monkeypatch.setattr(maker.SampleMaker, "make", real_make)
    rows = staging_dir(out) / ".augkit" / "rows"
    assert len(os.listdir(rows)) == 15
    (rows / ".tmp-killed.json").write_bytes(b"")
    (staging_dir(out) / ".tmp-killed.png").write_bytes(b"\x89PN")
    kept = finished_file_stamps(staging_dir(out))
    made_again = []

    def counted_make(self, index, source):
        made_again.append(index)
        return real_make(self, index, source)

    monkeypatch.setattr(maker.SampleMaker, "make", counted_make)
    result = expand(demo_dir, 40, out, seed=4, progress=False)
    assert tree_digest(out) == reference
    assert result.resumed == 15
    assert sorted(made_again) == sorted(set(range(40)) - set(calls))  # only the missing indices
    assert stamps_now(out, kept) == kept


def test_plan_mixes_sources_at_the_asked_fraction():
    plan = plan_sources(30, 300, 0.4)
    assert plan[:30] == ["real"] * 30
    assert plan.count("gan") == 108 and plan.count("classical") == 162
    assert abs(plan[30:130].count("gan") - 40) <= 1  # any prefix is mixed, not gan-last


class PaintingGenerator:
    """A stand-in segmentation generator for engine tests: paints either a fixed real image
    (a memorising GAN) or seeded noise (a GAN that copies nothing)."""

    name = "stand-in"
    tasks = frozenset({"segmentation"})
    checkpoint_hash = "abc123"

    def __init__(self, memorised=None):
        self.memorised = memorised

    def generate(self, num_samples, *, seed, conditions=None, batch_size=16):
        from augkit.sample import Provenance, Sample

        for mask in conditions[:num_samples]:
            if self.memorised is not None:
                image = self.memorised.copy()
            else:
                rng = np.random.default_rng(seed)
                image = rng.integers(0, 255, (*mask.shape, 3)).astype(np.uint8)
            yield Sample(image=image, mask=mask, provenance=Provenance(id="g", source="gan"))


def test_gan_path_paints_real_masks_and_records_the_mix(demo_dir, tmp_path):
    real = read_dataset(demo_dir)
    result = expand(demo_dir, 28, tmp_path / "out", seed=0, generator=PaintingGenerator(),
                    gan_fraction=0.5, progress=False)
    assert result.counts == {"real": 8, "classical": 10, "gan": 10}
    rows = read_manifest(tmp_path / "out" / "manifest.csv")
    gan_rows = [r for r in rows if r["source"] == "gan"]
    assert all(r["generator"] == "stand-in" and r["checkpoint_hash"] == "abc123" for r in gan_rows)
    real_masks = {s.id: s.mask for s in real}
    back = {s.id: s for s in read_dataset(tmp_path / "out")}
    for row in gan_rows:
        mask = back[row["id"]].mask
        parent = real_masks[row["parent_id"]]
        # exact labels and the same tumour size up to the geometric transform's scale
        assert set(np.unique(mask)) <= {0, 255}
        assert 0.6 < (mask > 0).sum() / max((parent > 0).sum(), 1) < 1.6


def test_near_copies_are_repainted_then_dropped_and_listed(demo_dir, tmp_path):
    real = read_dataset(demo_dir)
    memorising = PaintingGenerator(memorised=real[3].image)
    result = expand(demo_dir, 12, tmp_path / "copies", seed=0, generator=memorising, gan_fraction=1.0,
                    progress=False, drop_near_copies=0.95)
    assert result.dropped == 4 and result.num_samples == 8 and result.near_copies == 16
    events = read_manifest(tmp_path / "copies" / "near_copies.csv")
    assert {e["nearest_real_id"] for e in events} == {real[3].id}
    assert [e["outcome"] for e in events[:4]] == ["regenerated"] * 3 + ["dropped"]
    honest = expand(demo_dir, 12, tmp_path / "noise", seed=0, generator=PaintingGenerator(),
                    gan_fraction=1.0, progress=False, drop_near_copies=0.95)
    assert honest.dropped == 0 and honest.num_samples == 12 and honest.near_copies == 0
    assert read_manifest(tmp_path / "noise" / "near_copies.csv") == []


def test_every_parent_gets_both_gan_and_classical_variants():
    plan = plan_sources(30, 300, 0.5)
    for parent in range(30):
        kinds = [plan[30 + j] for j in range(parent, 270, 30)]
        assert 4 <= kinds.count("gan") <= 5, (parent, kinds)


@pytest.mark.parametrize("num_real, target, fraction", [(6, 14, 0.5), (7, 40, 0.3), (30, 300, 0.5),
                                                        (5, 6, 1.0), (4, 30, 0.0), (269, 300, 0.5)])
def test_plan_totals_are_exact_for_any_shape(num_real, target, fraction):
    plan = plan_sources(num_real, target, fraction)
    assert len(plan) == target and plan.count("real") == num_real
    assert plan.count("gan") == int((target - num_real) * fraction)


class RowPainter:
    """A stand-in image+table generator: a seeded grey image and a feature row per call."""

    name = "row-painter"
    tasks = frozenset({"image+tabular"})
    checkpoint_hash = "feed01"

    def generate(self, num_samples, *, seed, conditions=None, batch_size=16):
        from augkit.sample import Provenance, Sample

        assert conditions is None  # nothing to condition on for image + table data
        for _ in range(num_samples):
            value = int(np.random.default_rng(seed).integers(0, 255))
            yield Sample(image=np.full((6, 5, 1), value, np.uint8), features={"age": 50.0 + value % 7, "sex": "F"},
                         provenance=Provenance(id="g", source="gan"))


def test_gan_path_for_image_and_table_data(tmp_dataset, tmp_path):
    src = tmp_dataset({"table.csv": b"id,age,sex\na,61,F\nb,47,M\n",
                       "images/a.png": np.full((6, 5), 10, np.uint8), "images/b.png": np.full((6, 5), 20, np.uint8)})
    result = expand(src, 6, tmp_path / "out", generator=RowPainter(), gan_fraction=1.0, progress=False)
    assert result.counts == {"real": 2, "gan": 4}
    back = read_dataset(tmp_path / "out")
    gan = [s for s in back if "_gan" in s.id]
    assert len(gan) == 4 and all(s.features["sex"] == "F" and 50 <= s.features["age"] < 57 for s in gan)


def test_class_folders_are_balanced_by_default(tmp_dataset, tmp_path):
    grey = lambda v: np.full((8, 8), v, np.uint8)  # noqa: E731
    src = tmp_dataset({"G2/a.png": grey(10), "G2/b.png": grey(20), "G2/c.png": grey(30),
                       "G3/d.png": grey(40)})
    result = expand(src, 10, tmp_path / "out", progress=False)
    back = read_dataset(tmp_path / "out")
    from collections import Counter

    assert Counter(s.label for s in back) == {"G2": 5, "G3": 5}
    assert result.counts == {"real": 4, "classical": 6}
    unbalanced = read_dataset(expand(src, 10, tmp_path / "plain", progress=False, balance=False).out_dir)
    # Real proportions, not balanced: each real is a parent once (G2 +3, G3 +1), then two more
    # parents in the seeded order (it used to be id order, which always gave G2 8, G3 2).
    counts = Counter(s.label for s in unbalanced)
    assert counts["G2"] in (7, 8) and counts["G2"] + counts["G3"] == 10


def test_lesion_region_keeps_the_real_anatomy_and_takes_the_lesion_from_the_gan(demo_dir, tmp_path):
    from augkit.transforms.blend import lesion_alpha
    from augkit.transforms.pipeline import ClassicalPipeline

    real = {s.id: s for s in read_dataset(demo_dir)}
    result = expand(demo_dir, 16, tmp_path / "out", seed=0, generator=PaintingGenerator(),
                    gan_fraction=1.0, gan_region="lesion", progress=False)
    assert result.counts == {"real": 8, "gan": 8}
    rows = [r for r in read_manifest(tmp_path / "out" / "manifest.csv") if r["source"] == "gan"]
    back = {s.id: s for s in read_dataset(tmp_path / "out")}
    geometry = ClassicalPipeline().geometric_only()
    checked = 0
    for row in rows:
        sample = back[row["id"]]
        moved, mask, _ = geometry.apply(real[row["parent_id"]].image, real[row["parent_id"]].mask,
                                        int(row["seed"]))
        np.testing.assert_array_equal(mask, sample.mask)
        alpha = lesion_alpha(mask)
        outside, inside = alpha == 0, alpha == 1
        # outside the grown lesion: exactly the real image under the mask's transform
        np.testing.assert_array_equal(sample.image[outside], moved[outside])
        if inside.any():  # inside: the painter's noise, not the real image
            assert np.abs(sample.image[inside].astype(int) - moved[inside].astype(int)).mean() > 20
            checked += 1
    assert checked >= 4


def test_lesion_region_needs_masks(tmp_dataset, tmp_path):
    from augkit.errors import UsageError

    src = tmp_dataset({"G2/a.png": np.full((8, 8), 10, np.uint8), "G3/b.png": np.full((8, 8), 20, np.uint8)})
    with pytest.raises(UsageError, match="needs masks"):
        expand(src, 6, tmp_path / "out", generator=PaintingGenerator(), gan_region="lesion", progress=False)
    assert not (tmp_path / "out").exists()


# ---- parents spread over cases and patients (issue 14.6) ----------------------------------
def _case_counts(dataset, parents):
    from collections import Counter

    return Counter(dataset.samples[p].id.split("/")[0] for p in parents)  # BraTS case, LGG patient


def test_a_few_added_samples_spread_over_every_brats_case(shared_data):
    from augkit.expand.plan import plan_parents

    brats = read_dataset(shared_data / "brats", unit="slice")  # 4 cases, 269 tumour slices
    cases = {s.meta["case"] for s in brats}
    assert len(cases) == 4 and len(brats) == 269
    parents = plan_parents(brats, 300, False)
    counts = _case_counts(brats, parents)
    assert set(counts) == cases and set(counts.values()) <= {7, 8}, counts  # not 31 from the first
    assert len(set(parents)) == 31
    # every real once per round, so a larger target gives each real its turn
    many = plan_parents(brats, 269 * 3, False)
    assert sorted(many[:269]) == list(range(269)) and many[269:] == many[:269]


def test_lgg_patients_each_give_one_parent_before_any_gives_two(shared_data):
    from augkit.expand.plan import plan_parents

    val = read_dataset(shared_data / "lgg" / "val")  # 10 patients, 70 slices
    counts = _case_counts(val, plan_parents(val, 80, False))
    assert len(counts) == 10 and set(counts.values()) == {1}


def test_the_parent_plan_is_a_pure_function_of_dataset_target_and_seed(demo_dir):
    from augkit.expand.plan import plan_parents

    real = read_dataset(demo_dir)
    a = plan_parents(real, 30, False, seed=3)
    assert a == plan_parents(read_dataset(demo_dir), 30, False, seed=3)
    assert a != plan_parents(real, 30, False, seed=4)
    assert plan_parents(real, 20, False, seed=3) == a[:12]  # a larger target only adds


# ---- a resizing preset gives one image size (issue 14.8) ----------------------------------
RESIZE_32 = {"transforms": [{"name": "hflip", "p": 0.5}, {"name": "resize", "height": 32, "width": 32}]}


def test_a_resizing_preset_resizes_the_reals_too(demo_dir, tmp_path):
    from augkit.sampling.sources import split_expanded
    from augkit.transforms.pipeline import ClassicalPipeline

    out = tmp_path / "out"
    expand(demo_dir, 16, out, seed=0, pipeline=ClassicalPipeline(config=RESIZE_32), progress=False)
    back = read_dataset(out)
    assert len(back) == 16 and {s.image.shape for s in back} == {(32, 32, 3)}
    assert all(set(np.unique(s.mask)) <= {0, 255} for s in back)
    real_rows = [r for r in read_manifest(out / "manifest.csv") if r["source"] == "real"]
    assert len(real_rows) == 8 and all('"Resize"' in r["params"] for r in real_rows)
    real, synthetic = split_expanded(out)
    assert len(real) == 8 and len(synthetic) == 8


def test_a_resizing_preset_is_refused_for_nifti_slices(tmp_dataset, tmp_path):
    from augkit.errors import UsageError
    from augkit.transforms.pipeline import ClassicalPipeline

    seg = np.zeros((16, 16, 3), np.int16)
    seg[4:8, 4:8, 1] = 2
    files = {f"c1/c1_{kind}.nii.gz": np.full((16, 16, 3), 5, np.int16) for kind in ("flair", "t1", "t1ce", "t2")}
    src = tmp_dataset({**files, "c1/c1_seg.nii.gz": seg})
    out = tmp_path / "out"
    with pytest.raises(UsageError, match="resize to 32x32.*affine"):
        expand(src, 4, out, pipeline=ClassicalPipeline(config=RESIZE_32), progress=False,
               read_options={"unit": "slice"})
    with pytest.raises(UsageError, match="'resize' has no meaning for volumes.*voxel size"):
        expand(src, 4, out, pipeline=ClassicalPipeline(config=RESIZE_32), progress=False)  # whole cases
    assert not out.exists() and not staging_dir(out).exists()


class RowCopier(RowPainter):
    """Paints a fresh image each call, but its row is a copy of real row ``b`` for the first
    ``num_copies`` calls (a planted memorised patient), then a new row."""

    name = "row-copier"

    def __init__(self, num_copies):
        self.calls, self.num_copies = 0, num_copies

    def generate(self, num_samples, *, seed, conditions=None, batch_size=16):
        from augkit.sample import Provenance, Sample

        for _ in range(num_samples):
            self.calls += 1
            rng = np.random.default_rng(seed)
            row = {"age": 47.0, "sex": "M"} if self.calls <= self.num_copies else \
                {"age": float(rng.integers(20, 40)), "sex": "F"}
            yield Sample(image=rng.integers(0, 255, (6, 5, 1)).astype(np.uint8), features=row,
                         provenance=Provenance(id="g", source="gan"))


def test_a_planted_copy_of_a_real_row_is_repainted_then_dropped(tmp_dataset, tmp_path):
    table = "id,age,sex\n" + "".join(f"p{i},{50 + 3 * i},{'FM'[i % 2]}\n" for i in range(6)) + "b,47,M\n"
    src = tmp_dataset({"table.csv": table.encode(),
                       **{f"images/{k}.png": np.full((6, 5), 10 + 20 * j, np.uint8)
                          for j, k in enumerate([f"p{i}" for i in range(6)] + ["b"])}})
    result = expand(src, 9, tmp_path / "out", generator=RowCopier(num_copies=5), gan_fraction=1.0,
                    progress=False, drop_near_copies=0.95)
    # index 7: 4 copies in a row -> dropped; index 8: one copy, then a new row
    assert result.dropped == 1 and result.num_samples == 8 and result.near_copies == 5
    events = read_manifest(tmp_path / "out" / "near_copies.csv")
    assert {e["nearest_row_id"] for e in events} == {"images/b"} and {e["row_distance"] for e in events} == {"0.0"}
    assert [e["outcome"] for e in events] == ["regenerated"] * 3 + ["dropped", "regenerated"]
    back = [s for s in read_dataset(tmp_path / "out") if "_gan" in s.id]
    assert len(back) == 1 and back[0].features["sex"] == "F"
    honest = expand(src, 9, tmp_path / "honest", generator=RowCopier(num_copies=0), gan_fraction=1.0,
                    progress=False, drop_near_copies=0.95)
    assert honest.dropped == 0 and honest.near_copies == 0 and honest.num_samples == 9
