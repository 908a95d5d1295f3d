"""``evaluate_tables``: how close a synthetic table is to the real one, how useful it is for
training, and whether it copies real rows (seed 004's checks plus a privacy view).

Written into ``out_dir``: ``stats_diff.png`` (median, mean, quartiles, min, max of every
encoded column, synthetic minus real, in units of the real column's range), ``corr_diff.png``
(synthetic minus real correlation matrix), ``pca.png`` and ``tsne.png`` (real and synthetic
rows in one view), ``violin.png`` (the age column, or the numeric column named),
``categories.png`` (value frequencies of the binary and categorical columns), ``utility.png``
(train on real vs train on synthetic, both tested on held-out real rows), ``dcr.png`` (distance of each synthetic row to its closest real row against the
real rows' own leave-one-out nearest-neighbour distances), ``report.html`` and ``metrics.json``.

Encoding: columns are typed by ``augkit.tabular.TablePreprocessor`` fitted on the real table
(numeric, binary, categorical, with missing-value flags). Statistics and correlations use the
"indicator view": numbers as they are, a binary column as 0/1, a categorical column as one 0/1
column per value. Distances, PCA, t-SNE and the utility models use the preprocessor's encoding
(numbers scaled to [-1, 1] by the real range, one-hot values, missing flags).

A column is *flagged* when its distribution differs by more than ``flag_threshold``: for a
numeric column the Kolmogorov-Smirnov statistic (or the difference in missing share, if larger),
for a binary or categorical column the total variation distance of the value frequencies
(missing counted as a value). Both are in [0, 1], 0 for identical columns.
"""

from __future__ import annotations

import html
import io
import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # no pyplot: no global figure state

from augkit.errors import DataError, UsageError
from augkit.io.base import atomic_write_bytes
from augkit.tabular import TablePreprocessor

_REAL, _SYNTH = "#1f77b4", "#d62728"
STATS = ("median", "mean", "q25", "q75", "min", "max")
MAX_CATEGORY_PLOTS = 36
MAX_TSNE_ROWS = 1000  # per table: t-SNE is quadratic-ish in rows


