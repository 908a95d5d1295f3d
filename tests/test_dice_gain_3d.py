"""The Dice suite's 3D check (issue 22 item 3, ``benchmarks/dice_gain_3d.py``): only training
cases reach expand, lesionmix and the training patches (val cases only the selection patches,
test cases only the scores); a lesionmix-expanded case keeps the BraTS labels; the 3D U-Net
learns a trivially learnable volume and predicts whole cases of any size. Tiny BraTS-layout
cases (the reader tests' writer), so the whole driver runs in seconds."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("_volume_cases", REPO / "tests" / "io" / "test_volumes.py")
_volume_cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_volume_cases)
brats = _volume_cases._brats  # tiny 32×32×16 BraTS case folders, labels 0/1/2/4

TRAIN, VAL, TEST = ("c1", "c2", "c3"), ("v1",), ("t1", "t2")
# small jitter so a lesion fits beside the recipient's own in a 32×32×16 head (as the lesionmix volume tests)
LESIONMIX = dict(rotation_range=(-20.0, 20.0), scale_range=(0.6, 0.8), margin_range=(0.0, 0.02),
                 feather_range=(0.02, 0.03), case_brain_inset=0.03, max_tries=16)


def _modules():
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        return importlib.import_module("dice_gain_3d"), importlib.import_module("segmenter3d")
    finally:
        sys.path.remove(str(REPO / "benchmarks"))


def _group(sample) -> str:
    """The real case a (possibly made, possibly patched) sample descends from."""
    return sample.provenance.parent_id or sample.meta["group"]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """One run of the driver on tiny cases with every path spied on: what reached expand,
    lesionmix's fit, the training patches, the validation patches and the test scores."""
    import augkit.api
    from augkit.io import read_dataset
    from augkit.registry.host import get_generator

    driver, seg3d = _modules()
    root = tmp_path_factory.mktemp("d3")
    folders = {"train": brats(root / "train", TRAIN), "val": brats(root / "val", VAL), "test": brats(root / "test", TEST)}
    seen: dict[str, set] = {k: set() for k in ("expand", "fit", "train", "val", "test")}
    real_expand, real_encode, real_val_encode = augkit.api.expand_with, seg3d.encode, driver.encode
    real_score, lesionmix = driver.score_cases, get_generator("lesionmix")
    real_fit = lesionmix.fit

    def spy_expand(in_dir, options, out_dir=None):
        seen["expand"] |= {m["group"] for m in read_dataset(in_dir, unit="case").samples.metas}
        return real_expand(in_dir, options, out_dir)

    def spy_fit(self, samples, *args, **kwargs):
        seen["fit"] |= {m["group"] for m in samples.metas}
        return real_fit(self, samples, *args, **kwargs)

    def spy(kind, real):
        def wrapped(samples, *args):
            seen[kind] |= {_group(s) for s in samples}
            return real(samples, *args)
        return wrapped

    def spy_score(model, cases, *args):
        seen["test"] |= {m["group"] for m in cases.metas}
        return real_score(model, cases, *args)

    tiny = dataclasses.replace(driver.PROFILES["3d-smoke"], name="tiny", lesionmix_options=LESIONMIX)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(driver.PROFILES, "tiny", tiny)
        mp.setattr(augkit.api, "expand_with", spy_expand)
        mp.setattr(lesionmix, "fit", spy_fit)
        mp.setattr(seg3d, "encode", spy("train", real_encode))  # batch_at's: the training patches
        mp.setattr(driver, "encode", spy("val", real_val_encode))  # the validation patches
        mp.setattr(driver, "score_cases", spy_score)
        argv = ["--profile", "tiny", *(a for k, f in folders.items() for a in (f"--{k}", str(f))),
                "--work", str(root / "work"), "--out", str(root / "out")]
        assert driver.main(argv) == 0
    return {"seen": seen, "results": json.loads((root / "out" / "results.json").read_text()),
            "folders": folders, "root": root, "driver": driver}


