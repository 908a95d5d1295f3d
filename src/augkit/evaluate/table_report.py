"""``evaluate_tables``: how close a synthetic table is to the real one, how useful it is for
training, and whether it copies real rows (seed 004's checks plus a privacy view).

Written into ``out_dir``: ``stats_diff.png`` (median, mean, quartiles, min, max of every
encoded column, synthetic minus real, in units of the real column's range), ``corr_diff.png``
(synthetic minus real correlation matrix), ``pca.png`` and ``tsne.png`` (real and synthetic
rows in one view), ``violin.png`` (the age column, or the numeric column named),
``categories.png`` (value frequencies of the binary and categorical columns),
``utility_<target>.png`` (train on real vs train on synthetic, both tested on the rows of
held-out patients, ``test_df``), ``dcr.png`` (distance of each synthetic row to its closest real
row against the real rows' own leave-one-out nearest-neighbour distances, and the held-out
patients' distances), ``report.html`` and ``metrics.json``.

Encoding: columns are typed by ``augkit.tables.encoding.TablePreprocessor`` fitted on the real table
(numeric, binary, categorical, with missing-value flags). Statistics and correlations use the
"indicator view": numbers as they are, a binary column as 0/1, a categorical column as one 0/1
column per value. Distances, PCA, t-SNE and the utility models use the preprocessor's encoding
(numbers scaled to [-1, 1] by the real range, one-hot values, missing flags).

A column is *flagged* when its distribution differs by more than ``flag_threshold``: for a
numeric column the Kolmogorov-Smirnov statistic (or the difference in missing share, if larger),
for a binary or categorical column the total variation distance of the value frequencies
(missing counted as a value). Both are in [0, 1], 0 for identical columns.

The measures live in ``table_view`` (the indicator view), ``table_fidelity`` (statistics,
scores, correlation, views, detection), ``table_utility`` (TSTR vs TRTR), ``table_privacy``
(DCR) and ``table_plots`` (figures).
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from augkit.errors import DataError, UsageError
from augkit.evaluate.table_fidelity import (
    STATS,
    MAX_TSNE_ROWS,
    column_scores,
    correlation_difference,
    detection_auc,
    pca_view,
    stats_difference,
    tsne_view,
)
from augkit.evaluate.table_plots import MAX_CATEGORY_PLOTS, category_bars, heatmap, utility_plot, violin
from augkit.evaluate.table_privacy import distance_to_closest_record
from augkit.evaluate.table_utility import utility
from augkit.evaluate.table_view import indicator_view
from augkit.io.base import atomic_write_bytes
from augkit.tables.encoding import TablePreprocessor


def evaluate_tables(real_df: pd.DataFrame, synth_df: pd.DataFrame, out_dir, *,
                    target: str | Sequence[str] | None = None, test_df: pd.DataFrame | None = None,
                    seed: int = 0, age_column: str | None = None, exclude=(), flag_threshold: float = 0.2,
                    max_rows: int = 20_000, model: str = "logistic", num_bootstrap: int = 1000,
                    plots: bool = True) -> dict:
    """Compare ``synth_df`` with ``real_df`` (the rows the generator was trained on); write PNGs,
    ``report.html`` and ``metrics.json`` into ``out_dir``; return the metrics.

    :param target: column(s) for the utility check (binary or categorical); None skips it.
        ``metrics["utility"][target]`` holds each one's TRTR and TSTR scores.
    :param test_df: real rows of held-out patients, needed by ``target``: the generator and the
        real baseline must never have seen them (split by patient, not by slice or row). They are
        also the reference of the privacy check (synthetic vs new real patients' distance to the
        training rows).
    :param age_column: numeric column for the violin plot; default the first numeric column whose
        name contains "age".
    :param exclude: columns left out of everything (ids).
    :param max_rows: tables longer than this are sampled down (seeded) before the comparison.
    :param model: utility classifier, ``logistic`` (regularised logistic regression) or
        ``gradient_boosting``.
    :param num_bootstrap: resamples of the test rows for the utility intervals.
    :param plots: False writes only ``metrics.json`` and ``report.html`` (no figures, no t-SNE):
        for quick checks.
    """
    out_dir = Path(out_dir)
    real, synth = _check_frames(real_df, synth_df, exclude)
    targets = [target] if isinstance(target, str) else list(target or [])
    if targets and test_df is None:
        raise UsageError("evaluate_tables: the utility check (target=) needs test_df: real rows of "
                         "patients that neither the generator nor the real baseline saw. Fix: pass "
                         "test_df= (CLI: --test DIR, e.g. the test patients' folder).")
    test = None
    if test_df is not None:
        test = _check_frames(real_df, test_df, exclude, other="test_df")[1]
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

    real_ind, synth_ind = indicator_view(real, prep), indicator_view(synth, prep)
    stats = stats_difference(real_ind, synth_ind)
    metrics["statistics"] = stats["summary"]
    figure = _Figures(out_dir, plots)
    figure(heatmap, "stats_diff.png", stats["diff"], list(STATS), list(real_ind.columns),
           "column statistics: synthetic − real (in units of the real range)", limit=1.0)
    figures.append(("stats_diff.png", "Column statistics",
                    "Median, mean, quartiles, min and max of every column (binary and categorical "
                    "values as 0/1 columns), synthetic minus real, divided by the real column's range."))

    columns = column_scores(real, synth, prep)
    flagged = sorted((c for c, s in columns.items() if s["score"] > flag_threshold),
                     key=lambda c: -columns[c]["score"])
    metrics["columns"] = columns
    metrics["flagged_columns"] = flagged
    metrics["biggest_difference"] = max(columns, key=lambda c: columns[c]["score"]) if columns else None
    metrics["mean_column_score"] = float(np.mean([s["score"] for s in columns.values()])) if columns else 0.0

    corr = correlation_difference(real_ind, synth_ind)
    metrics["correlation"] = corr["summary"]
    figure(heatmap, "corr_diff.png", corr["diff"], list(real_ind.columns), list(real_ind.columns),
           "correlation: synthetic − real", limit=1.0)
    figures.append(("corr_diff.png", "Correlation difference",
                    "Pearson correlation matrix of the synthetic table minus that of the real one "
                    "(0/1 columns for binary and categorical values; grey: undefined)."))

    real_enc, synth_enc = prep.transform(real), prep.transform(synth)
    metrics["pca"] = pca_view(out_dir / "pca.png" if plots else None, real_enc, synth_enc, seed)
    figures.append(("pca.png", "PCA", "First two principal components of the real rows, both tables "
                    "projected on them."))
    if plots:
        metrics["tsne"] = tsne_view(out_dir / "tsne.png", real_enc, synth_enc, seed)
        figures.append(("tsne.png", "t-SNE", "t-SNE of real and synthetic rows together "
                        f"(at most {MAX_TSNE_ROWS} rows of each)."))
    metrics["detection_auc"] = detection_auc(real_enc, synth_enc, seed)

    age = _age_column(age_column, kinds)
    metrics["violin_column"] = age
    if age is not None:
        figure(violin, "violin.png", real[age], synth[age], age)
        figures.append(("violin.png", f"Distribution of {age}", "Violin plot, real vs synthetic."))

    levelled = [c for c in prep.columns if c.kind != "numeric"]
    if levelled:
        figure(category_bars, "categories.png", real, synth, levelled[:MAX_CATEGORY_PLOTS])
        more = f" (first {MAX_CATEGORY_PLOTS} of {len(levelled)})" if len(levelled) > MAX_CATEGORY_PLOTS else ""
        figures.append(("categories.png", "Value frequencies",
                        f"Share of each value in the binary and categorical columns{more}."))

    if targets:
        metrics["utility"] = {}
        for name in targets:
            u = metrics["utility"][name] = utility(real, synth, test, prep, name, seed, model, num_bootstrap)
            if "error" not in u:
                png = f"utility_{_file_part(name)}.png"
                figure(utility_plot, png, u, name)
                figures.append((png, f"Utility for predicting {name}",
                                f"A classifier trained on the {u['num_real_train']} real training rows (TRTR) "
                                f"or on {u['num_synthetic_train']} synthetic rows (TSTR), both tested on the "
                                f"same {u['num_real_test']} rows of held-out patients."))

    holdout = None
    if test is not None:
        layout = TablePreprocessor(kinds=kinds).fit(pd.concat([real, synth, test], ignore_index=True))
        real_enc, synth_enc, holdout = layout.transform(real), layout.transform(synth), layout.transform(test)
    metrics["privacy"] = distance_to_closest_record(out_dir / "dcr.png" if plots else None, real_enc,
                                                    synth_enc, holdout)
    figures.append(("dcr.png", "Distance to closest real record",
                    "Each synthetic row's distance to its nearest real training row, against each real "
                    "row's distance to its nearest other real row"
                    + (" and each held-out patient's distance to the nearest training row." if holdout is not None
                       else ".")))

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


def _file_part(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)) or "target"


def _check_frames(real_df, synth_df, exclude, other: str = "synth_df") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both tables as DataFrames with rows and the same columns (``other`` names the second)."""
    for name, df in (("real_df", real_df), (other, synth_df)):
        if not isinstance(df, pd.DataFrame):
            raise UsageError(f"evaluate_tables: {name} must be a pandas DataFrame. Received: {type(df).__name__}")
        if len(df) == 0:
            raise DataError(None, f"evaluate_tables: {name} has no rows", "give tables with rows")
    exclude = set(exclude)
    columns = [c for c in real_df.columns if c not in exclude]
    missing = [c for c in columns if c not in synth_df.columns]
    extra = [c for c in synth_df.columns if c not in real_df.columns and c not in exclude]
    if missing or extra:
        raise DataError(None, f"evaluate_tables: real_df and {other} differ in columns ({other} lacks "
                        f"{missing}, has extra {extra})", "compare tables with the same columns (exclude= ids)")
    if not columns:
        raise DataError(None, "evaluate_tables: no columns left to compare", "check exclude=")
    return real_df[columns].reset_index(drop=True), synth_df[columns].reset_index(drop=True)