def evaluate_tables(real_df: pd.DataFrame, synth_df: pd.DataFrame, out_dir, *, target: str | None = None,
                    seed: int = 0, age_column: str | None = None, exclude=(), flag_threshold: float = 0.2,
                    max_rows: int = 20_000, model: str = "logistic", test_fraction: float = 0.3,
                    plots: bool = True) -> dict:
    """Compare ``synth_df`` with ``real_df``; write PNGs, ``report.html`` and ``metrics.json`` into
    ``out_dir``; return the metrics.

    :param target: column for the utility check (binary or categorical); None skips it.
    :param age_column: numeric column for the violin plot; default the first numeric column whose
        name contains "age".
    :param exclude: columns left out of everything (ids).
    :param max_rows: tables longer than this are sampled down (seeded) before the comparison.
    :param model: utility classifier, ``logistic`` (regularised logistic regression) or
        ``gradient_boosting``.
    :param plots: False writes only ``metrics.json`` and ``report.html`` (no figures, no t-SNE):
        for quick checks.
    """
    out_dir = Path(out_dir)
    real, synth = _check_frames(real_df, synth_df, exclude)
    rng = np.random.default_rng(seed)
    num_real_rows, num_synth_rows = len(real), len(synth)
    real, synth = _cap(real, max_rows, rng), _cap(synth, max_rows, rng)
    kinds = {c.name: c.kind for c in TablePreprocessor().fit(real).columns}
    # vocabulary and ranges from both tables (synthetic values unseen in the real rows are
    # allowed), kinds from the real one; a binary column with a third value becomes categorical
    both = pd.concat([real, synth], ignore_index=True)
    kinds = {c: ("categorical" if k == "binary" and both[c].dropna().nunique() > 2 else k)
             for c, k in kinds.items()}
    prep = TablePreprocessor(kinds=kinds).fit(both)

    metrics: dict[str, Any] = {"num_real_rows": num_real_rows, "num_synthetic_rows": num_synth_rows,
                               "num_real_used": len(real), "num_synthetic_used": len(synth),
                               "seed": int(seed), "flag_threshold": flag_threshold, "kinds": kinds}
    figures: list[tuple[str, str, str]] = []  # (file, title, caption)

    real_ind, synth_ind = _indicator_view(real, prep), _indicator_view(synth, prep)
    stats = _stats_difference(real_ind, synth_ind)
    metrics["statistics"] = stats["summary"]
    figure = _Figures(out_dir, plots)
    figure(_heatmap, "stats_diff.png", stats["diff"], list(STATS), list(real_ind.columns),
           "column statistics: synthetic − real (in units of the real range)", limit=1.0)
    figures.append(("stats_diff.png", "Column statistics",
                    "Median, mean, quartiles, min and max of every column (binary and categorical "
                    "values as 0/1 columns), synthetic minus real, divided by the real column's range."))

    columns = _column_scores(real, synth, prep)
    flagged = sorted((c for c, s in columns.items() if s["score"] > flag_threshold),
                     key=lambda c: -columns[c]["score"])
    metrics["columns"] = columns
    metrics["flagged_columns"] = flagged
    metrics["biggest_difference"] = max(columns, key=lambda c: columns[c]["score"]) if columns else None
    metrics["mean_column_score"] = float(np.mean([s["score"] for s in columns.values()])) if columns else 0.0

    corr = _correlation_difference(real_ind, synth_ind)
    metrics["correlation"] = corr["summary"]
    figure(_heatmap, "corr_diff.png", corr["diff"], list(real_ind.columns), list(real_ind.columns),
           "correlation: synthetic − real", limit=1.0)
    figures.append(("corr_diff.png", "Correlation difference",
                    "Pearson correlation matrix of the synthetic table minus that of the real one "
                    "(0/1 columns for binary and categorical values; grey: undefined)."))

    real_enc, synth_enc = prep.transform(real), prep.transform(synth)
    metrics["pca"] = _pca_plot(out_dir / "pca.png" if plots else None, real_enc, synth_enc, seed)
    figures.append(("pca.png", "PCA", "First two principal components of the real rows, both tables "
                    "projected on them."))
    if plots:
        metrics["tsne"] = _tsne_plot(out_dir / "tsne.png", real_enc, synth_enc, seed)
        figures.append(("tsne.png", "t-SNE", "t-SNE of real and synthetic rows together "
                        f"(at most {MAX_TSNE_ROWS} rows of each)."))
    metrics["detection_auc"] = _detection_auc(real_enc, synth_enc, seed)

    age = _age_column(age_column, kinds)
    metrics["violin_column"] = age
    if age is not None:
        figure(_violin, "violin.png", real[age], synth[age], age)
        figures.append(("violin.png", f"Distribution of {age}", "Violin plot, real vs synthetic."))

    levelled = [c for c in prep.columns if c.kind != "numeric"]
    if levelled:
        figure(_category_bars, "categories.png", real, synth, levelled[:MAX_CATEGORY_PLOTS])
        more = f" (first {MAX_CATEGORY_PLOTS} of {len(levelled)})" if len(levelled) > MAX_CATEGORY_PLOTS else ""
        figures.append(("categories.png", "Value frequencies",
                        f"Share of each value in the binary and categorical columns{more}."))

    if target is not None:
        metrics["utility"] = _utility(real, synth, prep, target, seed, model, test_fraction)
        if "trtr" in metrics["utility"]:
            figure(_utility_plot, "utility.png", metrics["utility"], target)
            figures.append(("utility.png", f"Utility for predicting {target}",
                            "A classifier trained on real rows (TRTR) or on synthetic rows (TSTR), "
                            "both tested on the same held-out real rows."))

    metrics["privacy"] = _privacy(out_dir / "dcr.png" if plots else None, real_enc, synth_enc)
    figures.append(("dcr.png", "Distance to closest real record",
                    "Each synthetic row's distance to its nearest real row, against each real row's "
                    "distance to its nearest other real row."))

    metrics = _json_safe(metrics)
    if not plots:
        figures = []
    atomic_write_bytes(out_dir / "metrics.json", json.dumps(metrics, indent=1).encode())
    atomic_write_bytes(out_dir / "report.html", _html(metrics, figures).encode())
    return metrics


