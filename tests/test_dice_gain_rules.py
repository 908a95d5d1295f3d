"""The Dice-gain benchmark's own rules (issue 26, items 1-3), checked on a tiny profile and a few
real LGG patients: only training slices reach expand, a generator's fit and the training set;
val choices read validation scores only and are made on a seed that is not reported; test
scores are logged only after the last run; results.json records the code; train/val/test must
not share a patient; ``--reference`` refuses runs made on other code unless asked, and then
names their code in the report."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from augkit.evaluate.provenance import code_hash

REPO = Path(__file__).resolve().parents[1]
TRAIN = ["TCGA_CS_4943_20000902", "TCGA_CS_6186_20000601", "TCGA_CS_6666_20011109", "TCGA_CS_6667_20011105"]


def link_patients(shared_data: Path, split: str, folder: Path, num: int | None = None,
                  names: list[str] | None = None) -> Path:
    """A split folder of symlinks to a few real patients (the data is not copied)."""
    folder.mkdir(parents=True)
    source = shared_data / "lgg" / split
    for name in names or sorted(p.name for p in source.iterdir() if p.is_dir())[:num]:
        (folder / name).symlink_to(source / name, target_is_directory=True)
    return folder


@pytest.fixture
def bench(monkeypatch, tmp_path, shared_data):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    setup = importlib.import_module("dice_gain_setup")
    dice_gain = importlib.import_module("dice_gain")
    runs = importlib.import_module("dice_gain_runs")
    tiny = setup.BenchProfile(
        "tiny", setup.SegmenterConfig(size=32, base_width=4, num_levels=2, batch_size=4, num_steps=2,
                                      eval_every=2, batch_norm=False),
        gan_profile="tiny", seeds=(0,), num_real=(4,), expand_factor=2, out=tmp_path / "out",
        conditions=("none", "classical") + setup.LESION_CONDITIONS, val_sweeps=(setup.LESION_CONDITIONS,),
        selection_seed=9)
    monkeypatch.setitem(setup.PROFILES, "tiny", tiny)
    folders = {"train": link_patients(shared_data, "train30", tmp_path / "train", names=TRAIN),
               "val": link_patients(shared_data, "val", tmp_path / "val", 1),
               "test": link_patients(shared_data, "test", tmp_path / "test", 1)}
    return setup, dice_gain, runs, folders


def argv(folders, tmp_path, *more):
    return ["--profile", "tiny", "--train", str(folders["train"]), "--val", str(folders["val"]),
            "--test", str(folders["test"]), "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out"), *more]


class ValOnly(dict):
    """A run's scores with the test split locked: a choice that reads it fails."""

    def __getitem__(self, key):
        if key == "test":
            raise AssertionError("a val choice read test scores")
        return super().__getitem__(key)