def _cap(df: pd.DataFrame, max_rows: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(df) <= max_rows:
        return df
    return df.iloc[np.sort(rng.choice(len(df), max_rows, replace=False))].reset_index(drop=True)


def _age_column(age_column: str | None, kinds: dict[str, str]) -> str | None:
    if age_column is not None:
        if age_column not in kinds:
            raise UsageError(f"evaluate_tables: age_column {age_column!r} is not a column; columns: {list(kinds)}")
        if kinds[age_column] != "numeric":
            raise UsageError(f"evaluate_tables: age_column {age_column!r} is {kinds[age_column]}, not numeric.")
        return age_column
    return next((c for c, k in kinds.items() if "age" in c.lower() and k == "numeric"), None)


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
    if "holdout_dcr_median" in metrics["privacy"]:
        summary += [("median distance to the training rows: synthetic / held-out patients",
                     f"{metrics['privacy']['dcr_median']:.3f} / {metrics['privacy']['holdout_dcr_median']:.3f}"),
                    ("synthetic rows closer than 95 % of held-out patients",
                     metrics["privacy"]["share_synthetic_closer_than_holdout_p5"])]
    summary_html = "".join(f"<tr><th>{e(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in summary)
    utility_html = "".join(_utility_html(u) for u in (metrics.get("utility") or {}).values())
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


def _utility_html(u: dict) -> str:
    e = html.escape
    if "error" in u:
        return f"<h2>Utility: predicting {e(u['target'])}</h2><p>Not computed: {e(u['error'])}</p>"
    names = ["auc", "accuracy", "precision", "recall", "f1"]
    head = "".join(f"<th>{n}</th>" for n in names) + "<th>AUC 95 % (bootstrap)</th>"
    ci = u.get("bootstrap", {})

    def interval(key):
        return "–" if key not in ci else f"[{ci[key][0]:.2f}, {ci[key][1]:.2f}]"

    body = "".join(
        f"<tr><th>{label}</th>" + ("".join(f"<td>{_fmt(u[key].get(n))}</td>" for n in names)
                                  + f"<td>{interval(key)}</td>"
                                  if "error" not in u[key] else f"<td colspan=6>{e(u[key]['error'])}</td>")
        + "</tr>"
        for key, label in (("trtr", "train real, test real"), ("tstr", "train synthetic, test real")))
    gaps = u["rows_without_target"]
    return (f"<h2>Utility: predicting {e(u['target'])}</h2><p>{e(u['model'])} classifier; "
            f"{u['num_real_train']} real training rows, {u['num_synthetic_train']} synthetic training rows, "
            f"{u['num_real_test']} rows of held-out patients ({e(u['split'])}; classes "
            f"{e(json.dumps(u['test_class_counts']))}; rows without a {e(u['target'])} value left out: "
            f"{gaps['real']} real, {gaps['synthetic']} synthetic, {gaps['test']} test). Always predicting "
            f"the training rows' majority class: accuracy {_fmt(u['majority_baseline_accuracy'])}; "
            f"TSTR − TRTR AUC 95 %: "
            f"{interval('tstr_minus_trtr')}.</p>"
            f"<table><tr><th></th>{head}</tr>{body}</table>")