class _Figures:
    """Draws a figure into ``out_dir`` unless plots are off."""

    def __init__(self, out_dir: Path, enabled: bool):
        self.out_dir, self.enabled = out_dir, enabled

    def __call__(self, draw, name: str, *args, **kwargs) -> None:
        if self.enabled:
            draw(self.out_dir / name, *args, **kwargs)


# --------------------------------------------------------------------------- inputs
def _check_frames(real_df, synth_df, exclude) -> tuple[pd.DataFrame, pd.DataFrame]:
    for name, df in (("real_df", real_df), ("synth_df", synth_df)):
        if not isinstance(df, pd.DataFrame):
            raise UsageError(f"evaluate_tables: {name} must be a pandas DataFrame. Received: {type(df).__name__}")
        if len(df) == 0:
            raise DataError(None, f"evaluate_tables: {name} has no rows", "give tables with rows")
    exclude = set(exclude)
    columns = [c for c in real_df.columns if c not in exclude]
    missing = [c for c in columns if c not in synth_df.columns]
    extra = [c for c in synth_df.columns if c not in real_df.columns and c not in exclude]
    if missing or extra:
        raise DataError(None, f"evaluate_tables: the tables differ in columns (synthetic lacks {missing}, "
                        f"has extra {extra})", "compare tables with the same columns (exclude= ids)")
    if not columns:
        raise DataError(None, "evaluate_tables: no columns left to compare", "check exclude=")
    return real_df[columns].reset_index(drop=True), synth_df[columns].reset_index(drop=True)


