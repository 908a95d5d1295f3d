"""generate_shards: shard layout, read-back, resume after a kill, shards reproducible alone."""

from __future__ import annotations

import json

import numpy as np
import pytest

import augkit.generate.bulk
from augkit.generate.bulk import generate_shards
from augkit.errors import UsageError
from augkit.generators.contract import Generator
from augkit.io import detect_format, read_dataset
from augkit.sample import Provenance, Sample
from augkit.seeding import rng_for


class FakeGenerator(Generator):
    """Sample i of generate(seed) depends only on (seed, i), like the real generators."""

    name = "fake"
    tasks = frozenset({"image+tabular", "segmentation"})

    def __init__(self, dtype="uint8", fail_after: int | None = None):
        self.dtype = dtype
        self.fail_after = fail_after
        self.made = 0

    def get_config(self):
        return {}

    def fit(self, *args, **kwargs):
        return {}

    def generate(self, num_samples, *, seed, conditions=None, batch_size=16):
        for i in range(num_samples):
            if self.fail_after is not None and self.made >= self.fail_after:
                raise KeyboardInterrupt  # what a user's Ctrl-C looks like mid-shard
            self.made += 1
            rng = rng_for(seed, i)
            image = (rng.random((8, 8, 1)) * 255).astype(self.dtype)
            mask = None if conditions is None else np.asarray(conditions[i], np.uint8)
            yield Sample(image=image, mask=mask, label=int(rng.integers(0, 2)),
                         features={"age": int(rng.integers(20, 90)), "sex": str(rng.choice(["F", "M"])),
                                   "bp": float("nan") if i % 3 == 0 else round(float(rng.normal(120, 9)), 2)},
                         provenance=Provenance(id=f"fake-{seed}-{i}", source="gan", generator=self.name,
                                               checkpoint_hash="abc123", seed=seed, params={"index": i}))

    def save(self, directory):
        pass

    @classmethod
    def load(cls, directory):
        return cls()

    @property
    def checkpoint_hash(self):
        return "abc123"


def shard_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_layout_summary_and_read_back(tmp_path):
    out = tmp_path / "bulk"
    summary = generate_shards(FakeGenerator(), 25, out, seed=3, shard_size=10, batch_size=4, progress=False)
    assert summary["num_shards"] == 3 and summary["shards_written"] == [0, 1, 2]
    assert summary["samples_written"] == 25 and summary["shards_skipped"] == []
    assert sorted(p.name for p in out.iterdir()) == ["bulk.json", "shard-00000", "shard-00001", "shard-00002"]
    shard = out / "shard-00002"
    assert sorted(p.name for p in shard.iterdir()) == ["000000020.png", "000000021.png", "000000022.png",
                                                       "000000023.png", "000000024.png", "table.csv"]
    header = (shard / "table.csv").read_text().splitlines()[0].split(",")
    assert header == ["id", "image", "mask", "age", "sex", "bp", "label", "source", "parent_id",
                      "generator", "checkpoint_hash", "seed", "params"]
    assert json.loads((out / "bulk.json").read_text())["features"] == ["age", "sex", "bp"]

    assert detect_format(out).name == "shards"
    back = read_dataset(out)
    assert [s.id for s in back] == [f"{i:09d}" for i in range(25)]
    # sample 23 is sample 3 of shard 2's first block: the same bytes the generator makes there
    from augkit.seeding import derive_seed

    expected = list(FakeGenerator().generate(4, seed=derive_seed(3, 2, 0)))[3]
    got = back[23]
    np.testing.assert_array_equal(got.image, expected.image)
    assert got.features["age"] == expected.features["age"] and got.features["sex"] == expected.features["sex"]
    assert got.label == expected.label and got.mask is None
    assert got.provenance.source == "gan" and got.provenance.checkpoint_hash == "abc123"
    assert got.provenance.params == {"block": 0, "index": 3, "shard": 2}
    assert np.isnan(back[0].features["bp"])  # a missing value stays missing


def test_rerun_skips_finished_shards(tmp_path):
    out = tmp_path / "bulk"
    generate_shards(FakeGenerator(), 30, out, shard_size=10, shards=[1], progress=False)
    finished = out / "shard-00001"
    before = {p.name: p.stat().st_mtime_ns for p in finished.iterdir()}
    inode = finished.stat().st_ino
    gen = FakeGenerator()
    summary = generate_shards(gen, 30, out, shard_size=10, progress=False)
    assert summary["shards_skipped"] == [1] and summary["shards_written"] == [0, 2]
    assert gen.made == 20  # shard 1 was not generated again
    assert finished.stat().st_ino == inode
    assert {p.name: p.stat().st_mtime_ns for p in finished.iterdir()} == before


