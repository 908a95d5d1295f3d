"""Train pix2pix on the 30 LGG slices and check what it paints.

    python benchmarks/pix2pix_train.py --profile cpu

Trains on ../shared/data/lgg/train30 (validation: lgg/val), saves the model to
/work/models/pix2pix_<profile>_lgg, and writes under benchmarks/results/pix2pix/:
``grid_<profile>.png`` (val masks painted beside the real slice, and geometric variants of the
masks painted), ``losses_<profile>.png``,
``history_<profile>.csv`` and ``train_<profile>.json`` (timings and the FLAIR check: mean FLAIR
inside each mask vs a 10 px ring around it, synthetic vs real). ``--paper-steps N`` also times N
training steps of the ``paper`` profile.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "../shared/data/lgg"
FLAIR = 1  # LGG channels: pre-contrast T1, FLAIR, post-contrast T1


def read_pairs(root: Path):
    """LGG image/mask pairs as Samples: augkit.io once it reads this layout, else tifffile."""
    from augkit import Provenance, Sample
    from augkit.errors import AugkitError

    try:
        from augkit.io import read_dataset

        return list(read_dataset(root).samples), "augkit.io.read_dataset"
    except AugkitError:
        import tifffile

        samples = []
        for mask_path in sorted(root.rglob("*_mask.tif")):
            image_path = mask_path.with_name(mask_path.name.replace("_mask.tif", ".tif"))
            samples.append(Sample(tifffile.imread(image_path), Provenance(image_path.stem),
                                  mask=tifffile.imread(mask_path),
                                  meta={"source_files": [str(image_path), str(mask_path)]}))
        return samples, "tifffile (augkit.io has no reader for this layout yet)"


def ring(mask: np.ndarray, width: int = 10) -> np.ndarray:
    from scipy.ndimage import binary_dilation

    inside = mask > 0
    return binary_dilation(inside, iterations=width) & ~inside


def flair_contrast(images, masks) -> dict:
    inside, around = [], []
    for image, mask in zip(images, masks):
        m, r = mask > 0, ring(mask)
        if m.any() and r.any():
            inside.append(float(image[..., FLAIR][m].mean()))
            around.append(float(image[..., FLAIR][r].mean()))
    inside, around = np.array(inside), np.array(around)
    return {"mean_inside": round(float(inside.mean()), 2), "mean_ring": round(float(around.mean()), 2),
            "ratio_inside_over_ring": round(float(inside.mean() / around.mean()), 3),
            "fraction_slices_brighter_inside": round(float((inside > around).mean()), 3),
            "num_slices": int(len(inside))}


def time_paper(steps: int) -> dict:
    from augkit_pix2pix.profiles import get_profile

    import keras

    from augkit.generators.training import DiffAugment
    from augkit_pix2pix.model import PatchDiscriminator, Pix2PixGAN, UNetGenerator

    p = get_profile("paper")
    g = UNetGenerator(size=p.size, num_classes=2, num_channels=3, widths=p.generator_widths)
    d = PatchDiscriminator(widths=p.discriminator_widths)
    gan = Pix2PixGAN(g, d, diff_augment=DiffAugment())
    gan.compile(keras.optimizers.Adam(p.learning_rate, beta_1=p.beta_1),
                keras.optimizers.Adam(p.learning_rate, beta_1=p.beta_1))
    rng = np.random.default_rng(0)
    cond = np.eye(2, dtype=np.float32)[rng.integers(0, 2, (p.batch_size, 256, 256))]
    image = rng.uniform(-1, 1, (p.batch_size, 256, 256, 3)).astype(np.float32)
    gan.train_on_batch(cond, image)  # trace
    started = time.perf_counter()
    for _ in range(steps):
        gan.train_on_batch(cond, image)
    per_step = (time.perf_counter() - started) / steps
    return {"seconds_per_step": round(per_step, 2), "batch_size": p.batch_size, "steps_timed": steps,
            "generator_params": int(g.count_params()), "discriminator_params": int(d.count_params()),
            "estimated_seconds_per_epoch_30_slices": round(per_step * 30 / p.batch_size, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="profile override, e.g. --set l1_weight=50 (JSON value)")
    ap.add_argument("--results", type=Path, default=REPO / "benchmarks/results/pix2pix")
    ap.add_argument("--model-dir", type=Path, default=None)
    ap.add_argument("--checkpoint-dir", type=Path, default=None)
    ap.add_argument("--paper-steps", type=int, default=0)
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)

    from augkit.generators.training import save_image_grid, write_history
    from augkit_pix2pix.generator import PLOTTED, Pix2Pix

    overrides = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    model_dir = args.model_dir or Path(f"/work/models/pix2pix_{args.profile}_lgg")
    ckpt_dir = args.checkpoint_dir or Path(f"/work/models/pix2pix_{args.profile}_lgg.checkpoints")
    args.results.mkdir(parents=True, exist_ok=True)

    train, reader = read_pairs(DATA / "train30")
    val, _ = read_pairs(DATA / "val")
    print(f"train {len(train)} / val {len(val)} pairs via {reader}", file=sys.stderr)

    model = Pix2Pix(args.profile, seed=args.seed, **overrides)
    load_before = os.getloadavg()
    started, cpu_started = time.perf_counter(), time.process_time()
    history = model.fit(train, val_samples=val, epochs=args.epochs, seed=args.seed,
                        checkpoint_dir=ckpt_dir, progress=not args.no_progress)
    total, cpu_total = time.perf_counter() - started, time.process_time() - cpu_started
    load_after = os.getloadavg()
    model.save(model_dir)

    tag = args.profile
    write_history(model.history, args.results / f"history_{tag}.csv",
                  args.results / f"losses_{tag}.png", plot_keys=PLOTTED,
                  title=f"pix2pix {tag} on LGG train30")

    # paint every val mask, and a geometric variant of it (the label-preserving use: a new mask
    # made from a real one gets an image), then compare with the real slices
    from augkit.transforms.pipeline import ClassicalPipeline

    masks = [s.mask for s in val]
    started_gen = time.perf_counter()
    synth = [s.image for s in model.generate(len(val), seed=1, conditions=masks)]
    gen_seconds = time.perf_counter() - started_gen
    geometric = ClassicalPipeline().geometric_only()
    variants = [geometric.apply(s.image, s.mask, seed=1000 + i)[1] for i, s in enumerate(val)]
    synth_variant = [s.image for s in model.generate(len(val), seed=1, conditions=variants)]
    real = [s.image for s in val]
    check = {"synthetic": flair_contrast(synth, masks),
             "synthetic_from_variant_masks": flair_contrast(synth_variant, variants),
             "real": flair_contrast(real, masks)}
    check["passed"] = all(check[k]["mean_inside"] > check[k]["mean_ring"]
                          for k in ("synthetic", "synthetic_from_variant_masks"))

    picks = np.linspace(0, len(val) - 1, 8).astype(int)
    rows = [[masks[i], synth[i], real[i], variants[i], synth_variant[i]] for i in picks]
    save_image_grid(args.results / f"grid_{tag}.png", rows,
                    column_titles=["val mask", "pix2pix", "real slice", "mask, new geometry",
                                   "pix2pix"],
                    title=f"pix2pix {tag}: LGG val masks (unseen patients) painted; "
                          "channels T1/FLAIR/T1c as RGB", cell_inches=1.5)

    seconds = history.get("seconds", [])
    report = {
        "profile": tag, "overrides": overrides, "settings": model.profile.__dict__,
        "data": {"train": len(train), "val": len(val), "reader": reader},
        "epochs": model.epochs_trained,
        "seconds_total_fit_call": round(total, 1),
        "seconds_training_all_epochs": round(float(np.sum(seconds)), 1),
        "seconds_per_epoch_mean": round(float(np.mean(seconds)), 2) if seconds else None,
        "seconds_per_epoch_median": round(float(np.median(seconds)), 2) if seconds else None,
        # the 2 cores are shared: CPU seconds / cores is what the run costs on an idle machine
        "cpu_seconds_fit_call": round(cpu_total, 1),
        "load_average_1min_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "best_val_l1": model._best.loss if model._best and model._best.epoch else None,
        "best_epoch": model._best.epoch if model._best else None,
        "final_val_l1": history.get("val_l1", [None])[-1],
        "generate_seconds_per_image_256px": round(gen_seconds / len(val), 4),
        "checkpoint_hash": model.checkpoint_hash,
        "model_dir": str(model_dir),
        "flair_check": check,
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version()},
    }
    if args.paper_steps:
        report["paper_profile_timing"] = time_paper(args.paper_steps)
    from augkit.evaluate.provenance import provenance
    report["provenance"] = provenance()  # the code, packages and machine of this result
    (args.results / f"train_{tag}.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: report[k] for k in ("epochs", "seconds_training_all_epochs",
                                              "seconds_per_epoch_mean", "flair_check")}, indent=1))
    return 0 if check["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