def _cap(df: pd.DataFrame, max_rows: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(df) <= max_rows:
        return df
    return df.iloc[np.sort(rng.choice(len(df), max_rows, replace=False))].reset_index(drop=True)


def _level_key(value):
    return TablePreprocessor._key(value)


def _indicator_view(df: pd.DataFrame, prep: TablePreprocessor) -> pd.DataFrame:
    """Numbers as they are; binary → 0/1; categorical → one 0/1 column per value; NaN = missing."""
    out = {}
    for c in prep.columns:
        s = df[c.name]
        missing = s.isna().to_numpy()
        if c.kind == "numeric":
            out[c.name] = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
            continue
        keys = np.array([_level_key(v) if not m else None for v, m in zip(s.tolist(), missing)], dtype=object)
        levels = c.categories[1:] if c.kind == "binary" else c.categories
        for level in levels:
            col = (keys == _level_key(level)).astype(float)
            col[missing] = np.nan
            out[c.name if c.kind == "binary" else f"{c.name}={level}"] = col
    return pd.DataFrame(out)


# --------------------------------------------------------------------------- statistics
def _describe(ind: pd.DataFrame) -> np.ndarray:
    values = ind.to_numpy(dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-missing columns give NaN, shown grey
        return np.stack([np.nanmedian(values, axis=0), np.nanmean(values, axis=0),
                         np.nanpercentile(values, 25, axis=0), np.nanpercentile(values, 75, axis=0),
                         np.nanmin(values, axis=0), np.nanmax(values, axis=0)], axis=1)


def _stats_difference(real_ind: pd.DataFrame, synth_ind: pd.DataFrame) -> dict:
    real_stats, synth_stats = _describe(real_ind), _describe(synth_ind)
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


def _column_scores(real: pd.DataFrame, synth: pd.DataFrame, prep: TablePreprocessor) -> dict:
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
            rf, sf = _frequencies(r), _frequencies(s)
            levels = set(rf) | set(sf)
            tvd = 0.5 * sum(abs(rf.get(k, 0.0) - sf.get(k, 0.0)) for k in levels)
            score, measure = float(tvd), "tvd"
            detail = {"tvd": float(tvd), "real_frequencies": rf, "synthetic_frequencies": sf}
        scores[c.name] = {"kind": c.kind, "measure": measure, "score": float(score), **detail}
    return scores


def _frequencies(s: pd.Series) -> dict[str, float]:
    keys = ["(missing)" if pd.isna(v) else str(_level_key(v)) for v in s.tolist()]
    counts = pd.Series(keys).value_counts(normalize=True)
    return {str(k): float(v) for k, v in counts.items()}


def _correlation_difference(real_ind: pd.DataFrame, synth_ind: pd.DataFrame) -> dict:
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


# --------------------------------------------------------------------------- views
def _pca_plot(path: Path, real_enc: np.ndarray, synth_enc: np.ndarray, seed: int) -> dict:
    from sklearn.decomposition import PCA

    k = min(2, real_enc.shape[1], len(real_enc))
    pca = PCA(n_components=k, random_state=seed).fit(real_enc)
    r, s = pca.transform(real_enc), pca.transform(synth_enc)
    if k == 1:
        r, s = np.c_[r, np.zeros(len(r))], np.c_[s, np.zeros(len(s))]
    if path is not None:
        _scatter(path, r, s, "PCA (fitted on real rows)", ("PC1", "PC2"))
    return {"explained_variance_ratio": [float(v) for v in pca.explained_variance_ratio_],
            "real_centroid": r.mean(axis=0).tolist(), "synthetic_centroid": s.mean(axis=0).tolist()}


def _tsne_plot(path: Path, real_enc: np.ndarray, synth_enc: np.ndarray, seed: int) -> dict:
    from sklearn.manifold import TSNE

    rng = np.random.default_rng(seed)
    r = real_enc[np.sort(rng.permutation(len(real_enc))[:MAX_TSNE_ROWS])]
    s = synth_enc[np.sort(rng.permutation(len(synth_enc))[:MAX_TSNE_ROWS])]
    both = np.concatenate([r, s]).astype(np.float64)
    if len(both) < 5:
        _scatter(path, np.zeros((len(r), 2)), np.zeros((len(s), 2)), "t-SNE (too few rows)", ("", ""))
        return {"rows": len(both), "skipped": "fewer than 5 rows"}
    perplexity = float(min(30.0, (len(both) - 1) / 3.0))
    # exact gradients are faster than Barnes-Hut below a few hundred rows
    method = "exact" if len(both) <= 400 else "barnes_hut"
    emb = TSNE(n_components=2, perplexity=perplexity, init="pca", method=method, max_iter=500,
               random_state=seed).fit_transform(both)
    _scatter(path, emb[:len(r)], emb[len(r):], f"t-SNE (perplexity {perplexity:.0f})", ("", ""))
    return {"rows": len(both), "perplexity": perplexity}


def _detection_auc(real_enc: np.ndarray, synth_enc: np.ndarray, seed: int) -> float | None:
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


def _age_column(age_column: str | None, kinds: dict[str, str]) -> str | None:
    if age_column is not None:
        if age_column not in kinds:
            raise UsageError(f"evaluate_tables: age_column {age_column!r} is not a column; columns: {list(kinds)}")
        if kinds[age_column] != "numeric":
            raise UsageError(f"evaluate_tables: age_column {age_column!r} is {kinds[age_column]}, not numeric.")
        return age_column
    return next((c for c, k in kinds.items() if "age" in c.lower() and k == "numeric"), None)


# --------------------------------------------------------------------------- utility
def _utility(real, synth, prep, target, seed, model, test_fraction) -> dict:
    from sklearn.model_selection import train_test_split

    if target not in real.columns:
        raise UsageError(f"evaluate_tables: target {target!r} is not a column; columns: {list(real.columns)}")
    spec = next(c for c in prep.columns if c.name == target)
    if spec.kind == "numeric":
        raise UsageError(f"evaluate_tables: target {target!r} is numeric; the utility check classifies. "
                         "Fix: pick a binary or categorical column.")
    if model not in ("logistic", "gradient_boosting"):
        raise UsageError(f"evaluate_tables: model must be 'logistic' or 'gradient_boosting'. Received: {model!r}")
    lookup = {_level_key(v): i for i, v in enumerate(spec.categories)}

    def xy(df):
        keep = df[target].notna().to_numpy()
        df = df[keep].reset_index(drop=True)
        y = np.array([lookup[_level_key(v)] for v in df[target].tolist()])
        return df.drop(columns=[target]), y

    features = TablePreprocessor(kinds={c.name: c.kind for c in prep.columns if c.name != target})
    real_x, real_y = xy(real)
    synth_x, synth_y = xy(synth)
    classes, counts = np.unique(real_y, return_counts=True)
    result: dict[str, Any] = {"target": target, "model": model, "classes": [str(c) for c in spec.categories]}
    if len(classes) < 2:
        result["error"] = f"the real {target!r} column has a single value; nothing to predict"
        return result
    stratify = real_y if counts.min() >= 2 else None
    train_idx, test_idx = train_test_split(np.arange(len(real_y)), test_size=test_fraction,
                                           random_state=seed, stratify=stratify)
    features.fit(pd.concat([real_x, synth_x], ignore_index=True))
    xr, xs = features.transform(real_x), features.transform(synth_x)
    result.update(num_real_train=len(train_idx), num_real_test=len(test_idx), num_synthetic_train=len(synth_y))
    result["trtr"] = _fit_score(xr[train_idx], real_y[train_idx], xr[test_idx], real_y[test_idx],
                                len(spec.categories), model, seed)
    result["tstr"] = _fit_score(xs, synth_y, xr[test_idx], real_y[test_idx], len(spec.categories), model, seed)
    return result


def _fit_score(x_train, y_train, x_test, y_test, num_classes, model, seed) -> dict:
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

    present = np.unique(y_train)
    if len(present) < 2:
        return {"error": f"training rows hold a single class ({int(present[0]) if len(present) else 'none'}); "
                         "a classifier cannot be trained"}
    clf = LogisticRegression(max_iter=2000) if model == "logistic" \
        else GradientBoostingClassifier(random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x_train, y_train)
    proba_known = clf.predict_proba(x_test)
    proba = np.zeros((len(x_test), num_classes))
    proba[:, clf.classes_] = proba_known
    pred = clf.predict(x_test)
    binary = num_classes == 2
    average = "binary" if binary else "macro"
    scores = {
        "accuracy": float(accuracy_score(y_test, pred)),
        "precision": float(precision_score(y_test, pred, average=average, zero_division=0)),
        "recall": float(recall_score(y_test, pred, average=average, zero_division=0)),
        "f1": float(f1_score(y_test, pred, average=average, zero_division=0)),
    }
    test_classes = np.unique(y_test)
    if len(test_classes) < 2:
        scores["auc"] = None
    elif binary:
        scores["auc"] = float(roc_auc_score(y_test, proba[:, 1]))
    else:
        p = proba[:, test_classes]
        p = p / np.clip(p.sum(axis=1, keepdims=True), 1e-12, None)
        scores["auc"] = float(roc_auc_score(y_test, p, multi_class="ovr", average="macro", labels=test_classes)) \
            if len(test_classes) > 2 else float(roc_auc_score(y_test == test_classes[1], p[:, 1]))
    return scores


# --------------------------------------------------------------------------- privacy
def _privacy(path: Path, real_enc: np.ndarray, synth_enc: np.ndarray) -> dict:
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
    if path is None:
        return result
    fig = Figure(figsize=(6, 3.6), dpi=100)
    ax = fig.subplots()
    top = float(max(np.max(dcr), np.max(loo[np.isfinite(loo)]) if np.isfinite(loo).any() else 0.0, 1e-3))
    bins = np.linspace(0.0, top, 40)
    ax.hist(loo[np.isfinite(loo)], bins=bins, alpha=0.6, density=True, color=_REAL,
            label="real → nearest other real")
    ax.hist(dcr, bins=bins, alpha=0.6, density=True, color=_SYNTH, label="synthetic → nearest real")
    ax.axvline(threshold, color="k", ls="--", lw=1, label=f"near-copy threshold {threshold:.3g}")
    ax.set_xlabel("distance")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    ax.set_title(f"exact copies {result['share_exact_copies']:.1%}, near copies {result['share_near_copies']:.1%}",
                 fontsize=9)
    fig.tight_layout()
    _save(fig, path)
    return result


# --------------------------------------------------------------------------- plots
def _save(fig: Figure, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())


def _heatmap(path: Path, values: np.ndarray, xlabels: list[str], ylabels: list[str], title: str,
             limit: float) -> None:
    import matplotlib as mpl

    rows, cols = values.shape
    fig = Figure(figsize=(min(22.0, 2.5 + 0.28 * cols + (3.0 if cols <= 8 else 0.0)),
                          min(22.0, 1.6 + 0.25 * rows)), dpi=100)
    ax = fig.subplots()
    cmap = mpl.colormaps["RdBu_r"].with_extremes(bad="#cccccc")
    im = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=-limit, vmax=limit, aspect="auto",
                   interpolation="nearest")
    ax.set_xticks(range(cols), [_short(x) for x in xlabels], rotation=90 if cols > 8 else 0, fontsize=7)
    ax.set_yticks(range(rows), [_short(y) for y in ylabels], fontsize=7)
    if rows * cols <= 400:
        for i in range(rows):
            for j in range(cols):
                v = values[i, j]
                if np.isfinite(v):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if abs(v) > 0.6 * limit else "black")
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def _short(text: str, width: int = 28) -> str:
    text = str(text)
    return text if len(text) <= width else text[:width - 1] + "…"


