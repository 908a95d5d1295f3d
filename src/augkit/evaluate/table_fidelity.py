"""How close a synthetic table is to the real one, column by column and as a whole: the
column statistics, per-column distribution scores,
correlation difference, PCA and t-SNE views, and a real-vs-synthetic detection AUC.
Used by ``augkit.evaluate.table_report``."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from augkit.evaluate.table_view import frequencies
from augkit.tables.encoding import TablePreprocessor

STATS = ("median", "mean", "q25", "q75", "min", "max")
MAX_TSNE_ROWS = 1000  # per table: t-SNE is quadratic-ish in rows


def describe_columns(ind: pd.DataFrame) -> np.ndarray:
    values = ind.to_numpy(dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-missing columns give NaN, shown grey
        return np.stack([np.nanmedian(values, axis=0), np.nanmean(values, axis=0),
                         np.nanpercentile(values, 25, axis=0), np.nanpercentile(values, 75, axis=0),
                         np.nanmin(values, axis=0), np.nanmax(values, axis=0)], axis=1)


def stats_difference(real_ind: pd.DataFrame, synth_ind: pd.DataFrame) -> dict:
    real_stats, synth_stats = describe_columns(real_ind), describe_columns(synth_ind)
    span = real_stats[:, 5] - real_stats[:, 4]
    span = np.where(np.isfinite(span) & (span > 0), span, 1.0)
    diff = (synth_stats - real_stats) / span[:, None]
    absdiff = np.abs(np.nan_to_num(diff, nan=0.0))
    worst = int(np.argmax(absdiff.max(axis=1))) if absdiff.size else 0
    summary = {
        "mean_abs_diff": float(absdiff.mean()) if absdiff.size else 0.0,
        "max_abs_diff": float(absdiff.max()) if absdiff.size else 0.0,
        "max_abs_diff_column": str(real_ind.columns[worst]) if absdiff.size else None,
        "per_column": {str(col): {"real": dict(zip(STATS, real_stats[i].tolist())),
                                  "synthetic": dict(zip(STATS, synth_stats[i].tolist())),
                                  "diff_in_range_units": dict(zip(STATS, diff[i].tolist()))}
                       for i, col in enumerate(real_ind.columns)},
    }
    return {"diff": diff, "summary": summary}


def column_scores(real: pd.DataFrame, synth: pd.DataFrame, prep: TablePreprocessor) -> dict:
    from scipy.stats import ks_2samp

    scores = {}
    for c in prep.columns:
        r, s = real[c.name], synth[c.name]
        missing_gap = abs(float(r.isna().mean()) - float(s.isna().mean()))
        if c.kind == "numeric":
            rv = pd.to_numeric(r, errors="coerce").dropna().to_numpy(float)
            sv = pd.to_numeric(s, errors="coerce").dropna().to_numpy(float)
            ks = float(ks_2samp(rv, sv).statistic) if len(rv) and len(sv) else 1.0
            score, measure = max(ks, missing_gap), "ks"
            detail = {"ks": ks, "missing_share_gap": missing_gap,
                      "real_mean": float(rv.mean()) if len(rv) else None,
                      "synthetic_mean": float(sv.mean()) if len(sv) else None}
        else:
            rf, sf = frequencies(r), frequencies(s)
            levels = set(rf) | set(sf)
            tvd = 0.5 * sum(abs(rf.get(k, 0.0) - sf.get(k, 0.0)) for k in levels)
            score, measure = float(tvd), "tvd"
            detail = {"tvd": float(tvd), "real_frequencies": rf, "synthetic_frequencies": sf}
        scores[c.name] = {"kind": c.kind, "measure": measure, "score": float(score), **detail}
    return scores


def correlation_difference(real_ind: pd.DataFrame, synth_ind: pd.DataFrame) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant columns: undefined correlation
        rc = real_ind.corr().to_numpy()
        sc = synth_ind.corr().to_numpy()
    diff = sc - rc
    both_undefined = np.isnan(rc) & np.isnan(sc)
    diff[both_undefined] = 0.0
    finite = diff[np.isfinite(diff)]
    off = ~np.eye(len(diff), dtype=bool)
    off_finite = diff[off & np.isfinite(diff)]
    return {"diff": diff, "summary": {
        "mean_abs_diff": float(np.abs(off_finite).mean()) if off_finite.size else 0.0,
        "max_abs_diff": float(np.abs(finite).max()) if finite.size else 0.0,
        "num_undefined": int((~np.isfinite(diff)).sum()),
    }}


def pca_view(path: Path, real_enc: np.ndarray, synth_enc: np.ndarray, seed: int) -> dict:
    from sklearn.decomposition import PCA

    from augkit.evaluate.table_plots import scatter

    k = min(2, real_enc.shape[1], len(real_enc))
    pca = PCA(n_components=k, random_state=seed).fit(real_enc)
    r, s = pca.transform(real_enc), pca.transform(synth_enc)
    if k == 1:
        r, s = np.c_[r, np.zeros(len(r))], np.c_[s, np.zeros(len(s))]
    if path is not None:
        scatter(path, r, s, "PCA (fitted on real rows)", ("PC1", "PC2"))
    return {"explained_variance_ratio": [float(v) for v in pca.explained_variance_ratio_],
            "real_centroid": r.mean(axis=0).tolist(), "synthetic_centroid": s.mean(axis=0).tolist()}


def tsne_view(path: Path, real_enc: np.ndarray, synth_enc: np.ndarray, seed: int) -> dict:
    from sklearn.manifold import TSNE

    from augkit.evaluate.table_plots import scatter

    rng = np.random.default_rng(seed)
    r = real_enc[np.sort(rng.permutation(len(real_enc))[:MAX_TSNE_ROWS])]
    s = synth_enc[np.sort(rng.permutation(len(synth_enc))[:MAX_TSNE_ROWS])]
    both = np.concatenate([r, s]).astype(np.float64)
    if len(both) < 5:
        scatter(path, np.zeros((len(r), 2)), np.zeros((len(s), 2)), "t-SNE (too few rows)", ("", ""))
        return {"rows": len(both), "skipped": "fewer than 5 rows"}
    perplexity = float(min(30.0, (len(both) - 1) / 3.0))
    # exact gradients are faster than Barnes-Hut below a few hundred rows
    method = "exact" if len(both) <= 400 else "barnes_hut"
    emb = TSNE(n_components=2, perplexity=perplexity, init="pca", method=method, max_iter=500,
               random_state=seed).fit_transform(both)
    scatter(path, emb[:len(r)], emb[len(r):], f"t-SNE (perplexity {perplexity:.0f})", ("", ""))
    return {"rows": len(both), "perplexity": perplexity}


def detection_auc(real_enc: np.ndarray, synth_enc: np.ndarray, seed: int) -> float | None:
    """Cross-validated AUC of a logistic regression telling real from synthetic rows: 0.5 means
    indistinguishable, 1.0 means every row gives itself away."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.metrics import roc_auc_score

    n = min(len(real_enc), len(synth_enc))
    if n < 5:
        return None
    rng = np.random.default_rng(seed)
    x = np.concatenate([real_enc[rng.permutation(len(real_enc))[:n]],
                        synth_enc[rng.permutation(len(synth_enc))[:n]]])
    y = np.r_[np.zeros(n), np.ones(n)]
    folds = StratifiedKFold(n_splits=min(5, n), shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        p = cross_val_predict(LogisticRegression(max_iter=2000), x, y, cv=folds, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, p))
