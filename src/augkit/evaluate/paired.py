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


def compare_conditions(runs: Sequence[dict], patients: Sequence[str], order: Sequence[str], *,
                       references: Sequence[str] = ("none", "classical"), metrics=("accuracy", "mean_iou", "dice"),
                       num_resamples: int = 2000, seed: int = 7) -> dict:
    """Every condition against each earlier reference, paired by seed.

    ``runs``: dicts with ``num_real``, ``condition``, ``seed`` and ``scores[split][metric]`` for
    the splits train / val / test, plus ``scores["test"]["per_slice_dice"]`` (one value per test
    slice, in the order of ``patients``). ``order`` ranks the conditions: a condition is compared
    with a reference that comes before it. Returns ``table`` (mean ± std over seeds per number of
    real slices, condition, split and metric) and ``differences`` (Δ test Dice per seed, its
    t-interval over seeds, the patient bootstrap, and Δ val Dice)."""
    by: dict[tuple[int, str], dict[int, dict]] = {}
    for r in runs:
        by.setdefault((r["num_real"], r["condition"]), {})[r["seed"]] = r
    table: dict[str, dict] = {}
    for (k, cond), seeds in sorted(by.items()):
        table.setdefault(str(k), {})[cond] = {
            split: {m: mean_std([seeds[s]["scores"][split][m] for s in sorted(seeds)]) for m in metrics}
            for split in ("train", "val", "test")}
    rank = {c: i for i, c in enumerate(order)}
    differences = []
    for (k, cond), seeds in sorted(by.items(), key=lambda kv: (kv[0][0], rank[kv[0][1]])):
        for ref in references:
            if rank[cond] <= rank[ref] or (k, ref) not in by:
                continue
            common = sorted(set(seeds) & set(by[(k, ref)]))
            a = np.array([seeds[s]["scores"]["test"]["per_slice_dice"] for s in common])
            b = np.array([by[(k, ref)][s]["scores"]["test"]["per_slice_dice"] for s in common])
            per_seed = (a - b).mean(1)
            val_diff = [seeds[s]["scores"]["val"]["dice"] - by[(k, ref)][s]["scores"]["val"]["dice"]
                        for s in common]
            differences.append({
                "num_real": k, "condition": cond, "reference": ref, "seeds": common,
                "test_dice_diff_per_seed": [float(d) for d in per_seed],
                "test_dice_diff_mean": float(per_seed.mean()),
                "t_interval_95_over_seeds": t_interval(per_seed),
                "bootstrap_95_over_test_patients": patient_bootstrap(a - b, patients, num_resamples=num_resamples,
                                                                     seed=seed),
                "val_dice_diff_mean": float(np.mean(val_diff)),
            })
    return {"table": table, "differences": differences}