def test_only_training_cases_reach_expand_lesionmix_and_training(smoke):
    seen = smoke["seen"]
    for where in ("expand", "fit", "train"):
        assert seen[where], f"nothing reached {where}: the spy is not on the driver's path"
        assert seen[where] <= set(TRAIN), f"{where} saw {sorted(seen[where] - set(TRAIN))}"
    assert seen["train"] == set(TRAIN)  # patches from every training case (made ones count for their parent)
    assert seen["val"] == set(VAL) and seen["test"] == set(TEST)
    results = smoke["results"]
    assert results["data"]["train"] == list(TRAIN) and results["data"]["val"] == list(VAL)
    assert sorted(results["data"]["test"]) == sorted(TEST)
    assert [r["condition"] for r in results["runs"]] == ["classical", "classical+lesionmix@0.5"]
    assert set(results["runs"][0]["patches_by_source"]) == {"real", "classical"}
    assert results["runs"][1]["patches_by_source"].get("gan", 0) > 0  # lesionmix cases were trained on
    assert set(results["runs"][1]["patches_by_parent_case"]) <= set(TRAIN)
    for run in results["runs"]:
        assert set(run["scores"]["test"]["regions"]) == {"WT", "TC", "ET"}
        assert len(run["scores"]["test"]["regions"]["ET"]["per_case_dice"]) == len(TEST)
    boot = results["summary"]["WT"]["lesionmix_minus_classical"]["bootstrap_95_over_test_cases"]
    assert boot["num_patients"] == len(TEST)  # resampled by test case
    assert results["provenance"]["code_hash"] and results["settings"]["gan_fraction"]["classical+lesionmix@0.5"] == 0.5


def test_a_case_shared_by_train_and_val_is_refused(smoke, capsys):
    f = smoke["folders"]
    code = smoke["driver"].main(["--profile", "3d-smoke", "--train", str(f["train"]), "--val", str(f["train"]),
                                 "--test", str(f["test"]), "--work", str(smoke["root"] / "w2"),
                                 "--out", str(smoke["root"] / "o2")])
    assert code == 2 and "also in the train folder" in capsys.readouterr().err
    assert not (smoke["root"] / "w2").exists()  # refused before anything was written


