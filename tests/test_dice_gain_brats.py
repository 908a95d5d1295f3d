"""The Dice suite's BraTS profile and LGG learning curve (issue 22): the training slices are drawn
from the training cases by case, with a seed; no val/test case reaches expand, a generator's fit
(lesionmix, lesiongan), the training set or a val choice; the curve's subsets are nested and
seeded, and the condition chosen on validation is the one run at fewer slices."""

from __future__ import annotations

import collections
import importlib
import json
from pathlib import Path

import pytest

from augkit.expand.manifest import read_manifest

REPO = Path(__file__).resolve().parents[1]
BRATS_TRAIN = ["Brats18_2013_3_1", "Brats18_CBICA_AME_1", "Brats18_TCIA02_135_1", "Brats18_TCIA10_637_1"]


@pytest.fixture
def setup(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    return importlib.import_module("dice_gain_setup")


def link(source: Path, folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).symlink_to(source / name, target_is_directory=True)
    return folder


def test_brats_training_slices_are_drawn_by_case_with_a_seed(setup, shared_data):
    from augkit.io import read_dataset

    train = read_dataset(shared_data / "brats", unit="slice")
    profile = setup.PROFILES["brats"]
    assert profile.draw_slices == 30 and profile.segmenter.size == 128
    assert profile.read_options == {"unit": "slice"} and profile.folders[0].name == "brats"
    assert [name for name, _ in profile.segmenter.regions] == ["WT", "TC", "ET"]
    drawn = setup.draw_by_case(train.samples, 30, setup.DRAW_SEED)
    assert len(set(drawn)) == 30
    per_case = collections.Counter(train.samples[i].group for i in drawn)
    assert set(per_case) == set(BRATS_TRAIN) and sorted(per_case.values()) == [7, 7, 8, 8]  # spread over cases
    assert all(train.samples[i].mask.any() for i in drawn)  # tumour slices
    assert setup.draw_by_case(train.samples, 30, setup.DRAW_SEED) == drawn  # seeded: the same again
    assert setup.draw_by_case(train.samples, 30, setup.DRAW_SEED + 1) != drawn  # another seed, other slices
    # not the first slices of each case: each case's order is drawn too
    firsts = {c: sorted(i for i, s in enumerate(train.samples) if s.group == c)[:n] for c, n in per_case.items()}
    assert sorted(i for v in firsts.values() for i in v) != drawn


def test_lgg_curve_subsets_are_nested_and_seeded(setup, monkeypatch):
    ten, twenty = setup.subset_indices(30, 10), setup.subset_indices(30, 20)
    assert len(ten) == 10 and len(twenty) == 20
    assert set(ten) < set(twenty) < set(range(30))  # nested
    assert setup.subset_indices(30, 10) == ten  # seeded: the same again
    assert ten != list(range(10))
    monkeypatch.setattr(setup, "SUBSET_SEED", setup.SUBSET_SEED + 1)
    assert setup.subset_indices(30, 10) != ten  # the subsets follow SUBSET_SEED
    curve = setup.PROFILES["converge-curve"]
    assert curve.num_real == (10, 20, 30) and curve.curve_conditions == ("classical", "chosen")
    assert len(curve.seeds) >= 3 and curve.segmenter == setup.PROFILES["converge"].segmenter


class ValOnly(dict):
    def __getitem__(self, key):
        if key == "test":
            raise AssertionError("a val choice read test scores")
        return super().__getitem__(key)


def spy_everything(monkeypatch, runs, dice_gain):
    """Record every sample id that reaches expand, a generator's fit, a run's training arrays,
    and the seeds of each val choice (whose test scores are locked)."""
    import augkit.expand.run
    from augkit.registry.host import get_generator

    seen: dict[str, list[str]] = {"expand": [], "fit": [], "train": []}
    real_expand, real_to_arrays = augkit.expand.run.expand, runs.to_arrays

    def spy_expand(*args, dataset=None, **kwargs):
        seen["expand"] += [s.id for s in dataset.samples]
        return real_expand(*args, dataset=dataset, **kwargs)

    for name in ("lesionmix", "lesiongan"):
        cls = get_generator(name)

        def spy_fit(self, samples, *args, _real=cls.fit, _name=name, **kwargs):
            seen["fit"] += [s.id for s in samples]
            seen.setdefault("fitted", []).append(_name)
            return _real(self, samples, *args, **kwargs)

        monkeypatch.setattr(cls, "fit", spy_fit)

    def spy_to_arrays(samples, size, *more):
        seen["train"] += [s.id for s in samples]
        return real_to_arrays(samples, size, *more)

    real_choose = dice_gain.choose_on_val
    choices = []

    def locked_choose(sweep, done):
        choices.append(sorted({r["seed"] for r in done}))
        return real_choose(sweep, [{**r, "scores": ValOnly(r["scores"])} for r in done])

    monkeypatch.setattr(augkit.expand.run, "expand", spy_expand)
    monkeypatch.setattr(runs, "to_arrays", spy_to_arrays)
    monkeypatch.setattr(dice_gain, "choose_on_val", locked_choose)
    return seen, choices


def test_no_brats_val_or_test_case_reaches_expand_the_gans_or_selection(setup, shared_data, tmp_path,
                                                                        monkeypatch):
    dice_gain = importlib.import_module("dice_gain")
    runs = importlib.import_module("dice_gain_runs")
    tiny = setup.BenchProfile(
        "tiny-brats", setup.SegmenterConfig(size=32, base_width=4, num_levels=2, batch_size=4, num_steps=2,
                                            eval_every=2, batch_norm=False, regions=setup.BRATS_REGIONS),
        gan_profile="tiny", lesiongan_profile="tiny", seeds=(0,), num_real=(8,), expand_factor=2,
        out=tmp_path / "out", read_options={"unit": "slice"}, draw_slices=8, dataset_name="BraTS",
        conditions=("none", "classical") + setup.LESION_CONDITIONS + setup.LESIONGAN_CONDITIONS
        + setup.MIXED_LESION_CONDITIONS,
        val_sweeps=(setup.LESION_CONDITIONS, setup.LESIONGAN_CONDITIONS, setup.MIXED_LESION_CONDITIONS),
        selection_seed=9)
    monkeypatch.setitem(setup.PROFILES, "tiny-brats", tiny)
    folders = {"train": link(shared_data / "brats", tmp_path / "train", BRATS_TRAIN),
               "val": link(shared_data / "brats-val", tmp_path / "val", ["Brats18_CBICA_ABM_1"]),
               "test": link(shared_data / "brats-test", tmp_path / "test", ["Brats18_TCIA01_425_1"])}
    seen, choices = spy_everything(monkeypatch, runs, dice_gain)

    assert dice_gain.main(["--profile", "tiny-brats", *(a for k, f in folders.items() for a in (f"--{k}", str(f))),
                           "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out")]) == 0

    assert sorted(set(seen.pop("fitted"))) == ["lesiongan", "lesionmix"]
    for where, ids in seen.items():
        assert ids, f"nothing reached {where}: the spy is not on the benchmark's path"
        cases = {i.split("/")[0] for i in ids}
        assert cases <= set(BRATS_TRAIN), f"{where} saw {sorted(cases - set(BRATS_TRAIN))}"
    assert choices == [[9], [9], [9]]  # three choices (lesionmix, lesiongan shares, mixed), on the selection seed alone

    results = json.loads((tmp_path / "out" / "results.json").read_text())
    drawn = results["data"]["train"]["subsets"]["8"]
    assert len(drawn) == 8 and set(results["data"]["train_drawn"]["per_case"].values()) == {2}
    assert set(seen["fit"]) <= set(drawn)  # the generators saw the drawn slices, not the rest of the cases
    # the mixed variants ran with their own settings, beside the plain generators, and their
    # samples show it (read from the expanded sets, so a setting leaking into the plain generator fails)
    gans = results["gan"]
    assert gans["lesionmix-k2-8"]["config"].get("max_lesions") == 2 and "max_lesions" not in gans["lesionmix-8"]["config"]
    assert gans["lesiongan-p0.5-8"]["config"].get("paint_share") == 0.5 and "paint_share" not in gans["lesiongan-8"]["config"]
    params = {}
    for folder in (tmp_path / "work" / "data").iterdir():
        rows = [r for r in read_manifest(folder / "manifest.csv") if r["source"] == "gan"]
        params.setdefault(folder.name.rsplit("-", 2)[0], []).extend(json.loads(r["params"])[r["generator"]] for r in rows)
    assert {p["painted"] for p in params["n8-classical_lesiongan-p0.5@1"]} == {True, False}
    assert not any("painted" in p for p in params["n8-classical_lesiongan@1"])
    assert max(p["lesions_placed"] for p in params["n8-classical_lesionmix-k2@1"]) == 2
    assert not any("more_lesions" in p for p in params["n8-classical_lesionmix@1"])
    run = results["runs"][0]
    assert set(run["scores"]["test"]["regions"]) == {"WT", "TC", "ET"}
    assert run["scores"]["test"]["regions"]["WT"]["dice"] == pytest.approx(run["scores"]["test"]["dice"])
    assert set(results["summary"]["regions"]) == {"WT", "TC", "ET"}
    assert "## BraTS regions" in (tmp_path / "out" / "results.md").read_text()
    assert results["provenance"]["code_hash"]