def _scatter(path: Path, real: np.ndarray, synth: np.ndarray, title: str, axes_labels) -> None:
    fig = Figure(figsize=(5, 4.2), dpi=100)
    ax = fig.subplots()
    ax.scatter(synth[:, 0], synth[:, 1], s=6, alpha=0.35, color=_SYNTH, label=f"synthetic ({len(synth)})")
    ax.scatter(real[:, 0], real[:, 1], s=10, alpha=0.8, color=_REAL, label=f"real ({len(real)})")
    ax.set_xlabel(axes_labels[0])
    ax.set_ylabel(axes_labels[1])
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def _violin(path: Path, real: pd.Series, synth: pd.Series, name: str) -> None:
    r = pd.to_numeric(real, errors="coerce").dropna().to_numpy(float)
    s = pd.to_numeric(synth, errors="coerce").dropna().to_numpy(float)
    fig = Figure(figsize=(4.5, 4), dpi=100)
    ax = fig.subplots()
    data = [d if len(d) else np.array([np.nan]) for d in (r, s)]
    if all(len(d) and np.ptp(d) > 0 for d in (r, s)):
        parts = ax.violinplot(data, showmedians=True)
        for body, colour in zip(parts["bodies"], (_REAL, _SYNTH)):
            body.set_facecolor(colour)
    else:  # a constant column has no density to draw
        ax.boxplot(data)
    ax.set_xticks([1, 2], [f"real ({len(r)})", f"synthetic ({len(s)})"])
    ax.set_ylabel(name)
    ax.set_title(f"{name}: real vs synthetic", fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def _category_bars(path: Path, real: pd.DataFrame, synth: pd.DataFrame, columns) -> None:
    n = len(columns)
    ncols = min(4, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(3.2 * ncols, 2.5 * nrows), dpi=100)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, c in zip(axes, columns):
        rf, sf = _frequencies(real[c.name]), _frequencies(synth[c.name])
        levels = [str(_level_key(v)) for v in c.categories]
        levels += ["(missing)"] if "(missing)" in rf or "(missing)" in sf else []
        levels += [k for k in sorted(set(rf) | set(sf)) if k not in levels]
        x = np.arange(len(levels))
        ax.bar(x - 0.2, [rf.get(k, 0.0) for k in levels], 0.4, color=_REAL, label="real")
        ax.bar(x + 0.2, [sf.get(k, 0.0) for k in levels], 0.4, color=_SYNTH, label="synthetic")
        ax.set_xticks(x, [_short(k, 12) for k in levels], rotation=45 if len(levels) > 3 else 0,
                      fontsize=6, ha="right" if len(levels) > 3 else "center")
        ax.set_ylim(0, 1)
        ax.set_title(_short(c.name, 30), fontsize=8)
        ax.tick_params(axis="y", labelsize=6)
    for ax in axes[n:]:
        ax.set_axis_off()
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    _save(fig, path)


def _utility_plot(path: Path, utility: dict, target: str) -> None:
    names = ["auc", "accuracy", "precision", "recall", "f1"]
    fig = Figure(figsize=(6, 3.6), dpi=100)
    ax = fig.subplots()
    x = np.arange(len(names))
    for offset, key, colour, label in ((-0.2, "trtr", _REAL, "train real → test real"),
                                       (0.2, "tstr", _SYNTH, "train synthetic → test real")):
        scores = utility.get(key, {})
        values = [scores.get(n) if isinstance(scores.get(n), (int, float)) else 0.0 for n in names]
        ax.bar(x + offset, values, 0.4, color=colour, label=label)
    ax.set_xticks(x, names)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title(f"predicting {target} ({utility.get('model')})", fontsize=9)
    fig.tight_layout()
    _save(fig, path)


# --------------------------------------------------------------------------- report
def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3f}"
    return html.escape(str(v))


