"""``evaluate_images``: fidelity, diversity and memorisation of a synthetic image set against
the real one, written as PNG plots, one ``report.html`` and ``metrics.json``."""

from __future__ import annotations

import html
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure  # no pyplot: no global figure state, Agg canvas

from augkit.errors import UsageError
from augkit.evaluate.features import FeatureSpace, check_samples, intensity_range, thumbnails
from augkit.evaluate.fidelity import compare_to_floor, diversity
from augkit.evaluate.privacy import memorisation
from augkit.sample import Sample

_REAL, _SYNTH = "#1f77b4", "#d62728"
_MAX_GRID_PAIRS = 24


def evaluate_images(real: Sequence[Sample], synthetic: Sequence[Sample], out_dir, *,
                    near_copy_threshold: float | None = None, seed: int = 0) -> dict:
    """Compare ``synthetic`` with ``real``; write the report under ``out_dir``; return the figures.

    Masks split the features into inside/outside regions when every sample of both sets has
    one. ``near_copy_threshold``: NCC at or above which a synthetic image is a near-copy of its
    most similar real image (default 0.95, see ``augkit.evaluate.privacy``).
    """
    real, synthetic = list(real), list(synthetic)
    for what, samples in (("real", real), ("synthetic", synthetic)):
        if len(samples) < 2:
            raise UsageError(f"the {what} set has {len(samples)} sample(s); evaluation needs at least 2")
    if check_samples(real, "real") != check_samples(synthetic, "synthetic"):
        raise UsageError(f"real images have {real[0].image.shape[-1]} channels, synthetic images "
                         f"{synthetic[0].image.shape[-1]}; compare images of the same kind")

    space = FeatureSpace.fit(real, use_masks=all(s.mask is not None for s in synthetic))
    real_feats, synth_feats = space.transform(real), space.transform(synthetic)
    real_thumbs, synth_thumbs = thumbnails(real), thumbnails(synthetic)
    mem = memorisation(real, synthetic, threshold=near_copy_threshold,
                       real_thumbs=real_thumbs, synth_thumbs=synth_thumbs)
    metrics = {
        "num_real": len(real),
        "num_synthetic": len(synthetic),
        "seed": seed,
        "features": {"num_features": len(space.names), "image_shape": list(space.shape),
                     "regions": "inside/outside mask" if space.use_masks else "whole image"},
        "fidelity": compare_to_floor(real_feats, synth_feats, seed=seed),
        "diversity": diversity(real_feats, synth_feats, real_thumbs, synth_thumbs),
        "memorisation": mem,
    }
    _write_report(Path(out_dir), metrics, real, synthetic, real_thumbs, synth_thumbs)
    return metrics


# ---- report ----------------------------------------------------------------------------------

def _save(fig: Figure, path: Path) -> None:
    fig.savefig(path, format="png", dpi=90)