def test_time_steps_writes_a_projection_not_a_result(smoke):
    root, f = smoke["root"], smoke["folders"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(smoke["driver"].PROFILES, "tiny", dataclasses.replace(smoke["driver"].PROFILES["3d-smoke"],
                                                                          name="tiny", lesionmix_options=LESIONMIX))
        assert smoke["driver"].main(["--profile", "tiny", *(a for k, v in f.items() for a in (f"--{k}", str(v))),
                                     "--time-steps", "3", "--work", str(root / "tw"), "--out", str(root / "to")]) == 0
    assert not (root / "to" / "results.json").exists()  # no Dice figure from a timed piece
    p = json.loads((root / "to" / "projection.json").read_text())
    assert "PROJECTION" in p["what"] and p["timed_piece"]["training_steps"] == 3
    assert p["timed_piece"]["steps_per_condition_full"] == 4  # the profile's own steps, projected
    for c in ("classical", "classical+lesionmix@0.5"):
        m, full = p["per_condition"][c]["measured"], p["per_condition"][c]["projected_full"]
        assert m["steps_timed"] == 3 and m["step_s"] > 0 and full["total_s"] >= full["train_s"] > 0
    assert p["projected_wall_s_one_seed_both_conditions"] > 0 and len(p["machine"]["load_average_1_5_15"]) == 3
    assert p["command"].endswith("--profile tiny --seeds 0") and p["provenance"]["code_hash"]
    assert "not a Dice result" in (root / "to" / "projection.md").read_text()


def test_lesionmix_expanded_cases_keep_labels_0_1_2_4(smoke):
    from augkit.expand.manifest import read_manifest
    from augkit.io import read_dataset

    folder = Path(smoke["results"]["runs"][1]["expanded"])
    rows = read_manifest(folder / "manifest.csv")
    made = [r for r in rows if r["generator"] == "lesionmix"]
    assert made and all(json.loads(r["params"])["lesionmix"]["placed"] for r in made)
    assert smoke["results"]["runs"][1]["lesionmix_placed"] == len(made)  # what results.md reports
    reals = {s.id: s for s in read_dataset(smoke["folders"]["train"]).samples}
    for case in read_dataset(folder).samples:
        assert set(np.unique(case.mask).tolist()) <= {0, 1, 2, 4}, case.id
    for row in made:
        case = next(s for s in read_dataset(folder).samples if s.id == row["id"])
        assert (case.mask > 0).sum() > (reals[row["parent_id"]].mask > 0).sum()  # a second lesion came in


def test_the_3d_unet_learns_a_trivial_volume_and_predicts_whole_cases():
    import keras

    from augkit.sample import Provenance, Sample
    from augkit.sampling.encoding import Encoder
    from augkit.sampling.sampler import MixedSampler

    driver, seg3d = _modules()
    rng = np.random.default_rng(0)
    mask = np.zeros((30, 26, 20), np.int16)  # no side a multiple of the 4 the net needs
    mask[8:20, 6:18, 5:15] = 2
    mask[11:16, 9:14, 8:12] = 4
    image = rng.integers(100, 200, (*mask.shape, 4)).astype(np.int16)
    image[..., 0] += (mask > 0) * 600  # the tumour bright in one modality, its enhancing core in
    image[..., 1] += (mask == 4) * 600  # another: trivially learnable
    image[:2] = 0  # a background slab outside the brain box
    case = Sample(image=image, mask=mask, provenance=Provenance(id="x"), meta={"group": "x"})
    cfg = seg3d.Segmenter3DConfig(patch_size=16, base_width=4, num_levels=2, batch_size=2, num_steps=120,
                                  eval_every=120, learning_rate=3e-3, regions=driver.BRATS_REGIONS)
    sampler = MixedSampler([case], seed=3, patch_size=(16, 16, 16), patch_foreground=0.5)
    keras.utils.set_random_seed(0)
    result = seg3d.train_segmenter3d(sampler, Encoder(sampler), cfg, seed=0)
    losses = np.array(result.losses)
    assert np.isfinite(losses).all() and len(losses) == 120
    assert losses[-10:].mean() < 0.5 * losses[:5].mean(), losses  # ~1.5 -> ~0.3
    assert len(result.timing["step_s"]) == 120 and result.served["source"] == {"real": 240}
    prob = seg3d.predict_case(result.model, seg3d.whole_case_image(case, Encoder(sampler)), cfg.num_levels)
    assert prob.shape == (*mask.shape, 3)
    assert (prob[:2] == 0).all()  # outside the brain box: background
    scores = seg3d.score_cases(result.model, [case], Encoder(sampler), cfg)
    assert scores["case_ids"] == ["x"] and scores["regions"]["WT"]["dice"] > 0.8  # ~0.97


def test_the_3d_profile_is_the_issues_check():
    driver, _ = _modules()
    cfg = driver.PROFILES["3d"].segmenter
    assert (cfg.patch_size, cfg.base_width, cfg.num_levels, cfg.batch_size, cfg.num_steps) == (64, 8, 3, 2, 2000)
    assert [name for name, _ in cfg.regions] == ["WT", "TC", "ET"] and cfg.patch_foreground == 0.5
    assert driver.PROFILES["3d"].seeds == (0,) and driver.PROFILES["3d"].lesionmix_options == {}
    assert [f.name for f in driver.PROFILES["3d"].folders] == ["brats", "brats-val", "brats-test"]
    assert driver.GAN_FRACTION == {"classical": 0.0, "classical+lesionmix@0.5": 0.5}
