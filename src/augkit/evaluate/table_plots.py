"""The figures of the table report (matplotlib ``Figure`` objects, no pyplot: no global figure
state), each written as one PNG."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from augkit.evaluate.table_view import frequencies, level_key
from augkit.io.base import atomic_write_bytes

REAL_COLOUR, SYNTH_COLOUR = "#1f77b4", "#d62728"
MAX_CATEGORY_PLOTS = 36


def save_png(fig: Figure, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())


def heatmap(path: Path, values: np.ndarray, xlabels: list[str], ylabels: list[str], title: str,
             limit: float) -> None:
    import matplotlib as mpl

    rows, cols = values.shape
    fig = Figure(figsize=(min(22.0, 2.5 + 0.28 * cols + (3.0 if cols <= 8 else 0.0)),
                          min(22.0, 1.6 + 0.25 * rows)), dpi=100)
    ax = fig.subplots()
    cmap = mpl.colormaps["RdBu_r"].with_extremes(bad="#cccccc")
    im = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=-limit, vmax=limit, aspect="auto",
                   interpolation="nearest")
    ax.set_xticks(range(cols), [short_label(x) for x in xlabels], rotation=90 if cols > 8 else 0, fontsize=7)
    ax.set_yticks(range(rows), [short_label(y) for y in ylabels], fontsize=7)
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
    save_png(fig, path)


def short_label(text: str, width: int = 28) -> str:
    text = str(text)
    return text if len(text) <= width else text[:width - 1] + "…"


def scatter(path: Path, real: np.ndarray, synth: np.ndarray, title: str, axes_labels) -> None:
    fig = Figure(figsize=(5, 4.2), dpi=100)
    ax = fig.subplots()
    ax.scatter(synth[:, 0], synth[:, 1], s=6, alpha=0.35, color=SYNTH_COLOUR, label=f"synthetic ({len(synth)})")
    ax.scatter(real[:, 0], real[:, 1], s=10, alpha=0.8, color=REAL_COLOUR, label=f"real ({len(real)})")
    ax.set_xlabel(axes_labels[0])
    ax.set_ylabel(axes_labels[1])
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    save_png(fig, path)


def violin(path: Path, real: pd.Series, synth: pd.Series, name: str) -> None:
    r = pd.to_numeric(real, errors="coerce").dropna().to_numpy(float)
    s = pd.to_numeric(synth, errors="coerce").dropna().to_numpy(float)
    fig = Figure(figsize=(4.5, 4), dpi=100)
    ax = fig.subplots()
    data = [d if len(d) else np.array([np.nan]) for d in (r, s)]
    if all(len(d) and np.ptp(d) > 0 for d in (r, s)):
        parts = ax.violinplot(data, showmedians=True)
        for body, colour in zip(parts["bodies"], (REAL_COLOUR, SYNTH_COLOUR)):
            body.set_facecolor(colour)
    else:  # a constant column has no density to draw
        ax.boxplot(data)
    ax.set_xticks([1, 2], [f"real ({len(r)})", f"synthetic ({len(s)})"])
    ax.set_ylabel(name)
    ax.set_title(f"{name}: real vs synthetic", fontsize=9)
    fig.tight_layout()
    save_png(fig, path)


def category_bars(path: Path, real: pd.DataFrame, synth: pd.DataFrame, columns) -> None:
    n = len(columns)
    ncols = min(4, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(3.2 * ncols, 2.5 * nrows), dpi=100)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, c in zip(axes, columns):
        rf, sf = frequencies(real[c.name]), frequencies(synth[c.name])
        levels = [str(level_key(v)) for v in c.categories]
        levels += ["(missing)"] if "(missing)" in rf or "(missing)" in sf else []
        levels += [k for k in sorted(set(rf) | set(sf)) if k not in levels]
        x = np.arange(len(levels))
        ax.bar(x - 0.2, [rf.get(k, 0.0) for k in levels], 0.4, color=REAL_COLOUR, label="real")
        ax.bar(x + 0.2, [sf.get(k, 0.0) for k in levels], 0.4, color=SYNTH_COLOUR, label="synthetic")
        ax.set_xticks(x, [short_label(k, 12) for k in levels], rotation=45 if len(levels) > 3 else 0,
                      fontsize=6, ha="right" if len(levels) > 3 else "center")
        ax.set_ylim(0, 1)
        ax.set_title(short_label(c.name, 30), fontsize=8)
        ax.tick_params(axis="y", labelsize=6)
    for ax in axes[n:]:
        ax.set_axis_off()
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    save_png(fig, path)


def utility_plot(path: Path, utility: dict, target: str) -> None:
    names = ["auc", "accuracy", "precision", "recall", "f1"]
    fig = Figure(figsize=(6, 3.6), dpi=100)
    ax = fig.subplots()
    x = np.arange(len(names))
    for offset, key, colour, label in ((-0.2, "trtr", REAL_COLOUR, "train real → test real"),
                                       (0.2, "tstr", SYNTH_COLOUR, "train synthetic → test real")):
        scores = utility.get(key, {})
        values = [scores.get(n) if isinstance(scores.get(n), (int, float)) else 0.0 for n in names]
        ax.bar(x + offset, values, 0.4, color=colour, label=label)
    ax.set_xticks(x, names)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title(f"predicting {target} ({utility.get('model')})", fontsize=9)
    fig.tight_layout()
    save_png(fig, path)
