"""Paired comparisons of two training conditions scored on the same test slices: mean ± std
over seeds, a Student t-interval over seeds, and a bootstrap interval over test patients
(slices move with their patient). What ``benchmarks/dice_gain.py`` reports as Δ Dice."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from augkit.seeding import rng_for


def mean_std(values) -> dict:
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "values": [float(a) for a in v]}


def t_interval(values, level: float = 0.95) -> list[float] | None:
    """Student t-interval of the mean over seeds (n - 1 df); None for a single value."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return None
    half = stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return [float(v.mean() - half), float(v.mean() + half)]


def patient_bootstrap(diffs: np.ndarray, patients: Sequence[str], *, num_resamples: int = 2000,
                      seed: int = 7) -> dict:
    """95 % percentile intervals of the mean per-slice difference when the test patients are
    resampled with replacement (all slices of a drawn patient come along).

    ``diffs``: seeds × slices. Gives one interval per seed and one for the seed-averaged
    difference."""
    diffs = np.atleast_2d(np.asarray(diffs, dtype=float))
    names, group = np.unique(np.asarray(patients), return_inverse=True)
    sums = np.stack([np.bincount(group, weights=d, minlength=len(names)) for d in diffs])
    counts = np.bincount(group, minlength=len(names)).astype(float)
    draws = rng_for(seed).integers(0, len(names), size=(num_resamples, len(names)))
    weights = np.stack([np.bincount(d, minlength=len(names)) for d in draws]).astype(float)
    boot = (weights @ sums.T) / (weights @ counts)[:, None]  # resamples × seeds
    return {
        "per_seed": [[float(np.percentile(b, 2.5)), float(np.percentile(b, 97.5))] for b in boot.T],
        "seed_mean": [float(np.percentile(boot.mean(1), 2.5)), float(np.percentile(boot.mean(1), 97.5))],
        "num_patients": int(len(names)), "num_slices": int(diffs.shape[1]), "num_resamples": int(num_resamples),
    }
