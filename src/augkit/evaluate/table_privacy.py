"""Distance of each synthetic table row to its closest real row (DCR), against the real rows'
own leave-one-out nearest-neighbour distances: exact and near copies of real records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from augkit.evaluate.table_plots import REAL_COLOUR, SYNTH_COLOUR, save_png


def distance_to_closest_record(path: Path | None, real_enc: np.ndarray, synth_enc: np.ndarray,
                               holdout_enc: np.ndarray | None = None) -> dict:
    """DCR of the synthetic rows to the real training rows. ``holdout_enc``: rows of real patients
    the generator never saw; their distance to the training rows is what a new patient looks
    like, so synthetic rows much closer than that (the "holdout" share below) lean on copies."""
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=min(2, len(real_enc))).fit(real_enc)
    dcr = nn.kneighbors(synth_enc, n_neighbors=1)[0][:, 0]
    if len(real_enc) >= 2:
        loo = nn.kneighbors(real_enc, n_neighbors=2)[0][:, 1]
    else:
        loo = np.array([np.inf])
    exact_tol = 1e-6
    real_p5 = float(np.percentile(loo, 5))
    threshold = real_p5 if real_p5 > exact_tol else exact_tol
    result = {
        "distance": "euclidean on the encoded rows (numbers scaled to [-1, 1], one-hot values, missing flags)",
        "dcr_median": float(np.median(dcr)), "dcr_p5": float(np.percentile(dcr, 5)),
        "dcr_min": float(dcr.min()),
        "real_loo_median": float(np.median(loo)), "real_loo_p5": real_p5,
        "share_exact_copies": float(np.mean(dcr <= exact_tol)),
        "near_copy_threshold": float(threshold),
        "share_near_copies": float(np.mean(dcr < threshold)) if threshold > exact_tol
        else float(np.mean(dcr <= exact_tol)),
        "real_duplicate_share": float(np.mean(loo <= exact_tol)),
    }
    holdout = None
    if holdout_enc is not None and len(holdout_enc):
        holdout = nn.kneighbors(holdout_enc, n_neighbors=1)[0][:, 0]
        result.update(holdout_dcr_median=float(np.median(holdout)), holdout_dcr_p5=float(np.percentile(holdout, 5)),
                      share_synthetic_closer_than_holdout_p5=float(np.mean(dcr < np.percentile(holdout, 5))))
    if path is None:
        return result
    fig = Figure(figsize=(6, 3.6), dpi=100)
    ax = fig.subplots()
    top = float(max(np.max(dcr), np.max(loo[np.isfinite(loo)]) if np.isfinite(loo).any() else 0.0,
                    0.0 if holdout is None else np.max(holdout), 1e-3))
    bins = np.linspace(0.0, top, 40)
    ax.hist(loo[np.isfinite(loo)], bins=bins, alpha=0.6, density=True, color=REAL_COLOUR,
            label="real → nearest other real")
    ax.hist(dcr, bins=bins, alpha=0.6, density=True, color=SYNTH_COLOUR, label="synthetic → nearest real")
    if holdout is not None:
        ax.hist(holdout, bins=bins, histtype="step", lw=1.5, density=True, color="#2ca02c",
                label="held-out patient → nearest real")
    ax.axvline(threshold, color="k", ls="--", lw=1, label=f"near-copy threshold {threshold:.3g}")
    ax.set_xlabel("distance")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    ax.set_title(f"exact copies {result['share_exact_copies']:.1%}, near copies {result['share_near_copies']:.1%}",
                 fontsize=9)
    fig.tight_layout()
    save_png(fig, path)
    return result


class NearestRecord:
    """Each new row's distance to the closest real row (DCR) while generating, in the report's
    encoding (``TablePreprocessor`` fitted on the real rows), and whether it is a near copy: closer
    than ``threshold``, by default the 5th percentile of the real rows' own leave-one-out
    nearest distances — the same line ``distance_to_closest_record`` draws in the report (a real
    patient's 5 % closest neighbours), or an exact copy when the real rows hold duplicates.

    A row with a value the real rows never had cannot copy any of them: distance infinity.
    """

    def __init__(self, rows, ids, *, threshold: float | None = None):
        import pandas as pd
        from sklearn.neighbors import NearestNeighbors

        from augkit.tables.encoding import TablePreprocessor

        self.ids = list(ids)
        frame = pd.DataFrame([dict(r) for r in rows])
        self._prep = TablePreprocessor().fit(frame)
        self._columns = list(frame.columns)
        encoded = self._prep.transform(frame)
        self._nn = NearestNeighbors(n_neighbors=min(2, len(encoded))).fit(encoded)
        if threshold is None:
            exact_tol = 1e-6
            if len(encoded) >= 2:
                loo = self._nn.kneighbors(encoded, n_neighbors=2)[0][:, 1]
                threshold = max(float(np.percentile(loo, 5)), exact_tol)
            else:
                threshold = exact_tol
        self.threshold = float(threshold)

    def nearest(self, row) -> tuple[str, float]:
        """(id of the closest real row, its distance)."""
        import pandas as pd

        from augkit.errors import DataError

        frame = pd.DataFrame([{c: dict(row).get(c) for c in self._columns}])
        try:
            encoded = self._prep.transform(frame)
        except DataError:  # a value no real row has (or a gap where none had one)
            return "", float("inf")
        distance, index = self._nn.kneighbors(encoded, n_neighbors=1)
        return self.ids[int(index[0, 0])], float(distance[0, 0])

    def is_near_copy(self, distance: float) -> bool:
        return distance < self.threshold or distance <= 1e-6
