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
