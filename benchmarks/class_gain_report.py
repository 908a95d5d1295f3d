"""Report of ``class_gain.py``: markdown tables, plots and per-class sample grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def fmt_ci(ci) -> str:
    return "–" if ci is None else f"[{ci[0]:+.3f}, {ci[1]:+.3f}]"


def fmt_range(ci) -> str:
    return "–" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def write_grids(generated, real, classes, out: Path, *, num_generated: int = 24, num_real: int = 8):
    """One PNG per class: ``num_generated`` generated samples (3 rows) above ``num_real`` real
    training images of that class (1 row), and one PNG with the classes side by side."""
    from augkit.generators.training import save_image_grid

    for c in classes:
        gen = [s.image for s in generated if s.label == c][:num_generated]
        reals = [s.image for s in real if s.label == c][:num_real]
        rows = [gen[i:i + 8] for i in range(0, len(gen), 8)] + [reals]
        save_image_grid(out / f"samples_{c}.png", rows,
                        title=f"class {c}: rows 1-3 generated (dcgan), row 4 real train100")


def write_flip_grid(generator, classes, out: Path, *, num: int = 8, seed: int = 77):
    """The same ``num`` latent vectors painted as each class, one row per class."""
    from augkit.generators.training import save_image_grid

    rows = [[s.image for s in generator.generate(num, seed=seed, conditions=[c])] for c in classes]
    save_image_grid(out / "class_flip.png", rows,
                    title="same latent vector per column; rows: " + ", ".join(map(str, classes)))


def _condition_rows(summary: dict, reference: str = "classical") -> list[str]:
    lines = ["| condition | test AUC | 95 % t (seeds) | test accuracy | 95 % t (seeds) | val AUC | "
             f"Δ AUC vs {reference} [t; bootstrap] | Δ accuracy vs {reference} [t; bootstrap] |",
             "|---|---:|---|---:|---|---:|---|---|"]
    for name, e in summary.items():
        d = e.get("vs_" + reference)
        if d is None:
            da = dc = "–"
        else:
            a, c = d["test_auc"], d["test_accuracy"]
            da = f"{a['mean']:+.3f} {fmt_ci(a['t_interval_95'])}; {fmt_ci(a['bootstrap_95_test_images'])}"
            dc = f"{c['mean']:+.3f} {fmt_ci(c['t_interval_95'])}; {fmt_ci(c['bootstrap_95_test_images'])}"
        lines.append(f"| {name} | {e['test_auc']['mean']:.3f} | {fmt_range(e['test_auc']['t_interval_95'])} "
                     f"| {e['test_accuracy']['mean']:.3f} | {fmt_range(e['test_accuracy']['t_interval_95'])} "
                     f"| {e['val_auc']['mean']:.3f} | {da} | {dc} |")
    return lines


def write_markdown(results: dict, path: Path) -> None:
    s, f, g = results["settings"], results["fidelity"], results["gan"]
    lines = [
        "# Class gain: PneumoniaMNIST normal vs pneumonia, 28×28", "",
        f"Seeds {s['seeds']}; classifier {s['classifier']['steps']} steps, batch "
        f"{s['classifier']['batch_size']}, best-val-AUC checkpoint; training sets {s['times_reals']}× "
        f"the reals (classical preset `{s['classical_preset']}`). Chosen on val: mix "
        f"`{s['chosen_on_val']['mix']}`, generated share `{s['chosen_on_val']['gen_share']}`. "
        f"Run time {results['minutes']} min." + (" **Quick smoke run.**" if s["quick"] else ""), "",
        "## Generator", "",
        f"dcgan {g.get('config')}, trained on {g.get('trained_on', '?')} for {g.get('epochs', '?')} "
        f"epochs ({g.get('train_minutes', '?')} min); last epoch {g.get('last_epoch', {})}.", "",
        "## Class fidelity", "",
        f"Judge: a CNN trained on real train500 (best step {f['judge']['best_step']}, val AUC "
        f"{f['judge']['val_auc']:.3f}). Its accuracy on real test: {f['real_test']['accuracy']:.3f} "
        f"(AUC {f['real_test']['auc']:.3f}); on {f['generated']['num']} generated samples, named as "
        f"their asked class: **{f['generated']['accuracy']:.3f}** "
        f"(per class: {', '.join(f'{k} {v:.3f}' for k, v in f['generated']['per_class'].items())}).", "",
        f"Class flip vs new noise (64 latent vectors): a sample changes by "
        f"{f['flip_vs_noise']['class_flip_change']:.3f} when its class flips and by "
        f"{f['flip_vs_noise']['new_noise_change']:.3f} for a new latent vector (ratio "
        f"{f['flip_vs_noise']['ratio']:.2f}; mean absolute pixel change, [0, 1] units). Real "
        f"train100 for reference: image pairs of two classes differ by "
        f"{f['real_pair_change']['between_classes']:.3f}, pairs of one class by "
        f"{f['real_pair_change']['within_class']:.3f}: the class is a small part of the pixel "
        "variation, so a flip should change less than new noise; a generator that ignores its "
        "class changes by about 0 (the first dcgan design on LGG grades: 0.009 vs 0.099). "
        "`class_flip.png`: the same latent vectors under each class.", "",
        "Per class, generated vs real test in the judge's features (standardised), at matched size, "
        "against the real-vs-real floor (test images of the class split in halves, 20 splits):", "",
        "| class | Fréchet | floor | ratio | KID | KID floor ± sd | KID excess (floor sds) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c, d in f["distances_in_judge_features"].items():
        fr, k = d["frechet"], d["kid"]
        lines.append(f"| {c} | {fr['matched']:.2f} | {fr['floor']:.2f} | {fr['ratio']:.2f} | "
                     f"{k['matched']:.3f} | {k['floor']:.3f} ± {k['floor_std']:.3f} | {k['excess_sd']:.1f} |")
    for n, summary in results["summary"].items():
        lines += ["", f"## Test AUC / accuracy, train{n} ({n} real images)", "",
                  *_condition_rows(summary)]
    lines += ["", "Δ: paired by seed; t = 95 % t-interval over seeds; bootstrap = 95 % paired "
              "bootstrap over test images (1,000 resamples) of the seed-mean difference.", ""]
    path.write_text("\n".join(lines))


def write_plots(results: dict, out: Path) -> None:
    from matplotlib.figure import Figure

    from augkit.generators.training import _save_figure

    fig = Figure(figsize=(10, 4), dpi=100)
    axes = fig.subplots(1, 2)
    for ax, metric, label in ((axes[0], "test_auc", "test AUC"), (axes[1], "test_accuracy", "test accuracy")):
        summary = results["summary"]["100"]
        names = list(summary)
        means = [summary[n][metric]["mean"] for n in names]
        cis = [summary[n][metric]["t_interval_95"] for n in names]
        err = np.array([[m - c[0], c[1] - m] if c else [0, 0] for m, c in zip(means, cis)]).T
        ax.bar(range(len(names)), means, yerr=err, capsize=3, color="#7aa6c2")
        for i, n in enumerate(names):
            ax.scatter([i] * len(summary[n][metric]["per_seed"]), summary[n][metric]["per_seed"],
                       color="k", s=8, zorder=3)
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
        lows = [c[0] if c else m for m, c in zip(means, cis)]
        ax.set_ylim(max(0.0, min(lows) - 0.03), 1.0)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("train100: mean over seeds, 95 % t-interval, dots = seeds")
    fig.tight_layout()
    _save_figure(fig, out / "auc_by_condition.png")

    fig = Figure(figsize=(5, 4), dpi=100)
    ax = fig.subplots()
    names = [n for n in results["summary"]["500"] if n in results["summary"]["100"]]
    for n in names:
        ys = [results["summary"][k][n]["test_auc"]["mean"] for k in ("100", "500")]
        ax.plot([100, 500], ys, marker="o", label=n)
    ax.set_xlabel("real training images")
    ax.set_ylabel("test AUC (mean over seeds)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _save_figure(fig, out / "auc_vs_num_real.png")