def _html(metrics: dict, figures: list[tuple[str, str, str]]) -> str:
    e = html.escape
    flagged = metrics["flagged_columns"]
    rows = "".join(
        f"<tr{' class=flag' if name in flagged else ''}><td>{e(name)}</td><td>{e(s['kind'])}</td>"
        f"<td>{e(s['measure'])}</td><td>{_fmt(s['score'])}</td></tr>"
        for name, s in sorted(metrics["columns"].items(), key=lambda kv: -(kv[1]["score"] or 0)))
    summary = [
        ("real rows (used)", f"{metrics['num_real_rows']} ({metrics['num_real_used']})"),
        ("synthetic rows (used)", f"{metrics['num_synthetic_rows']} ({metrics['num_synthetic_used']})"),
        ("flagged columns", ", ".join(flagged) or "none"),
        ("biggest difference", metrics["biggest_difference"]),
        ("mean column score", metrics["mean_column_score"]),
        ("statistics: mean |diff| (range units)", metrics["statistics"]["mean_abs_diff"]),
        ("correlation: mean |diff|", metrics["correlation"]["mean_abs_diff"]),
        ("correlation: max |diff|", metrics["correlation"]["max_abs_diff"]),
        ("real-vs-synthetic detection AUC", metrics["detection_auc"]),
        ("exact copies of real rows", metrics["privacy"]["share_exact_copies"]),
        ("near copies", metrics["privacy"]["share_near_copies"]),
        ("real rows duplicated within real", metrics["privacy"]["real_duplicate_share"]),
    ]
    summary_html = "".join(f"<tr><th>{e(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in summary)
    utility_html = ""
    u = metrics.get("utility")
    if u:
        if "error" in u:
            utility_html = f"<p>Utility not computed: {e(u['error'])}</p>"
        else:
            names = ["auc", "accuracy", "precision", "recall", "f1"]
            head = "".join(f"<th>{n}</th>" for n in names)
            body = "".join(
                f"<tr><th>{label}</th>" + ("".join(f"<td>{_fmt(u[key].get(n))}</td>" for n in names)
                                          if "error" not in u[key] else f"<td colspan=5>{e(u[key]['error'])}</td>")
                + "</tr>"
                for key, label in (("trtr", "train real, test real"), ("tstr", "train synthetic, test real")))
            utility_html = (f"<h2>Utility: predicting {e(u['target'])}</h2><p>{e(u['model'])} classifier; "
                            f"{u['num_real_train']} real training rows, {u['num_synthetic_train']} synthetic "
                            f"training rows, {u['num_real_test']} held-out real test rows.</p>"
                            f"<table><tr><th></th>{head}</tr>{body}</table>")
    figs = "".join(f"<figure><h3>{e(t)}</h3><img src='{e(f)}' alt='{e(t)}'>"
                   f"<figcaption>{e(c)}</figcaption></figure>" for f, t, c in figures)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>augkit: synthetic table report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px}}
tr.flag td{{background:#fde2e2}}img{{max-width:100%}}figure{{margin:1.5em 0}}
figcaption{{color:#555;font-size:13px}}</style>
</head><body><h1>Synthetic table vs real table</h1>
<table>{summary_html}</table>{utility_html}
<h2>Columns</h2><p>Score: KS statistic (numeric) or total variation distance (binary, categorical); flagged
(red) above {_fmt(metrics['flag_threshold'])}.</p>
<table><tr><th>column</th><th>kind</th><th>measure</th><th>score</th></tr>{rows}</table>
<h2>Figures</h2>{figs}
</body></html>
"""