def test_killed_run_leaves_whole_shards_and_resumes(tmp_path):
    out = tmp_path / "bulk"
    with pytest.raises(KeyboardInterrupt):
        generate_shards(FakeGenerator(fail_after=15), 30, out, shard_size=10, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["bulk.json", "shard-00000"]  # no half shard, no temp
    summary = generate_shards(FakeGenerator(), 30, out, shard_size=10, progress=False)
    assert summary["shards_skipped"] == [0] and summary["shards_written"] == [1, 2]
    clean = tmp_path / "clean"
    generate_shards(FakeGenerator(), 30, clean, shard_size=10, progress=False)
    for k in range(3):
        assert shard_bytes(out / f"shard-{k:05d}") == shard_bytes(clean / f"shard-{k:05d}")


def test_a_shard_made_alone_equals_that_shard_of_the_full_run(tmp_path, monkeypatch):
    monkeypatch.setattr(augkit.generate.bulk, "BLOCK_SIZE", 8)  # shards of several seeding blocks, kept small
    full, alone = tmp_path / "full", tmp_path / "alone"
    generate_shards(FakeGenerator(), 50, full, seed=7, shard_size=20, batch_size=4, progress=False)
    summary = generate_shards(FakeGenerator(), 50, alone, seed=7, shard_size=20, batch_size=3, shards=[1],
                              progress=False)  # batch size does not matter
    assert summary["shards_written"] == [1]
    assert sorted(p.name for p in alone.iterdir()) == ["bulk.json", "shard-00001"]
    assert shard_bytes(alone / "shard-00001") == shard_bytes(full / "shard-00001")
    assert shard_bytes(full / "shard-00000") != shard_bytes(full / "shard-00001")
    blocks = {s.provenance.params["block"] for s in read_dataset(alone).samples}
    assert blocks == {0, 1, 2}


def test_masks_from_conditions_and_npy_for_other_dtypes(tmp_path):
    masks = [np.eye(8, dtype=np.uint8) * k for k in range(3)]
    out = tmp_path / "bulk"
    generate_shards(FakeGenerator(dtype="float32"), 5, out, shard_size=5,
                    conditions=lambda i: masks[i % 3], progress=False)
    names = sorted(p.name for p in (out / "shard-00000").iterdir())
    assert "000000004.npy" in names and "000000004_mask.png" in names
    back = read_dataset(out)
    assert back[4].image.dtype == np.float32
    np.testing.assert_array_equal(back[4].mask, masks[1])


def test_settings_must_match_to_resume(tmp_path):
    out = tmp_path / "bulk"
    generate_shards(FakeGenerator(), 10, out, shard_size=5, shards=[0], progress=False)
    with pytest.raises(UsageError, match="seed: 0 there, 1 now"):
        generate_shards(FakeGenerator(), 10, out, seed=1, shard_size=5, progress=False)
    with pytest.raises(UsageError, match="out of range"):
        generate_shards(FakeGenerator(), 10, out, shard_size=5, shards=[2], progress=False)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not empty"):
        generate_shards(FakeGenerator(), 10, other, progress=False)
    with pytest.raises(UsageError, match="function index -> condition"):
        generate_shards(FakeGenerator(), 10, tmp_path / "x", conditions=[np.zeros((8, 8))], progress=False)


def test_drop_rows_leaves_out_a_planted_copy_of_a_real_row(tmp_path):
    """A generated row equal to a real patient's is not written; the others are, and the shard
    lists what it dropped."""
    from augkit.evaluate.table_privacy import NearestRecord

    made = list(FakeGenerator().generate(40, seed=augkit.generate.bulk.derive_seed(3, 0, 0)))
    planted = [made[5], made[17]]  # two generated rows planted among the real ones
    rng = np.random.default_rng(1)
    others = [{"age": int(rng.integers(20, 90)), "sex": str(rng.choice(["F", "M"])),
               "bp": round(float(rng.normal(120, 9)), 2)} for _ in range(20)]
    reals = [dict(s.features) for s in planted] + others
    records = NearestRecord(reals, [f"real{i}" for i in range(len(reals))])
    summary = generate_shards(FakeGenerator(), 40, tmp_path / "out", seed=3, shard_size=40,
                              progress=False, workers=1, drop_rows=records)
    kept = read_dataset(tmp_path / "out").samples
    kept_ids = {s.id for s in kept}
    dropped = (tmp_path / "out" / "shard-00000" / "near_copies.csv").read_text().splitlines()[1:]
    dropped_ids = {line.split(",")[0] for line in dropped}
    assert {"000000005", "000000017"} <= dropped_ids
    assert {line.split(",")[1] for line in dropped if line.split(",")[0] in ("000000005", "000000017")} \
        == {"real0", "real1"}
    assert summary["near_copies_dropped"] == len(dropped_ids) and len(kept) + len(dropped_ids) == 40
    assert not kept_ids & dropped_ids
    assert all(not records.is_near_copy(records.nearest(s.features)[1]) for s in kept)
    assert json.loads((tmp_path / "out" / "bulk.json").read_text())["drop_near_copy_rows_closer_than"] > 0


def test_patient_rows_keep_the_near_copy_threshold_when_patients_have_several_slices():
    """Two slices of each patient share its row: counted per slice, every real row has a
    duplicate and only exact copies would be caught; per patient, a row a hair from a patient's
    is a near copy."""
    from augkit.evaluate.table_privacy import NearestRecord
    from augkit.tables.patients import patient_rows

    rng = np.random.default_rng(4)
    patients = [{"age": float(rng.integers(20, 90)), "sex": str(rng.choice(["F", "M"])),
                 "bp": round(float(rng.normal(120, 9)), 2)} for _ in range(12)]
    slices = [Sample(image=np.zeros((4, 4, 1), np.uint8), features=dict(row), meta={"table_id": f"pt{i}"},
                     provenance=Provenance(id=f"pt{i}-s{k}")) for i, row in enumerate(patients) for k in range(2)]
    rows, ids = patient_rows(slices)
    assert ids == [f"pt{i}-s0" for i in range(12)] and rows == patients
    hair = {**patients[3], "bp": patients[3]["bp"] + 0.01}
    per_patient = NearestRecord(rows, ids)
    assert per_patient.nearest(hair)[0] == "pt3-s0" and per_patient.is_near_copy(per_patient.nearest(hair)[1])
    per_slice = NearestRecord([s.features for s in slices], [s.id for s in slices])
    assert not per_slice.is_near_copy(per_slice.nearest(hair)[1])  # why the rows are per patient
