"""lesiongan on BraTS: train the painter on the Dice suite's 30 BraTS training slices (drawn by
case, ``dice_gain_setup.draw_by_case``; brats-val for its best-by-val weights) and draw a sample
grid per modality: each row a recipient training slice and its painted version, each modality
(FLAIR, T1, T1ce, T2) side by side, with the new lesion's labels (1 blue, 2 green, 4 red).

    python benchmarks/lesiongan_brats.py --epochs 30 --out benchmarks/results/lesiongan/brats
    python benchmarks/lesiongan_brats.py --epochs 30 --model-out /tmp/lesiongan-brats  # keep the model
    python benchmarks/lesiongan_brats.py --model /tmp/lesiongan-brats   # grid and scores of a saved one

Writes samples_by_modality.png, results.json (settings, history, timing, provenance) and
regions.md: on validation crops (each brats-val lesion in its own place, painted from its
surroundings), the real and painted mean of each region in each modality, and the contrasts
between regions that tell necrosis, oedema and enhancing tumour apart (real vs painted)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dice_gain_setup import DATA, DRAW_SEED, PROFILES, draw_by_case, rel  # noqa: E402

MODALITIES = ("FLAIR", "T1", "T1ce", "T2")
LABEL_COLOURS = {1: (0.2, 0.4, 1.0), 2: (0.2, 0.9, 0.2), 4: (1.0, 0.2, 0.2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--profile", default="cpu", help="lesiongan profile")
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/lesiongan/brats"))
    ap.add_argument("--model-out", type=Path, help="also save the trained model here")
    ap.add_argument("--model", type=Path, help="a saved lesiongan to load instead of training one")
    args = ap.parse_args(argv)

    from augkit.evaluate.provenance import provenance
    from augkit.io import read_dataset
    from augkit.registry.host import get_generator

    read = PROFILES["brats"].read_options
    train_all = read_dataset(DATA / "brats", **read)
    train = [train_all.samples[i] for i in draw_by_case(train_all.samples, PROFILES["brats"].draw_slices, DRAW_SEED)]
    val = read_dataset(DATA / "brats-val", **read).samples
    started = time.perf_counter()
    if args.model:
        gen = get_generator("lesiongan").load(args.model)
        seconds = None
    else:
        gen = get_generator("lesiongan")(args.profile, seed=args.seed)
        gen.fit(train, val_samples=val, epochs=args.epochs, seed=args.seed, progress=False)
        seconds = time.perf_counter() - started
    if args.model_out:
        gen.save(args.model_out)
    made, shown = [], []
    # recipients spread over the training cases (the drawn slices are in case order)
    recipients = [train[j] for j in np.linspace(0, len(train) - 1, 3 * args.rows).round().astype(int)]
    for i, sample in enumerate(gen.generate(len(recipients), seed=args.seed + 1, conditions=recipients)):
        if sample.provenance.params.get("placed"):
            made.append(sample)
            shown.append(recipients[i])
        if len(made) == args.rows:
            break
    args.out.mkdir(parents=True, exist_ok=True)
    profile = gen.get_config().get("profile", args.profile)
    grid(shown, made, args.out / "samples_by_modality.png", f"{gen.epochs_trained} epochs ({profile} profile)")
    regions = [region_means(r, m) for r, m in zip(shown, made)]
    contrasts = validation_regions(gen, val)
    (args.out / "regions.md").write_text(regions_md(contrasts, gen.epochs_trained))
    (args.out / "results.json").write_text(json.dumps({
        "command": "python benchmarks/lesiongan_brats.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "provenance": provenance(),
        "train": {"folder": rel(DATA / "brats"), "slices": [s.id for s in train], "draw_seed": DRAW_SEED},
        "val": {"folder": rel(DATA / "brats-val"), "num_slices": len(val)},
        "profile": profile, "epochs": gen.epochs_trained, "config": gen.get_config(),
        "lesion_labels": list(gen.spec.lesion_labels), "checkpoint_hash": gen.checkpoint_hash,
        "history": {k: [float(v) for v in vs] for k, vs in gen.history.items()},
        "train_seconds": None if seconds is None else round(seconds, 1),
        "loaded_from": str(args.model) if args.model else None,
        "validation_regions": contrasts,
        "painted_region_means": regions,
        "shown": [{"recipient": r.id, **{k: v for k, v in m.provenance.params.items()
                                          if k in ("donor_id", "placed", "window", "painted_pixels")}}
                  for r, m in zip(shown, made)],
    }, indent=1, default=str))
    print(f"lesiongan on BraTS: {gen.epochs_trained} epochs; grid and regions in {args.out}")
    return 0


LABELS = {1: 1 / 3, 2: 2 / 3, 4: 1.0}  # the painter's level of each BraTS label (CropSpec.lesion_map)
CONTRASTS = (("T1ce", 4, 2), ("T1ce", 4, 1), ("FLAIR", 2, 1), ("T2", 2, 1))


def validation_regions(gen, val) -> dict:
    """Each brats-val lesion cut as in training (one crop each, fixed draws), painted from its
    surroundings; per label and modality the real and painted mean in the network's units
    (each slice scaled by its own range), and per contrast (modality, label a - label b) the
    mean over crops holding both, real and painted, with their correlation over crops."""
    x, y = gen._crops(gen._lesions(val), np.random.default_rng(0), per_lesion=1)
    fake = np.concatenate([np.asarray(gen._infer_fn(x[i:i + 8])) for i in range(0, len(x), 8)])
    c = y.shape[-1]
    level = x[..., c + 1]
    out = {"num_crops": len(x), "region_l1": round(gen._region_l1(x, y), 4), "per_image": gen.spec.per_image,
           "means": {}, "contrasts": []}
    for label, v in LABELS.items():
        sel = np.isclose(level, v, atol=0.05)
        out["means"][label] = {m: [round(float(y[..., k][sel].mean()), 3), round(float(fake[..., k][sel].mean()), 3)]
                               for k, m in enumerate(MODALITIES)}
    for modality, a, b in CONTRASTS:
        k = MODALITIES.index(modality)
        real, painted = [], []
        for i in range(len(x)):
            sa, sb = np.isclose(level[i], LABELS[a], atol=0.05), np.isclose(level[i], LABELS[b], atol=0.05)
            if sa.sum() >= 20 and sb.sum() >= 20:
                real.append(y[i, ..., k][sa].mean() - y[i, ..., k][sb].mean())
                painted.append(fake[i, ..., k][sa].mean() - fake[i, ..., k][sb].mean())
        if not real:
            continue  # no validation crop holds both regions
        out["contrasts"].append({"modality": modality, "labels": [a, b], "num_crops": len(real),
                                 "real": round(float(np.mean(real)), 3), "painted": round(float(np.mean(painted)), 3),
                                 "correlation": round(float(np.corrcoef(real, painted)[0, 1]), 2)
                                 if len(real) > 2 else None})
    return out


def regions_md(r: dict, epochs: int) -> str:
    lines = [f"# lesiongan on BraTS ({epochs} epochs): are the regions painted apart?", "",
             f"{r['num_crops']} validation crops (every brats-val lesion once, in its own place, painted from its "
             f"surroundings); network units ("
             + ("each slice scaled to [-1, 1] by its own range" if r["per_image"] else
                "one range for the whole training set, as the model was trained")
             + f"); region L1 "
             f"{r['region_l1']}.", "", "| label | " + " | ".join(f"{m} real | {m} painted" for m in MODALITIES) + " |",
             "|---|" + "---:|" * (2 * len(MODALITIES))]
    for label, per in r["means"].items():
        lines.append(f"| {label} | " + " | ".join(f"{per[m][0]:+.3f} | {per[m][1]:+.3f}" for m in MODALITIES) + " |")
    lines += ["", "| contrast | crops | real | painted | painted / real | correlation over crops |",
              "|---|---:|---:|---:|---:|---:|"]
    for c in r["contrasts"]:
        lines.append(f"| {c['modality']} label {c['labels'][0]} − label {c['labels'][1]} | {c['num_crops']} | "
                     f"{c['real']:+.3f} | {c['painted']:+.3f} | "
                     + (f"{c['painted'] / c['real']:.2f}" if c["real"] else "–") + " | "
                     + (f"{c['correlation']:+.2f}" if c["correlation"] is not None else "–") + " |")
    return "\n".join(lines) + "\n"


def region_means(recipient, made) -> dict:
    """Per new-lesion label, the painted mean of each modality (raw units): does each region get
    its own intensity?"""
    new = made.mask != recipient.mask
    return {int(v): [round(float(made.image[..., c][new & (made.mask == v)].mean()), 1) for c in range(4)]
            for v in np.unique(made.mask[new]) if v > 0}


def _show(image: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip((image.astype(np.float32) - lo) / max(hi - lo, 1e-6), 0, 1)


def grid(recipients, made, path: Path, trained: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = len(made)
    fig, axes = plt.subplots(rows, 9, figsize=(18, 2.1 * rows), squeeze=False)
    for r, (rec, new) in enumerate(zip(recipients, made)):
        lesion = new.mask != rec.mask
        ys, xs = np.nonzero(lesion)
        cy, cx = int(ys.mean()), int(xs.mean())
        h = 48  # a crop around the new lesion, so the painting is visible
        y0, x0 = int(np.clip(cy - h, 0, rec.mask.shape[0] - 2 * h)), int(np.clip(cx - h, 0, rec.mask.shape[1] - 2 * h))
        sl = (slice(y0, y0 + 2 * h), slice(x0, x0 + 2 * h))
        for m, name in enumerate(MODALITIES):
            lo, hi = np.percentile(rec.image[..., m], (1, 99.5))
            for j, (img, tag) in enumerate(((rec.image, "real"), (new.image, "painted"))):
                ax = axes[r][2 * m + j]
                ax.imshow(_show(img[..., m][sl], lo, hi), cmap="gray")
                if j == 1:
                    ax.contour(lesion[sl], levels=[0.5], colors="yellow", linewidths=0.5)
                ax.set_xticks([]), ax.set_yticks([])
                if r == 0:
                    ax.set_title(f"{name} {tag}", fontsize=9)
        ax = axes[r][8]
        labels = np.zeros((*lesion[sl].shape, 3))
        for v, colour in LABEL_COLOURS.items():
            labels[(new.mask[sl] == v) & lesion[sl]] = colour
        ax.imshow(labels)
        ax.set_xticks([]), ax.set_yticks([])
        if r == 0:
            ax.set_title("new lesion labels\n1 blue, 2 green, 4 red", fontsize=9)
        axes[r][0].set_ylabel(rec.id.split("/")[-1], fontsize=7)
    fig.suptitle(f"lesiongan on BraTS, {trained}: recipient training slice vs painted, "
                 "per modality (96 px crop around the new lesion; yellow: its outline)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