def test_only_training_slices_reach_expand_fit_and_training_and_choices_read_val(bench, tmp_path, monkeypatch,
                                                                                  capsys):
    setup, dice_gain, runs, folders = bench
    import augkit.expand.run
    from augkit.registry.host import get_generator

    seen: dict[str, list[str]] = {"expand": [], "fit": [], "train": []}
    real_expand, real_to_arrays = augkit.expand.run.expand, runs.to_arrays
    lesionmix = get_generator("lesionmix")
    real_fit = lesionmix.fit

    def spy_expand(*args, dataset=None, **kwargs):
        seen["expand"] += [s.id for s in dataset.samples]
        return real_expand(*args, dataset=dataset, **kwargs)

    def spy_fit(self, samples, *args, **kwargs):
        seen["fit"] += [s.id for s in samples]
        return real_fit(self, samples, *args, **kwargs)

    def spy_to_arrays(samples, size, *more):  # the training set of a run (val arrays are made in dice_gain)
        seen["train"] += [s.id for s in samples]
        return real_to_arrays(samples, size, *more)

    real_choose = dice_gain.choose_on_val
    choices = []

    def locked_choose(sweep, done):
        locked = [{**r, "scores": ValOnly(r["scores"])} for r in done]
        choices.append(sorted({r["seed"] for r in done}))
        return real_choose(sweep, locked)

    monkeypatch.setattr(augkit.expand.run, "expand", spy_expand)
    monkeypatch.setattr(lesionmix, "fit", spy_fit)
    monkeypatch.setattr(runs, "to_arrays", spy_to_arrays)
    monkeypatch.setattr(dice_gain, "choose_on_val", locked_choose)

    assert dice_gain.main(argv(folders, tmp_path)) == 0

    held_out = {p.name for split in ("val", "test") for p in folders[split].iterdir()}
    for where, ids in seen.items():
        assert ids, f"nothing reached {where}: the spy is not on the benchmark's path"
        patients = {setup.patient_of(type("S", (), {"id": i})()) for i in ids}
        assert patients <= set(TRAIN), f"{where} saw {sorted(patients - set(TRAIN))}"
        assert not patients & held_out
    assert choices == [[9]]  # one choice, made on the selection seed alone

    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["provenance"]["code_hash"] == code_hash(REPO)
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", results["provenance"]["git_revision"])
    assert all(r["code_hash"] == code_hash(REPO) for r in results["runs"])
    sel = results["settings"]["val_selections"][0]
    assert sel["selection_seed"] == 9 and sel["selection_seed_reported"] is False
    assert {r["seed"] for r in results["runs"]} == {0}  # the choosing runs are not reported ...
    assert {(r["condition"], r["seed"]) for r in results["selection_runs"]} == {
        (c, 9) for c in setup.LESION_CONDITIONS}  # ... but kept apart
    assert sel["chosen"] in {r["condition"] for r in results["runs"]}

    log = capsys.readouterr().err.splitlines()
    last_run = max(i for i, line in enumerate(log) if re.search(r"\[\d+/\d+\]", line))
    test_lines = [i for i, line in enumerate(log) if "test Dice" in line]
    assert test_lines and min(test_lines) > last_run, "test scores were logged before the last run"

    # --reference: runs of the same code pair; a reference made on other code is refused
    reference = tmp_path / "out" / "results.json"
    assert dice_gain.main(argv(folders, tmp_path, "--conditions", "none", "--reference", str(reference),
                               "--out", str(tmp_path / "out2"))) == 0
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**results, "provenance": {**results["provenance"], "code_hash": "0" * 16},
                                 "runs": [{**r, "code_hash": "0" * 16} for r in results["runs"]]}))
    with pytest.raises(SystemExit, match=r"other\.json differs in \['code'\]"):
        dice_gain.main(argv(folders, tmp_path, "--conditions", "none", "--reference", str(other),
                            "--out", str(tmp_path / "out3")))
    # ... unless asked: then its runs join, and the report says which code they came from
    assert dice_gain.main(argv(folders, tmp_path, "--conditions", "none", "--reference", str(other),
                               "--reference-other-code", "--out", str(tmp_path / "out4"))) == 0
    joined = json.loads((tmp_path / "out4" / "results.json").read_text())
    assert joined["reference"]["code_hash"] == "0" * 16 and "none" not in joined["reference"]["conditions"]
    assert {r["condition"] for r in joined["runs"]} == {r["condition"] for r in results["runs"]}
    md = (tmp_path / "out4" / "results.md").read_text()
    assert "code hash 0000000000000000" in md and "joined with --reference-other-code" in md
    # a generator made again (here lesionmix, rerun with its conditions) need not match the
    # reference's: none of the reference's runs that join used it
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps({**results, "gan": {k: {**v, "checkpoint_hash": "x" * 12} if k.startswith("lesionmix")
                                                      else v for k, v in results["gan"].items()}}))
    assert any(k.startswith("lesionmix") for k in results["gan"])
    assert dice_gain.main(argv(folders, tmp_path, "--conditions", *setup.LESION_CONDITIONS, "--reference", str(changed),
                               "--out", str(tmp_path / "out5"))) == 0
    joined = json.loads((tmp_path / "out5" / "results.json").read_text())
    assert {r["condition"] for r in joined["runs"]} == {r["condition"] for r in results["runs"]}
    assert all(g["checkpoint_hash"] != "x" * 12 for g in joined["gan"].values())
    other.write_text(json.dumps({**results, "data": {**results["data"], "val": {
        **results["data"]["val"], "slice_ids": results["data"]["val"]["slice_ids"][1:]}}}))
    with pytest.raises(SystemExit, match=r"differs in \['val slices'\]"):
        dice_gain.main(argv(folders, tmp_path, "--conditions", "none", "--reference", str(other),
                            "--out", str(tmp_path / "out3")))
    report = (tmp_path / "out" / "results.md").read_text()
    assert "- Code: git " in report
    # few test cases: a table per case, whose one case here holds every test slice (= the test Dice)
    none = next(r for r in results["runs"] if r["condition"] == "none")
    assert "## Test Dice per test case" in report
    assert re.search(rf"\| none \| {np.mean(none['scores']['test']['per_slice_dice']):.3f} \|", report)


@pytest.mark.parametrize("split", ["val", "test"])
def test_benchmark_refuses_a_patient_in_two_splits(bench, tmp_path, capsys, split):
    setup, dice_gain, runs, folders = bench
    (folders[split] / TRAIN[0]).symlink_to((folders["train"] / TRAIN[0]).resolve(), target_is_directory=True)
    assert dice_gain.main(argv(folders, tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(folders[split]) in err and TRAIN[0] in err and f"--{split}" in err
    assert not (tmp_path / "work" / "runs").exists()  # refused before anything ran