def test_the_lgg_curve_runs_the_val_choice_at_fewer_slices(setup, shared_data, tmp_path, monkeypatch):
    dice_gain = importlib.import_module("dice_gain")
    runs = importlib.import_module("dice_gain_runs")
    lgg = shared_data / "lgg"
    train = ["TCGA_CS_4943_20000902", "TCGA_CS_6186_20000601", "TCGA_CS_6666_20011109", "TCGA_CS_6667_20011105"]
    tiny = setup.BenchProfile(
        "tiny-curve", setup.SegmenterConfig(size=32, base_width=4, num_levels=2, batch_size=4, num_steps=2,
                                            eval_every=2, batch_norm=False),
        gan_profile="tiny", seeds=(0, 1), num_real=(2, 4), expand_factor=2, out=tmp_path / "out",
        conditions=("classical",) + setup.LESION_CONDITIONS, val_sweeps=(setup.LESION_CONDITIONS,),
        selection_seed=9, curve_conditions=("classical", "chosen"))
    monkeypatch.setitem(setup.PROFILES, "tiny-curve", tiny)
    folders = {"train": link(lgg / "train30", tmp_path / "train", train),
               "val": link(lgg / "val", tmp_path / "val", ["TCGA_CS_5393_19990606"]),
               "test": link(lgg / "test", tmp_path / "test", [sorted(p.name for p in (lgg / "test").iterdir()
                                                                     if p.is_dir())[0]])}
    seen, choices = spy_everything(monkeypatch, runs, dice_gain)
    assert dice_gain.main(["--profile", "tiny-curve", *(a for k, f in folders.items() for a in (f"--{k}", str(f))),
                           "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out")]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    chosen = results["settings"]["val_selections"][0]["chosen"]
    assert choices == [[9]]
    done = {(r["num_real"], r["condition"], r["seed"]) for r in results["runs"]}
    assert done == {(k, c, s) for k in (2, 4) for c in ("classical", chosen) for s in (0, 1)}
    subsets = results["data"]["train"]["subsets"]
    assert set(subsets["2"]) < set(subsets["4"])  # nested
    assert seen.pop("fitted") and all(seen.values())
    assert all(i.split("/")[0] in train for ids in seen.values() for i in ids)