def _display(img: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """An RGB image in [0, 1]: 3 channels as they are, anything else as its first channel in grey."""
    scaled = np.clip((img - lo) / (hi - lo), 0.0, 1.0)
    return scaled if scaled.shape[-1] == 3 else np.repeat(scaled[..., :1], 3, axis=-1)


_PAD = 6
_CAPTION = 14  # pixels of blank band above a row that carries captions


def _mosaic(cells: list[list[tuple[np.ndarray, str]]], captioned: set[int]) -> tuple[np.ndarray, list[int]]:
    """One RGB array from rows of (image, frame colour) cells, and the top of each row: a
    single imshow draws a whole grid, where one Axes per thumbnail makes rendering slow."""
    side = max(img.shape[0] for row in cells for img, _ in row)
    cols = max(len(row) for row in cells)
    step = side + 2 * _PAD
    tops, y = [], 0
    for r in range(len(cells)):
        y += _CAPTION if r in captioned else 0
        tops.append(y)
        y += step
    out = np.ones((y, cols * step, 3))
    for r, row in enumerate(cells):
        for c, (img, frame) in enumerate(row):
            y, x = tops[r], c * step
            out[y + 2:y + step - 2, x + 2:x + step - 2] = to_rgb(frame)
            out[y + _PAD:y + _PAD + img.shape[0], x + _PAD:x + _PAD + img.shape[1]] = img
    return out, tops


def _show(grid: np.ndarray, path: Path, title: str, cell_px: int, labels=None, texts=()) -> None:
    h, w = grid.shape[:2]
    scale = 1.35 / cell_px  # inches per grid pixel: one 64-pixel thumbnail ≈ 1.35 in
    left, top = (0.9 if labels else 0.1), 0.45  # inches for row labels and the title
    width, height = w * scale + left, h * scale + top
    fig = Figure(figsize=(width, height))
    ax = fig.add_axes((left / width, 0, w * scale / width, h * scale / height))
    ax.imshow(grid, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([y for y, _ in labels or []], [t for _, t in labels or []], fontsize=8)
    for side in ax.spines.values():
        side.set_visible(False)
    for x, y, text, color in texts:
        ax.text(x, y, text, ha="center", va="bottom", fontsize=7, color=color)
    fig.suptitle(title, fontsize=9, y=1 - 0.1 / height)
    _save(fig, path)


def _plot_pairs(pairs: list[dict], real_by_id: dict, synth_by_id: dict, lo, hi, path: Path,
                title: str) -> None:
    """Synthetic image above its nearest real image, one column per pair; near-copies framed red."""
    pairs = pairs[:_MAX_GRID_PAIRS]
    cols = min(len(pairs), 8)
    cells: list[list] = []
    for k in range(0, len(pairs), cols):
        chunk = pairs[k:k + cols]
        frame = [_SYNTH if p["near_copy"] else "white" for p in chunk]
        cells.append([(_display(synth_by_id[p["synthetic_id"]], lo, hi), f) for p, f in zip(chunk, frame)])
        cells.append([(_display(real_by_id[p["real_id"]], lo, hi), f) for p, f in zip(chunk, frame)])
    grid, tops = _mosaic(cells, captioned=set(range(0, len(cells), 2)))
    step = grid.shape[1] // cols
    texts = [((k % cols + 0.5) * step, tops[2 * (k // cols)] - 1, f"NCC {p['ncc']:.3f}  SSIM {p['ssim']:.2f}",
              _SYNTH if p["near_copy"] else "black") for k, p in enumerate(pairs)]
    labels = [(tops[r] + step / 2, "synthetic" if r % 2 == 0 else "nearest\nreal") for r in range(len(cells))]
    _show(grid, path, title, step, labels, texts)


def _plot_examples(real_thumbs, synth_thumbs, lo, hi, path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    cols = min(8, len(real_thumbs), len(synth_thumbs))
    cells = [[(_display(thumbs[i], lo, hi), "white") for i in rng.choice(len(thumbs), size=cols, replace=False)]
             for thumbs in (real_thumbs, synth_thumbs)]
    grid, tops = _mosaic(cells, captioned=set())
    step = grid.shape[1] // cols
    _show(grid, path, "Random examples (64×64 thumbnails)", step,
          [(tops[0] + step / 2, "real"), (tops[1] + step / 2, "synthetic")])


def _plot_nn(mem: dict, path: Path) -> None:
    synth = [p["ncc"] for p in mem["pairs"]]
    real = [p["ncc"] for p in mem["real_pairs"]]
    fig = Figure(figsize=(6.5, 3.6))
    ax = fig.add_subplot()
    low = min(synth + real + [mem["threshold"]])
    bins = np.linspace(min(low, 0.0) if low < 0 else low - 0.02, 1.0, 41)
    ax.hist(real, bins=bins, alpha=0.6, color=_REAL, density=True,
            label=f"real → nearest other real (n={len(real)})")
    ax.hist(synth, bins=bins, alpha=0.6, color=_SYNTH, density=True,
            label=f"synthetic → nearest real (n={len(synth)})")
    ax.axvline(mem["threshold"], color="k", ls="--", label=f"near-copy threshold {mem['threshold']:.2f}")
    ax.set_xlabel("nearest-neighbour NCC (64×64 thumbnails)")
    ax.set_ylabel("density")
    ax.set_title(f"Memorisation: {mem['num_near_copies']} near-copies")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    _save(fig, path)


def _plot_distances(fid: dict, div: dict, path: Path) -> None:
    fig = Figure(figsize=(10, 3.6))
    axes = fig.subplots(1, 3)
    for ax, (name, label) in zip(axes, (("frechet", "Fréchet distance"), ("kid", "KID (MMD², cubic)"))):
        e = fid[name]
        if e["floor"] is None:
            ax.bar(["synthetic (full)"], [e["full"]], color=_SYNTH)
        else:
            ax.bar(["real vs real\n(floor)", "real vs synthetic\n(same n)"], [e["floor"], e["matched"]],
                   yerr=[e["floor_std"], e["matched_std"]], color=[_REAL, _SYNTH], capsize=4)
            ax.axhline(e["floor"], color=_REAL, ls=":")
        note = "" if e["excess_sd"] is None else f"\nexcess {e['excess_sd']:.1f} floor stds"
        ax.set_title(label + note, fontsize=10)
    ax = axes[2]
    ratios = [div["feature_ratio"] or 0.0, div["pixel_ratio"] or 0.0]
    ax.bar(["features", "pixels"], ratios, color=_SYNTH)
    ax.axhline(1.0, color=_REAL, ls=":", label="as varied as real")
    ax.set_title("Diversity synthetic / real\n(→0: mode collapse)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def _plot_intensities(real: list[Sample], synthetic: list[Sample], path: Path) -> None:
    num_channels = real[0].image.shape[-1]
    fig = Figure(figsize=(3.3 * num_channels, 3.0))
    axes = fig.subplots(1, num_channels, squeeze=False)[0]
    for c, ax in enumerate(axes):
        sets = [(np.concatenate([s.image[..., c].ravel()[::5] for s in samples]).astype(np.float64), color, name)
                for samples, color, name in ((real, _REAL, "real"), (synthetic, _SYNTH, "synthetic"))]
        bins = np.linspace(min(v.min() for v, _, _ in sets), max(v.max() for v, _, _ in sets) + 1e-9, 61)
        for vals, color, name in sets:
            ax.hist(vals, bins=bins, density=True, histtype="step", color=color, label=name, log=True)
        ax.set_title(f"channel {c}", fontsize=9)
        ax.set_xlabel("intensity")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def _fmt(v) -> str:
    return "—" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))


_NEAR_HEAD = "<table><tr><th>synthetic</th><th>nearest real</th><th>NCC</th><th>SSIM</th></tr>"


def _html(metrics: dict, images: list[str]) -> str:
    fid, div, mem = metrics["fidelity"], metrics["diversity"], metrics["memorisation"]
    keys = ("full", "matched", "floor", "floor_std", "excess_sd", "ratio")
    rows = "".join(f"<tr><td>{n}</td>" + "".join(f"<td>{_fmt(fid[n][k])}</td>" for k in keys) + "</tr>"
                   for n in fid)
    drows = "".join(f"<tr><td>{k}</td><td>{_fmt(v)}</td></tr>" for k, v in div.items())
    near = [p for p in mem["pairs"] if p["near_copy"]]
    nrows = "".join(f"<tr><td>{html.escape(p['synthetic_id'])}</td><td>{html.escape(p['real_id'])}</td>"
                    f"<td>{p['ncc']:.4f}</td><td>{p['ssim']:.3f}</td></tr>" for p in near)
    figs = "".join(f'<p><img src="{name}" alt="{name}"></p>' for name in images)
    rr = mem["real_nn_ncc"] or {}
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>augkit evaluation</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}
img{{max-width:100%}}</style></head><body>
<h1>augkit evaluation</h1>
<p>{metrics['num_real']} real vs {metrics['num_synthetic']} synthetic images;
{metrics['features']['num_features']} features ({metrics['features']['regions']}) at
{metrics['features']['image_shape'][0]}×{metrics['features']['image_shape'][1]}, standardised on the real set.
Full numbers in <a href="metrics.json">metrics.json</a>.</p>
<h2>Fidelity</h2>
<p>“same n”: one real half against a synthetic subset the size of the other half, averaged over
seeded splits; “floor”: the two real halves against each other. Excess ≲ 2 floor stds
(Fréchet ratio ≈ 1 or below): the synthetic set is as close to the real data as real data is to itself at this
sample size.</p>
<table><tr><th>distance</th><th>full sets</th><th>same n</th><th>floor</th><th>floor std</th>
<th>excess (floor stds)</th><th>ratio</th></tr>{rows}</table>
<h2>Diversity</h2><table>{drows}</table>
<h2>Memorisation</h2>
<p>Near-copy: NCC ≥ {mem['threshold']:.3f} with the nearest real image (64×64 z-scored thumbnails).
<b>{mem['num_near_copies']}</b> near-copies ({100 * mem['near_copy_fraction']:.1f}%);
{_fmt(mem['above_real_max'])} synthetic images are closer to a real one than any two real images are
(real-vs-real nearest NCC: median {_fmt(rr.get('median'))}, max {_fmt(rr.get('max'))}).</p>
{_NEAR_HEAD + nrows + "</table>" if near else ""}
{figs}
</body></html>
"""


def _write_report(out_dir: Path, metrics: dict, real, synthetic, real_thumbs, synth_thumbs) -> None:
    """Build the report in a temporary folder next to ``out_dir`` and move it in only when
    complete, so a failure leaves no half report (files of an older report are replaced)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".tmp-{out_dir.name}-"))
    os.chmod(tmp, 0o755)  # mkdtemp's 0700 would stick to out_dir after the rename
    try:
        names = _render(tmp, metrics, real, synthetic, real_thumbs, synth_thumbs)
        if out_dir.exists():
            for name in names:
                os.replace(tmp / name, out_dir / name)
            stale = out_dir / "near_copies.png"
            if "near_copies.png" not in names:
                stale.unlink(missing_ok=True)  # an older report's near-copies are not this one's
            tmp.rmdir()
        else:
            os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _render(out_dir: Path, metrics: dict, real, synthetic, real_thumbs, synth_thumbs) -> list[str]:
    lo, hi = intensity_range(real)
    mem = metrics["memorisation"]
    real_by_id = {s.id: t for s, t in zip(real, real_thumbs)}
    synth_by_id = {s.id: t for s, t in zip(synthetic, synth_thumbs)}
    closest = sorted(mem["pairs"], key=lambda p: -p["ncc"])
    images = ["examples.png", "nn_similarity.png", "feature_distances.png", "closest_pairs.png"]
    _plot_examples(real_thumbs, synth_thumbs, lo, hi, out_dir / "examples.png", metrics["seed"])
    _plot_nn(mem, out_dir / "nn_similarity.png")
    _plot_distances(metrics["fidelity"], metrics["diversity"], out_dir / "feature_distances.png")
    _plot_pairs(closest[:8], real_by_id, synth_by_id, lo, hi, out_dir / "closest_pairs.png",
                "The closest synthetic / real pairs (red frame: near-copy)")
    near = [p for p in closest if p["near_copy"]]
    if near:
        images.append("near_copies.png")
        more = f" (first {_MAX_GRID_PAIRS} of {len(near)})" if len(near) > _MAX_GRID_PAIRS else ""
        _plot_pairs(near, real_by_id, synth_by_id, lo, hi, out_dir / "near_copies.png",
                    f"Near-copies{more}: synthetic above, its nearest real image below")
    images.append("intensity_histograms.png")
    _plot_intensities(real, synthetic, out_dir / "intensity_histograms.png")
    metrics["files"] = images + ["report.html", "metrics.json"]
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    (out_dir / "report.html").write_text(_html(metrics, images), encoding="utf-8")
    return metrics["files"]
