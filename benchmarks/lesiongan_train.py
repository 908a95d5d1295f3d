"""Train ``lesiongan`` (profile ``cpu`` by default) on LGG train30 with lgg/val for best-by-val,
record the wall time and the machine's load, and draw a sample grid: for a few output indices
as ``expand`` makes them (the classical variant of a real parent as recipient), the recipient,
the donor with its lesion outlined, the painted result, the result with the new mask outlined
(the recipient's own lesion in yellow, the painted one in red), a close-up of the painted lesion
and, for comparison, lesionmix's transplant with the very same placement.

    python benchmarks/lesiongan_train.py train            # writes run.json, losses.png
    python benchmarks/lesiongan_train.py grid             # grid_train30.png from the saved model

The model is saved outside the repository (``--model``); only the pictures and JSON go into
``benchmarks/results/lesiongan/``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "../shared/data/lgg"


def train(args) -> None:
    from augkit.io import read_dataset
    from augkit.registry.host import get_generator

    train_set = read_dataset(DATA / "train30").samples
    val_set = read_dataset(DATA / "val").samples
    gen = get_generator("lesiongan")(args.profile, seed=args.seed)
    from augkit.generators.training import CheckpointManager

    done = [e for e, _ in CheckpointManager(args.model / "checkpoints")._epoch_dirs()]
    load_before = os.getloadavg()
    started = time.perf_counter()
    history = gen.fit(train_set, val_samples=val_set, seed=args.seed, progress=False,
                      checkpoint_dir=args.model / "checkpoints")
    seconds = time.perf_counter() - started
    load_after = os.getloadavg()
    gen.save(args.model / "model")
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.model / "checkpoints" / "losses.png", args.out / "losses.png")
    best = int(np.argmin(history["val_l1"])) + 1 if "val_l1" in history else None
    run = {"profile": args.profile, "seed": args.seed, "train": "lgg/train30", "val": "lgg/val",
           "epochs": gen.epochs_trained, "seconds": round(seconds, 1),
           "resumed_from_epoch": max(done) if done else None,
           "sum_of_epoch_seconds": round(float(np.sum(history["seconds"])), 1),
           "seconds_per_epoch": round(float(np.mean(history["seconds"])), 2),
           "load_average_before": [round(v, 2) for v in load_before],
           "load_average_after": [round(v, 2) for v in load_after], "cpu_count": os.cpu_count(),
           "best_val_epoch": best, "best_val_l1": round(float(min(history["val_l1"])), 4) if best else None,
           "last": {k: round(float(v[-1]), 4) for k, v in history.items()},
           "checkpoint_hash": gen.checkpoint_hash}
    from augkit.evaluate.provenance import provenance
    run["provenance"] = provenance()  # the code, packages and machine of this result
    (args.out / "run.json").write_text(json.dumps(run, indent=1) + "\n")
    print(json.dumps(run, indent=1))


def display(image: np.ndarray) -> np.ndarray:
    x = image.astype(np.float32)
    x = x[..., :3] if x.shape[-1] == 3 else np.repeat(x[..., :1], 3, axis=-1)
    top = 255.0 if image.dtype == np.uint8 else max(float(np.percentile(x, 99.5)), 1e-6)
    return np.clip(x / top, 0, 1)


def grid(args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from augkit.expand.plan import plan_parents
    from augkit.io import read_dataset
    from augkit.registry.host import get_generator
    from augkit.seeding import derive_seed, rng_for
    from augkit.transforms.pipeline import ClassicalPipeline
    from augkit_lesiongan.crops import foreground_range

    data = read_dataset(DATA / "train30")
    reals = {s.id: s for s in data.samples}
    gen = get_generator("lesiongan").load(args.model / "model")
    pipeline = ClassicalPipeline()
    parents = plan_parents(data, len(data) + args.num, False)
    fig, axes = plt.subplots(args.num, 6, figsize=(15, 2.6 * args.num), squeeze=False)
    report = []
    for row in range(args.num):
        index = len(data) + row
        parent = data.samples[parents[row]]
        seed = derive_seed(args.seed, index)
        recipient = pipeline(parent, seed=seed, new_id=f"{parent.id}_gan{index:05d}")
        image, mask, p = gen.paint(recipient, rng_for(seed, 0))
        mixed, _, _ = gen._placer.transplant(recipient, rng_for(seed, 0))  # same draws, same place
        ax = axes[row]
        for a in ax:
            a.set_axis_off()
        ax[0].imshow(display(recipient.image))
        ax[0].contour(recipient.mask > 0, levels=[0.5], colors="yellow", linewidths=0.7)
        ax[0].set_title(f"recipient {parent.id.split('/')[-1]}", fontsize=7)
        if not p["placed"]:
            ax[1].set_title("no room: unchanged", fontsize=7)
            continue
        donor = reals[p["donor_id"]]
        ax[1].imshow(display(donor.image))
        ax[1].contour(donor.mask > 0, levels=[0.5], colors="red", linewidths=0.7)
        ax[1].set_title(f"donor {p['donor_id'].split('/')[-1]}", fontsize=7)
        ax[2].imshow(display(image))
        ax[2].set_title("lesiongan", fontsize=7)
        new = mask != recipient.mask
        ax[3].imshow(display(image))
        ax[3].contour(recipient.mask > 0, levels=[0.5], colors="yellow", linewidths=0.7)
        ax[3].contour(new, levels=[0.5], colors="red", linewidths=0.7)
        ax[3].set_title("mask outline", fontsize=7)
        y, x, side = p["window"]
        for col, picture, name in ((4, image, "lesiongan close-up"), (5, mixed, "lesionmix, same place")):
            ax[col].imshow(display(picture[y:y + side, x:x + side]))
            ax[col].contour(new[y:y + side, x:x + side], levels=[0.5], colors="red", linewidths=0.5)
            ax[col].set_title(name, fontsize=7)
        low, high = foreground_range(recipient.image)
        pixels = image[new].astype(np.float32)
        report.append({"index": index, "recipient": parent.id, "donor": p["donor_id"],
                       "lesion_pixels": int(new.sum()), "painted_pixels": p["painted_pixels"],
                       "share_in_recipient_range": round(float(((pixels >= low) & (pixels <= high)).all(-1).mean()), 4),
                       "lesion_mean": [round(float(v), 1) for v in pixels.mean(0)],
                       "recipient_lesion_mean": [round(float(v), 1) for v in
                                                 recipient.image[recipient.mask > 0].astype(np.float32).mean(0)]
                       if (recipient.mask > 0).any() else None})
    fig.suptitle(f"lesiongan ({gen.get_config()['profile']}, {gen.epochs_trained} epochs) on LGG train30: "
                 "painted lesion (red) at a lesionmix placement; yellow = recipient's own lesion", fontsize=9)
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out / "grid_train30.png", dpi=args.dpi)
    from augkit.evaluate.provenance import provenance
    report["provenance"] = provenance()  # the code, packages and machine of this result
    (args.out / "grid_train30.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["train", "grid"])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--num", type=int, default=6)
    ap.add_argument("--dpi", type=int, default=80)
    ap.add_argument("--model", type=Path, default=Path("/tmp/lesiongan-cpu"))
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/lesiongan")
    args = ap.parse_args(argv)
    train(args) if args.command == "train" else grid(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
