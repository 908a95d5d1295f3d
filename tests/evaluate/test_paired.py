"""Paired Δ statistics used by the Dice-gain benchmark."""

import numpy as np

from augkit.evaluate.paired import mean_std, patient_bootstrap, t_interval


def test_t_interval_and_mean_std():
    assert t_interval([0.5]) is None
    lo, hi = t_interval([0.1, 0.2, 0.3])
    assert lo < 0.2 < hi and np.isclose(hi - 0.2, 0.2 - lo)
    assert mean_std([1.0, 3.0]) == {"mean": 2.0, "std": float(np.sqrt(2)), "values": [1.0, 3.0]}


def test_patient_bootstrap_moves_slices_with_their_patient_and_is_seeded():
    patients = ["a", "a", "b", "c", "c", "c"]
    same = patient_bootstrap(np.full((2, 6), 0.1), patients)
    assert np.allclose(same["seed_mean"], [0.1, 0.1])  # a constant difference has no spread
    diffs = np.array([[0.2, 0.2, -0.1, 0.0, 0.0, 0.0]])
    a, b = patient_bootstrap(diffs, patients, seed=3), patient_bootstrap(diffs, patients, seed=3)
    assert a == b and a["num_patients"] == 3 and a["num_slices"] == 6
    lo, hi = a["seed_mean"]
    assert -0.1 - 1e-12 <= lo <= hi <= 0.2 + 1e-12


def _run(condition, seed, per_slice, val=0.5):
    scores = {split: {"accuracy": 0.9, "mean_iou": 0.5, "dice": float(np.mean(per_slice)) if split == "test" else val}
              for split in ("train", "val", "test")}
    scores["test"]["per_slice_dice"] = list(per_slice)
    return {"num_real": 30, "condition": condition, "seed": seed, "scores": scores}


def test_compare_conditions_pairs_by_seed_against_earlier_references_only():
    from augkit.evaluate.paired import compare_conditions

    patients = ["a", "a", "b"]
    runs = [_run("classical", 0, [0.4, 0.4, 0.5]), _run("classical", 1, [0.5, 0.5, 0.6]),
            _run("mix", 0, [0.5, 0.5, 0.6], val=0.6), _run("mix", 1, [0.5, 0.7, 0.6], val=0.7),
            _run("mix", 2, [0.0, 0.0, 0.0])]  # seed 2 has no classical partner: left out of Δ
    out = compare_conditions(runs, patients, ["none", "classical", "mix"], num_resamples=50)
    (d,) = out["differences"]  # no "none" runs; classical is never compared with mix
    assert (d["condition"], d["reference"], d["seeds"]) == ("mix", "classical", [0, 1])
    assert np.allclose(d["test_dice_diff_per_seed"], [0.1, 0.2 / 3])
    assert np.isclose(d["val_dice_diff_mean"], 0.15)
    assert np.allclose(out["table"]["30"]["mix"]["test"]["dice"]["values"], [0.5 + 0.1 / 3, 0.6, 0.0])
