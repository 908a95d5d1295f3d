"""Dice-gain benchmark: does growing a few real brain-MRI slices ×10 help a U-Net segment
patients it never saw, and does GAN data (pix2pix) add to classical transforms?

    python benchmarks/dice_gain.py --profile quick            # smoke run, ~3 minutes
    python benchmarks/dice_gain.py --profile cpu              # the reported run (< 60 min, 2 cores)
    python benchmarks/dice_gain.py --profile cpu --model /work/models/pix2pix_cpu_lgg
    python benchmarks/dice_gain.py --profile converge         # lesionmix vs classical, to convergence
    python benchmarks/dice_gain.py --profile converge --conditions classical+lesiongan@1 \
        --lesiongan-model /tmp/lesiongan-cpu/model --reference converge/results.json \
        --out benchmarks/results/dice_gain/converge/lesiongan   # only the painter trained
    python benchmarks/dice_gain.py --profile converge --finetune-steps 300 --schedule decay \
        --out benchmarks/results/dice_gain/converge_ft        # how the synthetic data is used

Conditions, each trained for the same number of optimizer steps at the same batch size (a
smaller set is cycled more), with the checkpoint of the best validation Dice kept:
  none           the real training slices only
  classical      reals + classical variants (rotations, shifts, scale, flips, brightness) to 10×
  gan            reals + pix2pix paintings of geometric variants of the real masks to 10×
  classical+gan  reals + half classical variants, half pix2pix paintings to 10×
and, at the largest number of real slices, two attempts to make the GAN data help:
  classical+gan@0.2  the same with only a fifth of the added samples from the GAN
  classical+lesion   half classical, half real images (same geometry as the new mask) with
                     only the lesion painted by pix2pix (``expand --gan-region lesion``)
With ``--profile converge``: none, classical and classical+lesionmix@f (a share f of the added
samples get a lesion transplanted from another training slice by the ``lesionmix`` plugin), every
run trained to convergence (1,500-2,000 steps, early stop on validation Dice); f in {0.5, 1} is
chosen on validation Dice at the first seed and only the winner runs at the other seeds; and
classical+lesiongan@1 (every added sample gets a lesion painted by the trained ``lesiongan``
plugin at a lesionmix placement; the share is lesionmix's winner on validation). How the
synthetic data is used: ``--schedule decay`` (synthetic share per batch falling to 0 over training)
and ``--finetune-steps N`` (pretrain on real + synthetic, fine-tune on real, as ``<condition>+ft``).
The GAN conditions go through ``augkit.engine.expand`` exactly as a user's ``augkit expand``
does; the expanded sets are written to a work folder and read back with ``read_dataset``.

Reported: Accuracy, Mean IoU and Dice on Train (the real slices trained on) / Val / Test as
mean ± std over seeds (seed 001's Table 1 layout); each condition's test-Dice difference to
``none`` and to ``classical``, paired by seed, with a 95 % t-interval over seeds and a 95 %
bootstrap interval over test patients; test Dice against the number of real slices (nested
subsets of train30 drawn with a fixed seed). Everything lands in ``--out``: results.json,
results.md, dice_by_condition.png, dice_vs_num_real.png, examples.png.

Finished runs are cached in ``--work``: a killed run started again with the same command
resumes where it stopped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling segmenter module

from augkit.evaluate.paired import mean_std, t_interval  # noqa: E402
from segmenter import (SegmenterConfig, count_params, scheduled_batch_indices, score,  # noqa: E402
                       to_arrays, train_segmenter)

REPO = Path(__file__).resolve().parents[1]
LGG = REPO / "../shared/data/lgg"
RESULTS = REPO / "benchmarks/results/dice_gain"
CONDITIONS = ("none", "classical", "gan", "classical+gan")
VARIANTS = ("classical+gan@0.2", "classical+lesion")  # tried to make the GAN help; largest set only
# Lesion transplant (the lesionmix plugin, no training): the share of added samples that get a
# donor's lesion. Which share is used for all seeds is chosen on validation Dice (first seed only).
LESION_CONDITIONS = ("classical+lesionmix@0.5", "classical+lesionmix@1")
# Local lesion painting (the lesiongan plugin, trained on the training reals, val for its
# best-by-val weights) at lesionmix's placements; the share is lesionmix's winner on validation.
LESIONGAN_CONDITIONS = ("classical+lesiongan@0.5", "classical+lesiongan@1")
# pix2pix conditioned on a tissue label map built from the real slice (head + k-means tissue
# classes + lesion) instead of the lesion mask alone; against classical+gan, chosen on val
TISSUE_CONDITIONS = ("classical+gan-tissue",)
ALL_CONDITIONS = CONDITIONS + VARIANTS + LESION_CONDITIONS + LESIONGAN_CONDITIONS + TISSUE_CONDITIONS
CURVE_CONDITIONS = ("none", "classical", "classical+gan")  # at fewer real slices
GAN_FRACTION = {"classical": 0.0, "gan": 1.0, "classical+gan": 0.5, "classical+gan@0.2": 0.2,
                "classical+lesion": 0.5, "classical+lesionmix@0.5": 0.5, "classical+lesionmix@1": 1.0,
                "classical+lesiongan@0.5": 0.5, "classical+lesiongan@1": 1.0, "classical+gan-tissue": 0.5}
GAN_REGION = {"classical+lesion": "lesion"}  # else "image": the GAN paints the whole slice
SUBSET_SEED = 20_240_601  # which reals make the 10- and 20-slice subsets (nested, fixed)
BOOTSTRAP_SEED = 7
NUM_BOOTSTRAP = 2000
RUN_VERSION = 2  # part of every cached run's key: bump when training or scoring changes


@dataclass(frozen=True)
class BenchProfile:
    name: str
    segmenter: SegmenterConfig
    gan_profile: str  # pix2pix profile trained when no --model is given
    gan_overrides: dict[str, Any] = field(default_factory=dict)
    seeds: tuple[int, ...] = (0, 1, 2)
    num_real: tuple[int, ...] = (10, 20, 30)
    expand_factor: int = 10
    subset_gan: str = "shared"  # "shared": the GAN trained on all reals; "retrain": one per subset
    out: Path = RESULTS
    note: str = ""
    conditions: tuple[str, ...] = CONDITIONS + VARIANTS  # run by default
    # groups of candidates; of each, only the one with the best validation Dice at the first
    # seed is run for the other seeds (a knob chosen on val, never on test)
    val_sweeps: tuple[tuple[str, ...], ...] = ()


PROFILES = {
    "quick": BenchProfile(
        "quick",
        SegmenterConfig(size=64, base_width=8, num_levels=3, batch_size=8, num_steps=120,
                        eval_every=40, batch_norm=False),
        gan_profile="tiny", gan_overrides={"size": 64, "epochs": 2},
        seeds=(0,), subset_gan="retrain", out=RESULTS / "quick",
        note="smoke run: 64 px, tiny networks, 120 steps, 1 seed; it checks the plumbing, its numbers mean nothing",
    ),
    "cpu": BenchProfile(
        "cpu",
        # No batch norm: it cost 55 % more time per step on the 2-core machine (0.40 s vs
        # 0.26 s at batch 8) and the plain U-Net (as in Ronneberger et al.) trains fine at 1e-3.
        # Base width 8 (0.12 s/step on a quiet 2-core machine; width 16: 0.29 s) buys the time
        # for 300 steps, a GAN per subset and the two GAN variants inside 60 minutes.
        SegmenterConfig(size=128, base_width=8, num_levels=4, batch_size=8, num_steps=300,
                        eval_every=25, batch_norm=False),
        gan_profile="cpu",
        subset_gan="retrain",
        note="128 px, sized to finish in 60 minutes on 2 CPU cores, GAN training included",
    ),
    "converge": BenchProfile(
        "converge",
        # The cpu profile's 300 steps stop before classical transforms show what they are worth
        # (1,000 steps lifted classical from 0.505 to 0.585 test Dice in an earlier check), so
        # every condition trains to convergence: at least 1,500 steps, then on until validation
        # Dice has not improved for 300 steps (at most 2,000); the best-validation weights kept.
        SegmenterConfig(size=128, base_width=8, num_levels=4, batch_size=8, num_steps=2000,
                        eval_every=50, batch_norm=False, min_steps=1500, patience_steps=300),
        gan_profile="cpu", num_real=(30,), out=RESULTS / "converge",
        conditions=("none", "classical") + LESION_CONDITIONS + LESIONGAN_CONDITIONS
        + ("classical+gan",) + TISSUE_CONDITIONS,
        val_sweeps=(LESION_CONDITIONS, LESIONGAN_CONDITIONS, ("classical+gan",) + TISSUE_CONDITIONS),
        note="128 px, every condition trained to convergence (1,500-2,000 steps, early stop on "
             "validation Dice); lesion transplant (lesionmix), lesion painting (lesiongan) and "
             "whole-slice pix2pix (mask or tissue map) against classical transforms",
    ),
    "paper": BenchProfile(
        "paper",
        # Seed 001: U-Net trained 50 epochs on the 300-slice set at 256×256. Batch size is not
        # given there; 8 → 50 × 300 / 8 = 1875 steps, checked once per 300 samples (an epoch).
        SegmenterConfig(size=256, base_width=64, num_levels=4, batch_size=8, num_steps=1875,
                        eval_every=38, batch_norm=False),
        gan_profile="paper", subset_gan="retrain", out=RESULTS / "paper",
        note="seed 001's resolution and schedule; needs a GPU",
    ),
}


# --------------------------------------------------------------------------- small helpers
def log(message: str) -> None:
    print(f"[dice_gain {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rel(path: Path) -> str:
    """A path as the repository sees it (../shared/data/...), so results read the same anywhere."""
    import os

    return os.path.relpath(Path(path).resolve(), REPO)


def fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def patient_of(sample) -> str:
    """The patient a slice belongs to: the case folder (LGG, BraTS) or the id without its
    trailing slice number."""
    sid = sample.id
    if "/" in sid:
        return sid.split("/")[0]
    return re.sub(r"[_-]?\d+$", "", sid) or sid


def check_segmentation(dataset, role: str) -> None:
    from augkit.errors import DataError

    if len(dataset) == 0:
        raise DataError(dataset.root, f"the {role} folder holds no samples", "give a folder of image/mask pairs")
    missing = [s.id for s in dataset.samples if s.mask is None]
    if missing:
        raise DataError(dataset.root, f"{len(missing)} {role} samples have no mask (first: {missing[0]!r})",
                        "pair every image with a mask")


def subset_indices(num_train: int, num_real: int) -> list[int]:
    """Nested subsets: the first ``num_real`` of one fixed permutation."""
    from augkit.seeding import rng_for

    return sorted(int(i) for i in rng_for(SUBSET_SEED).permutation(num_train)[:num_real])


# --------------------------------------------------------------------------- GAN
def get_gan(args, profile: BenchProfile, train_samples, val_samples, num_real: int, work: Path,
            gan_info: dict, label_map: str = "mask") -> Any:
    """The pix2pix model for a training set: ``--model`` for the full set (mask conditioning),
    else trained here (and cached in the work folder, so a rerun loads it)."""
    from augkit.plugins import get_generator

    pix2pix = get_generator("pix2pix")
    full = num_real == args.num_train
    key = num_real if label_map == "mask" else f"{label_map}-{num_real}"
    if full and args.model and label_map == "mask":
        model = pix2pix.load(args.model)
        gan_info[key] = {"source": f"loaded from {args.model}", "checkpoint_hash": model.checkpoint_hash,
                              "config": model.get_config(), "epochs_trained": model.epochs_trained,
                              "train_seconds": None}
        return model
    overrides = {**profile.gan_overrides, **({"label_map": label_map} if label_map != "mask" else {})}
    untrained = pix2pix(profile=profile.gan_profile, seed=args.gan_seed, **overrides)
    settings = {"config": untrained.get_config(), "resolved": getattr(untrained, "profile", None),
                "train": [s.id for s in train_samples], "val": [s.id for s in val_samples]}
    folder = work / "gan" / f"{'' if label_map == 'mask' else label_map + '-'}n{num_real}-{fingerprint(settings)}"
    if (folder / "model" / "config.json").exists():
        model = pix2pix.load(folder / "model")
        info = json.loads((folder / "info.json").read_text())
        log(f"pix2pix for {num_real} real slices loaded from {folder}")
    else:
        log(f"training pix2pix ({profile.gan_profile} profile, label map {label_map}) on {num_real} real slices ...")
        started = time.perf_counter()
        model = untrained
        model.fit(train_samples, val_samples=val_samples, seed=args.gan_seed,
                  checkpoint_dir=folder / "checkpoints", progress=args.progress)
        model.save(folder / "model")
        info = {"source": "trained by this benchmark", "checkpoint_hash": model.checkpoint_hash,
                "config": model.get_config(), "epochs_trained": model.epochs_trained,
                "train_seconds": round(time.perf_counter() - started, 1),
                "best_val_l1": min(model.history.get("val_l1", [float("nan")]))}
        (folder / "info.json").write_text(json.dumps(info, indent=1))
        log(f"pix2pix trained in {info['train_seconds']:.0f} s")
    gan_info[key] = {**info, "trained_on_num_real": num_real, "folder": str(folder)}
    return model


def get_lesionmix(train_samples, num_real: int, gan_info: dict):
    """The lesionmix 'model': the training reals' lesions carved once (no training, no other data)."""
    from augkit.plugins import get_generator

    started = time.perf_counter()
    model = get_generator("lesionmix")()
    model.fit(train_samples, progress=False)
    gan_info[f"lesionmix-{num_real}"] = {
        "source": "lesionmix fitted here on the training reals", "checkpoint_hash": model.checkpoint_hash,
        "config": model.get_config(), "epochs_trained": 0, "settings": repr(model.settings),
        "train_seconds": round(time.perf_counter() - started, 2)}
    return model


def get_lesiongan(args, train_samples, val_samples, num_real: int, work: Path, gan_info: dict):
    """The lesiongan painter: ``--lesiongan-model`` for the full set, else its cpu profile trained
    here on the training reals (val for its best-by-val weights), cached in the work folder."""
    from augkit.plugins import get_generator

    cls = get_generator("lesiongan")
    if num_real == args.num_train and args.lesiongan_model:
        model = cls.load(args.lesiongan_model)
        info = {"source": f"loaded from {args.lesiongan_model}", "train_seconds": None}
    else:
        untrained = cls("cpu", seed=args.gan_seed)
        settings = {"config": untrained.get_config(), "train": [s.id for s in train_samples],
                    "val": [s.id for s in val_samples]}
        folder = work / "gan" / f"lesiongan-n{num_real}-{fingerprint(settings)}"
        if (folder / "model" / "config.json").exists():
            model = cls.load(folder / "model")
            info = json.loads((folder / "info.json").read_text())
        else:
            log(f"training lesiongan (cpu profile) on {num_real} real slices ...")
            started = time.perf_counter()
            model = untrained
            model.fit(train_samples, val_samples=val_samples, seed=args.gan_seed,
                      checkpoint_dir=folder / "checkpoints", progress=args.progress)
            model.save(folder / "model")
            info = {"source": "trained by this benchmark", "train_seconds": round(time.perf_counter() - started, 1)}
            (folder / "info.json").write_text(json.dumps(info, indent=1))
    gan_info[f"lesiongan-{num_real}"] = {**info, "checkpoint_hash": model.checkpoint_hash,
                                         "config": model.get_config(), "epochs_trained": model.epochs_trained,
                                         "best_val_l1": min(model.history.get("val_l1", [float("nan")]))}
    return model


# --------------------------------------------------------------------------- data per condition
def training_samples(args, profile: BenchProfile, condition: str, num_real: int, seed: int,
                     subset, gan, work: Path) -> tuple[list, str]:
    """The samples a condition trains on, and the folder they came from."""
    from augkit.engine import expand
    from augkit.io import read_dataset
    from augkit.transforms import ClassicalPipeline

    if condition == "none":
        return list(subset.samples), str(subset.root)
    target = profile.expand_factor * num_real
    pipeline = ClassicalPipeline()
    generator = None if condition == "classical" else gan
    region = GAN_REGION.get(condition, "image")
    key = {"condition": condition, "gan_region": region, "num_real": num_real, "seed": seed, "target": target,
           "reals": [s.id for s in subset.samples], "transforms": pipeline.get_config(),
           "gan": None if generator is None else generator.checkpoint_hash}
    out_dir = work / "data" / f"n{num_real}-{condition.replace('+', '_')}-s{seed}-{fingerprint(key)}"
    if not (out_dir / "manifest.csv").exists():
        expand(subset.root, target, out_dir, seed=seed, pipeline=pipeline, generator=generator,
               gan_fraction=GAN_FRACTION[condition], progress=False, dataset=subset, overwrite=True,
               gan_region=region)
    samples = read_dataset(out_dir).samples
    if len(samples) != target:
        raise RuntimeError(f"{out_dir}: expected {target} samples after expand, read {len(samples)}")
    return samples, str(out_dir)


# --------------------------------------------------------------------------- one run
def run_one(args, profile: BenchProfile, condition: str, num_real: int, seed: int, subset, gan,
            val_xy, splits: dict, work: Path) -> dict:
    cfg = profile.segmenter
    started, cpu_started = time.perf_counter(), time.process_time()
    samples, folder = training_samples(args, profile, condition, num_real, seed, subset, gan, work)
    key = {"version": RUN_VERSION, "condition": condition, "num_real": num_real, "seed": seed,
           "segmenter": cfg.to_dict(),
           "train": folder, "reals": [s.id for s in subset.samples],
           "val": [s.id for s in splits["val"]], "test": [s.id for s in splits["test"]],
           "gan": None if condition in ("none", "classical") else gan.checkpoint_hash}
    # how the synthetic data is used; only non-default choices enter the key (old caches stay valid)
    scheduled = args.schedule != "fixed" and condition not in ("none", "classical")
    if scheduled:
        key["schedule"] = args.schedule
    if args.finetune_steps and condition not in ("none", "classical"):
        key["finetune_steps"] = args.finetune_steps
    cache = work / "runs" / f"n{num_real}-{condition.replace('+', '_')}-s{seed}-{fingerprint(key)}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    x, y = to_arrays(samples, cfg.size)
    batches = None
    if scheduled:
        from augkit.seeding import derive_seed

        # "decay": the synthetic share of each batch falls linearly from twice its share of the
        # set to 0 at the last step (the same share on average as "fixed", front-loaded)
        synthetic = np.array([_source(s) == "gan" for s in samples])
        start = 2.0 * synthetic.mean()
        batches = scheduled_batch_indices(synthetic, cfg.batch_size, cfg.num_steps, derive_seed(seed, 2),
                                          lambda t: start * (1.0 - t / cfg.num_steps))
    result = train_segmenter(x, y, cfg, seed=seed, val=val_xy, progress=args.progress,
                             desc=f"unet n={num_real} {condition} s{seed}", batches=batches)
    scores = {"train": score(result.model, subset.samples, cfg),
              "val": score(result.model, splits["val"], cfg),
              "test": score(result.model, splits["test"], cfg)}
    for split in ("train", "val"):
        scores[split].pop("per_slice_dice")  # only test slices are bootstrapped
    record = {"condition": condition, "num_real": num_real, "seed": seed,
              "num_train_samples": len(samples),
              **mix_of(folder, len(samples)),
              "best_step": result.best_step, "best_val_dice_at_network_size": result.best_val_dice,
              "seconds": round(result.seconds, 1), "history": result.history, "scores": scores,
              "num_params": count_params(result.model)}
    if "finetune_steps" in key:
        record["finetuned"] = finetune(args, cfg, result.model, condition, num_real, seed, subset, val_xy, splits)
    record["wall_seconds"] = round(time.perf_counter() - started, 1)  # expand + train + score
    record["cpu_seconds"] = round(time.process_time() - cpu_started, 1)  # all threads; load-independent
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(record))
    import keras

    keras.backend.clear_session()  # 30 models in one process: free the graphs of the last one
    return record


FINETUNED = "+ft"  # suffix of a condition pretrained on its own data, then fine-tuned on the reals


def finetune(args, cfg: SegmenterConfig, model, condition: str, num_real: int, seed: int, subset,
             val_xy, splits: dict) -> dict:
    """Pretrain on real + synthetic (done), fine-tune on the real slices alone: ``--finetune-steps``
    more steps from the pretrained best weights, the best validation Dice kept (the pretrained
    weights included). Reported as the condition ``<condition>+ft``."""
    import dataclasses

    from augkit.seeding import derive_seed

    ft_cfg = dataclasses.replace(cfg, num_steps=args.finetune_steps, min_steps=0, patience_steps=None,
                                 eval_every=min(cfg.eval_every, args.finetune_steps))
    cpu_started = time.process_time()
    x, y = to_arrays(subset.samples, cfg.size)
    result = train_segmenter(x, y, ft_cfg, seed=derive_seed(seed, 3), val=val_xy, progress=args.progress,
                             desc=f"fine-tune n={num_real} {condition} s{seed}", init_weights=model.get_weights())
    scores = {"train": score(result.model, subset.samples, cfg), "val": score(result.model, splits["val"], cfg),
              "test": score(result.model, splits["test"], cfg)}
    for split in ("train", "val"):
        scores[split].pop("per_slice_dice")
    return {"condition": condition + FINETUNED, "num_real": num_real, "seed": seed,
            "num_train_samples": len(subset.samples), "sources": {"real": len(subset.samples)},
            "parents_by_added_kinds": {}, "best_step": result.best_step,
            "best_val_dice_at_network_size": result.best_val_dice, "seconds": round(result.seconds, 1),
            "history": result.history, "scores": scores, "num_params": count_params(result.model),
            "wall_seconds": round(result.seconds, 1),
            "cpu_seconds": round(time.process_time() - cpu_started, 1)}


def mix_of(folder: str, num_samples: int) -> dict:
    """Sources in an expanded set (from its manifest) and how the added samples fall on the real
    parents: does each real slice get both classical and GAN variants, or only one kind?"""
    from augkit.engine import read_manifest

    manifest = Path(folder) / "manifest.csv"
    if not manifest.exists():
        return {"sources": {"real": num_samples}, "parents_by_added_kinds": {}}
    rows = read_manifest(manifest)
    kinds: dict[str, set] = {}
    for row in rows:
        if row["source"] != "real":
            kinds.setdefault(row["parent_id"], set()).add(row["source"])
    by_kinds: dict[str, int] = {}
    for found in kinds.values():
        name = " + ".join(sorted(found))
        by_kinds[name] = by_kinds.get(name, 0) + 1
    sources: dict[str, int] = {}
    for row in rows:
        sources[row["source"]] = sources.get(row["source"], 0) + 1
    return {"sources": sources, "parents_by_added_kinds": by_kinds}


def _source(sample) -> str:
    if re.search(r"_gan\d+$", sample.id):
        return "gan"
    if re.search(r"_aug\d+$", sample.id):
        return "classical"
    return "real"


# --------------------------------------------------------------------------- statistics
def patient_bootstrap(diffs: np.ndarray, patients: list[str]) -> dict:
    from augkit.evaluate.paired import patient_bootstrap as bootstrap

    return bootstrap(diffs, patients, num_resamples=NUM_BOOTSTRAP, seed=BOOTSTRAP_SEED)


def summarise(runs: list[dict], patients: list[str]) -> dict:
    by = {}
    for r in runs:
        by.setdefault((r["num_real"], r["condition"]), {})[r["seed"]] = r
    table = {}
    for (k, cond), seeds in sorted(by.items()):
        table.setdefault(str(k), {})[cond] = {
            split: {m: mean_std([seeds[s]["scores"][split][m] for s in sorted(seeds)])
                    for m in ("accuracy", "mean_iou", "dice")}
            for split in ("train", "val", "test")}
    differences = []
    order = {c: i for i, c in enumerate(ALL_CONDITIONS + tuple(c + FINETUNED for c in ALL_CONDITIONS))}
    for (k, cond), seeds in sorted(by.items(), key=lambda kv: (kv[0][0], order[kv[0][1]])):
        for ref in ("none", "classical"):
            if order[cond] <= order[ref] or (k, ref) not in by:
                continue
            common = sorted(set(seeds) & set(by[(k, ref)]))
            a = np.array([seeds[s]["scores"]["test"]["per_slice_dice"] for s in common])
            b = np.array([by[(k, ref)][s]["scores"]["test"]["per_slice_dice"] for s in common])
            per_seed = (a - b).mean(1)
            val_diff = [seeds[s]["scores"]["val"]["dice"] - by[(k, ref)][s]["scores"]["val"]["dice"]
                        for s in common]
            differences.append({
                "num_real": k, "condition": cond, "reference": ref, "seeds": common,
                "test_dice_diff_per_seed": [float(d) for d in per_seed],
                "test_dice_diff_mean": float(per_seed.mean()),
                "t_interval_95_over_seeds": t_interval(per_seed),
                "bootstrap_95_over_test_patients": patient_bootstrap(a - b, patients),
                "val_dice_diff_mean": float(np.mean(val_diff)),
            })
    return {"table": table, "differences": differences}


# --------------------------------------------------------------------------- report
def fmt(ms: dict) -> str:
    return f"{ms['mean']:.3f} ± {ms['std']:.3f}"


def fmt_ci(ci) -> str:
    return "n/a (1 seed)" if ci is None else f"[{ci[0]:+.3f}, {ci[1]:+.3f}]"


def write_markdown(results: dict, path: Path) -> None:
    s, p = results["summary"], results["settings"]
    k_main = str(max(int(k) for k in s["table"]))
    seeds = p["seeds"]
    conds = [c for c in CONDITIONS if c in s["table"][k_main]]
    selections = as_selections(p)
    seg = p["segmenter"]
    steps_text = (f"same {seg['num_steps']} Adam steps" if not seg.get("patience_steps") else
                  f"{seg['min_steps']}–{seg['num_steps']} Adam steps (early stop on validation Dice)")
    lines = [f"# Dice gain on real brain MRI (LGG FLAIR): profile `{p['profile']}`", ""]
    if p.get("note"):
        lines += [f"_{p['note']}._", ""]
    lines += [
        f"U-Net trained on {k_main} real slices from {results['data']['train']['num_patients']} "
        f"patients, grown ×{p['expand_factor']} "
        f"per condition; {steps_text} of batch "
        f"{p['segmenter']['batch_size']} for every condition; the checkpoint of best validation Dice "
        f"kept. Mean ± std over {len(seeds)} seed(s) {seeds}. Train = the real slices trained on; "
        f"Val = {results['data']['val']['num_slices']} slices / {results['data']['val']['num_patients']} "
        f"patients (model selection only); Test = {results['data']['test']['num_slices']} slices / "
        f"{results['data']['test']['num_patients']} unseen patients. Scores are per-slice means at "
        "256×256 (probabilities resized back, threshold 0.5).", "",
        f"## Table 1: {k_main} real slices (seed 001's layout)", "",
        "| Metric | " + " | ".join(f"{c} {sp}" for c in conds for sp in ("Train", "Val", "Test")) + " |",
        "|---|" + "---:|" * (3 * len(conds)),
    ]
    for metric, label in (("accuracy", "Accuracy"), ("mean_iou", "Mean IoU"), ("dice", "Dice")):
        cells = [fmt(s["table"][k_main][c][sp][metric]) for c in conds for sp in ("train", "val", "test")]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    variants = [c for c in VARIANTS + LESION_CONDITIONS + LESIONGAN_CONDITIONS + TISSUE_CONDITIONS
                if c in s["table"][k_main]]
    variants += [c + FINETUNED for c in ALL_CONDITIONS if c + FINETUNED in s["table"][k_main]]
    if variants:
        lines += ["", f"## Trying to make generated data help ({k_main} real slices)", ""]
        if any(c in VARIANTS for c in variants):
            lines += ["`classical+gan@0.2`: a fifth instead of half of the added samples from pix2pix. "
                      "`classical+lesion`: half of the added samples are the real slice under the new "
                      "mask's geometry with only the lesion (grown by 2 % of the side, feathered over 3 %) "
                      "painted by pix2pix (`augkit expand --gan-region lesion`), so the anatomy stays real.", ""]
        if any(c in LESION_CONDITIONS for c in variants):
            lines += ["`classical+lesionmix@f`: a share f of the added samples are a classical variant of a "
                      "real slice with a lesion carved from another training slice (random margin, own "
                      "rotation/scale/flip/elastic and intensity jitter, intensities matched to the "
                      "recipient brain, feathered edge) placed at a new position inside the recipient's "
                      "brain (`augkit expand --generator lesionmix --gan-fraction f`); the rest are "
                      "classical variants. No training; donors are the training slices only.", ""]
        if any(c in LESIONGAN_CONDITIONS for c in variants):
            lines += ["`classical+lesiongan@f`: a share f of the added samples are a classical variant of a "
                      "real slice with a lesion painted by the trained `lesiongan` plugin (a conditional GAN "
                      "on crops around the training lesions, best weights by validation L1) at a lesionmix "
                      "placement: a donor's lesion shape carved, jittered and placed inside the recipient's "
                      "brain, the crop around it painted and blended in with a feathered edge.", ""]
        if any(c in TISSUE_CONDITIONS for c in variants):
            lines += ["`classical+gan-tissue`: as `classical+gan` (half of the added samples from pix2pix), "
                      "but pix2pix is conditioned on a tissue label map built from the real slice's classical "
                      "variant (outside the head / 3 k-means intensity classes of the head / lesion; "
                      "`augkit train --generator pix2pix --set label_map=tissue`) instead of the lesion mask "
                      "alone, so it repaints real anatomy rather than inventing an average brain.", ""]
        for sel in selections:
            lines += [f"Chosen on validation only ({sel['rule']}): "
                      + ", ".join(f"`{c}` val Dice {v:.3f}" for c, v in sel["val_dice_at_first_seed"].items())
                      + f" → **`{sel['chosen']}`** run at every seed; the other candidate has one seed, so "
                      "no t-interval.", ""]
        if any(c.endswith(FINETUNED) for c in variants):
            lines += [f"`…{FINETUNED}`: the same run, then fine-tuned on the real slices alone for "
                      f"{p.get('finetune_steps')} steps from its best weights (best validation Dice kept, the "
                      "starting weights included): pretrain on real + synthetic, fine-tune on real.", ""]
        if p.get("schedule", "fixed") != "fixed":
            lines += [f"Synthetic share per batch: `{p['schedule']}` (falls linearly from twice the set's "
                      "synthetic share to 0 at the last step; the same on average).", ""]
        lines += ["| condition | seeds | Train Dice | Val Dice | Test Dice | Δ test vs classical [95 % t, seeds] "
                  "| 95 % bootstrap (test patients) |", "|---|---:|---:|---:|---:|---|---|"]
        for c in [c for c in ("classical", "classical+gan") + tuple(variants) if c in s["table"][k_main]]:
            row = s["table"][k_main][c]
            d = next((d for d in s["differences"] if d["num_real"] == int(k_main) and d["condition"] == c
                      and d["reference"] == "classical"), None)
            delta = "–" if d is None else f"{d['test_dice_diff_mean']:+.3f} {fmt_ci(d['t_interval_95_over_seeds'])}"
            boot = "–" if d is None else fmt_ci(d["bootstrap_95_over_test_patients"]["seed_mean"])
            lines.append(f"| {c} | {len(row['test']['dice']['values'])} | {fmt(row['train']['dice'])} | "
                         f"{fmt(row['val']['dice'])} | {fmt(row['test']['dice'])} | {delta} | {boot} |")
    lines += ["", "Seed 001 reported (30 → 300, their own U-Net and 25 test images): Dice 0.27 / 0.25 / "
              "0.25 without and 0.71 / 0.60 / 0.66 with augmentation (Train / Val / Test).", "",
              "## Test Dice differences, paired by seed", "",
              "Δ = condition − reference, mean over seeds of the per-slice mean test Dice difference. "
              "**t-interval**: 95 % over seeds (Student t, n − 1 df; captures training randomness, "
              "wide with 3 seeds). **Bootstrap**: 95 % percentile interval of the seed-averaged Δ "
              f"over {NUM_BOOTSTRAP} resamples of the test patients (slices move with their patient; "
              "captures test-set sampling, not training randomness); the per-seed column gives each "
              "seed's Δ with its own patient-bootstrap interval.", "",
              "| real slices | condition | reference | Δ test Dice | 95 % t-interval (seeds) | "
              "95 % bootstrap (test patients) | Δ per seed [its patient bootstrap] | Δ val Dice |",
              "|---:|---|---|---:|---|---|---|---:|"]
    for d in s["differences"]:
        per_seed = "; ".join(f"{v:+.3f} {fmt_ci(ci)}" for v, ci in zip(
            d["test_dice_diff_per_seed"], d["bootstrap_95_over_test_patients"]["per_seed"]))
        lines.append(f"| {d['num_real']} | {d['condition']} | {d['reference']} | "
                     f"{d['test_dice_diff_mean']:+.3f} | {fmt_ci(d['t_interval_95_over_seeds'])} | "
                     f"{fmt_ci(d['bootstrap_95_over_test_patients']['seed_mean'])} | {per_seed} | "
                     f"{d['val_dice_diff_mean']:+.3f} |")
    ks = sorted(int(k) for k in s["table"])
    curve_conds = [c for c in CONDITIONS if any(c in s["table"][str(k)] for k in ks)]
    lines += ["", "## Test Dice against the number of real training slices", "",
              f"Nested subsets of the training set (fixed seed {SUBSET_SEED}); each grown ×"
              f"{p['expand_factor']}. GAN used for fewer slices: "
              + ("one pix2pix trained on each subset (no information from the left-out slices)."
                 if p["subset_gan"] == "retrain" else
                 f"**the one pix2pix trained on all {k_main} slices** (a GAN per subset did not fit the "
                 f"time budget), so at fewer slices the GAN conditions see the other slices through "
                 "the generator: read those rows as an upper bound."), "",
              "| real slices | " + " | ".join(curve_conds) + " |", "|---:|" + "---:|" * len(curve_conds)]
    for k in ks:
        cells = [fmt(s["table"][str(k)][c]["test"]["dice"]) if c in s["table"][str(k)] else "–"
                 for c in curve_conds]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    mixes = [(r["num_real"], r["seed"], r["parents_by_added_kinds"]) for r in results["runs"]
             if r["condition"] == "classical+gan"]
    if any(len(m) > 1 for _, _, m in mixes):
        k, seed, m = next((k, seed, m) for k, seed, m in mixes if len(m) > 1)
        lines += ["", f"Note on `classical+gan`: `expand` gave each real slice only one kind of added "
                  f"sample ({k} reals, seed {seed}: {json.dumps(m)} real parents by the kinds added), "
                  "because its classical/GAN interleaving (every other index) lines up with its "
                  "parent cycling (index mod number of reals) when the number of reals is even. "
                  "The condition is the half/half mix a user gets from `augkit expand "
                  "--gan-fraction 0.5` today."]
    seg, unet, tm = p["segmenter"], results["unet"], results["timing"]
    gan_lines = [f"  - {k} real slices: {g['source']}, checkpoint {g['checkpoint_hash']}, config "
                 f"{json.dumps(g['config'])}, epochs {g['epochs_trained']}"
                 + (f", trained in {g['train_seconds']:.0f} s" if g.get("train_seconds") else "")
                 for k, g in sorted(results["gan"].items(), key=lambda kv: str(kv[0]))]
    lines += ["", "## Settings", "",
              f"- Segmenter: {unet['description']}; {unet['num_params']:,} parameters. Input "
              f"{seg['size']}×{seg['size']}, loss {seg['loss']}, Adam lr {seg['learning_rate']}, "
              f"batch {seg['batch_size']}, {seg['num_steps']} steps, validation Dice every "
              f"{seg['eval_every']} steps (best kept), weights and batch order seeded by the run seed"
              + (f"; early stop once the best validation Dice is {seg['patience_steps']} steps old, not "
                 f"before step {seg['min_steps']} (steps run: "
                 + ", ".join(f"{r['condition']} s{r['seed']} {r['history'].get('stopped_at', [r['history']['step'][-1]])[0]}"
                             for r in results["runs"]) + ")" if seg.get("patience_steps") else "") + ".",
              f"- Classical transforms (`augkit.transforms.ClassicalPipeline()` default): "
              f"{json.dumps(p['transforms'])}",
              "- Generators (pix2pix: mask → image, masks are geometric variants of real masks; "
              "lesionmix: lesion transplant, nothing trained):", *gan_lines,
              f"- GAN share of the added samples per condition: {json.dumps(p.get('gan_fractions', GAN_FRACTION))}; "
              f"GAN region: {json.dumps(GAN_REGION)} (else the whole image).",
              f"- Wall time: {tm['total_seconds'] / 60:.1f} min in all ({tm['gan_train_seconds'] / 60:.1f} "
              f"min of it training pix2pix); per segmenter run {tm['mean_run_seconds']:.0f} s on average "
              f"(expand + train + score; {tm['mean_run_train_seconds']:.0f} s training, "
              f"{tm['mean_run_cpu_seconds']:.0f} CPU-seconds); {results['machine']}, load average at the "
              f"end {tm['load_average_at_end'][0]:.1f}.",
              f"- Command: `{results['command']}`", ""]
    path.write_text("\n".join(lines))


def plot(results: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = results["summary"]["table"]
    k_main = str(max(int(k) for k in s))
    conds = [c for c in ALL_CONDITIONS if c in s[k_main]]
    colors = {"none": "#7f7f7f", "classical": "#1f77b4", "gan": "#d62728", "classical+gan": "#9467bd",
              "classical+gan@0.2": "#e377c2", "classical+lesion": "#2ca02c",
              "classical+lesionmix@0.5": "#ff7f0e", "classical+lesionmix@1": "#8c564b",
              "classical+lesiongan@1": "#bcbd22"}
    fig, ax = plt.subplots(figsize=(8, 4.2))
    width = 0.8 / len(conds)
    for j, split in enumerate(("train", "val", "test")):
        for i, c in enumerate(conds):
            ms = s[k_main][c][split]["dice"]
            xpos = j + (i - (len(conds) - 1) / 2) * width
            ax.bar(xpos, ms["mean"], width * 0.9, yerr=ms["std"], color=colors.get(c, "#17becf"), capsize=3,
                   label=c if j == 0 else None, alpha=0.85)
            ax.scatter([xpos] * len(ms["values"]), ms["values"], s=10, color="k", zorder=3)
            if split == "test":
                ax.text(xpos, ms["mean"] + ms["std"] + 0.01, f"{ms['mean']:.2f}", ha="center", fontsize=7)
    ax.set_xticks(range(3), [f"Train ({k_main} real)", "Val", "Test (unseen patients)"])
    ax.set_ylabel("Dice (mean over slices)")
    ax.set_ylim(0, 1)
    ax.set_title(f"U-Net Dice by training data, {k_main} real slices ×{results['settings']['expand_factor']} "
                 f"(bars: mean ± std, dots: {len(results['settings']['seeds'])} seeds)", fontsize=9)
    ax.legend(fontsize=7, ncol=3, loc="upper center")
    fig.tight_layout()
    fig.savefig(out / "dice_by_condition.png", dpi=110)
    plt.close(fig)

    ks = sorted(int(k) for k in s)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for c in CONDITIONS:
        pts = [(k, s[str(k)][c]["test"]["dice"]) for k in ks if c in s[str(k)]]
        if pts:
            a1.errorbar([k for k, _ in pts], [m["mean"] for _, m in pts], yerr=[m["std"] for _, m in pts],
                        marker="o", capsize=3, color=colors[c], label=c)
    a1.set_xlabel("real training slices")
    a1.set_ylabel("test Dice")
    a1.set_xticks(ks)
    a1.set_title("test Dice (mean ± std over seeds)", fontsize=9)
    a1.legend(fontsize=8)
    for i, c in enumerate(c for c in CONDITIONS if c != "none"):
        ds = [d for d in results["summary"]["differences"] if d["condition"] == c and d["reference"] == "none"]
        if not ds:
            continue
        xs = np.array([d["num_real"] for d in ds]) + (i - 1) * 0.6
        means = np.array([d["test_dice_diff_mean"] for d in ds])
        cis = [d["t_interval_95_over_seeds"] or d["bootstrap_95_over_test_patients"]["seed_mean"] for d in ds]
        err = np.array([[m - lo for m, (lo, _) in zip(means, cis)], [hi - m for m, (_, hi) in zip(means, cis)]])
        a2.errorbar(xs, means, yerr=err, marker="o", capsize=3, color=colors[c], label=c, linestyle="none")
    a2.axhline(0, color="k", lw=0.8)
    a2.set_xlabel("real training slices")
    a2.set_ylabel("Δ test Dice vs none")
    a2.set_xticks(ks)
    ci_kind = "t-interval over seeds" if len(results["settings"]["seeds"]) > 1 else "patient bootstrap"
    a2.set_title(f"gain over real-only (95 % {ci_kind})", fontsize=9)
    if a2.get_legend_handles_labels()[0]:
        a2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "dice_vs_num_real.png", dpi=110)
    plt.close(fig)


def plot_examples(examples: dict[str, list], out: Path) -> None:
    """A few training samples per source with the mask outlined: is the GAN data plausible?"""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(name, samples) for name, samples in examples.items() if samples]
    if not rows:
        return
    num_cols = max(len(s) for _, s in rows)
    fig, axes = plt.subplots(len(rows), num_cols, figsize=(2 * num_cols, 2.1 * len(rows)), squeeze=False)
    for r, (name, samples) in enumerate(rows):
        for c in range(num_cols):
            ax = axes[r][c]
            ax.axis("off")
            if c >= len(samples):
                continue
            image = samples[c].image
            shown = image if image.shape[-1] == 3 else image[..., 0]
            if shown.dtype != np.uint8:
                shown = shown.astype(float) / max(float(np.percentile(shown, 99.5)), 1e-6)
            ax.imshow(np.clip(shown, 0, 255 if shown.dtype == np.uint8 else 1), cmap="gray")
            ax.contour(samples[c].mask > 0, levels=[0.5], colors="yellow", linewidths=0.6)
            if c == 0:
                ax.set_title(name, fontsize=8, loc="left")
    fig.tight_layout()
    fig.savefig(out / "examples.png", dpi=80)
    plt.close(fig)


# --------------------------------------------------------------------------- main
def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--train", type=Path, default=LGG / "train30", help="training folder (any augkit format)")
    ap.add_argument("--val", type=Path, default=LGG / "val", help="validation folder: model selection only")
    ap.add_argument("--test", type=Path, default=LGG / "test", help="test folder: reported only")
    ap.add_argument("--profile", choices=sorted(PROFILES), default="cpu")
    ap.add_argument("--quick", action="store_const", const="quick", dest="profile",
                    help="same as --profile quick")
    ap.add_argument("--seeds", type=int, nargs="+", help="run seeds (default: the profile's)")
    ap.add_argument("--num-real", type=int, nargs="+", help="real-slice counts for the curve "
                    "(default 10 20 30; the largest gets all four conditions)")
    ap.add_argument("--conditions", nargs="+", choices=ALL_CONDITIONS,
                    help="conditions to run (default: the profile's; for timing one condition)")
    ap.add_argument("--model", type=Path, help="a trained pix2pix folder (else one is trained here)")
    ap.add_argument("--gan-seed", type=int, default=0, help="seed of the pix2pix trained here")
    ap.add_argument("--lesiongan-model", type=Path, help="a trained lesiongan folder (else one is trained here)")
    ap.add_argument("--reference", type=Path, help="an earlier results.json of the same profile: its runs of "
                    "conditions not run now join the report (same seeds, data and segmenter required)")
    ap.add_argument("--subset-gan", choices=("shared", "retrain"),
                    help="GAN for fewer real slices: the full-set one, or one trained per subset "
                         "(default: the profile's)")
    ap.add_argument("--out", type=Path, help="results folder (default benchmarks/results/dice_gain, "
                    "or its quick/ or paper/ sub-folder)")
    ap.add_argument("--work", type=Path, help="cache of expanded sets, GANs and finished runs "
                    "(default /tmp/augkit-dice-gain/<profile>)")
    ap.add_argument("--schedule", choices=("fixed", "decay"), default="fixed",
                    help="synthetic share per batch: as in the set (fixed), or falling linearly from "
                         "twice that to 0 over training (decay)")
    ap.add_argument("--finetune-steps", type=int, default=0,
                    help="also report every condition with synthetic data pretrained on it and then "
                         "fine-tuned on the real slices alone for this many steps (as <condition>+ft)")
    ap.add_argument("--progress", action="store_true", help="show progress bars while training")
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite results.md and the plots in --out from its results.json (no training)")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    profile = PROFILES[args.profile]
    seeds = tuple(args.seeds or profile.seeds)
    subset_gan = args.subset_gan or profile.subset_gan
    out = args.out or profile.out
    args.conditions = args.conditions or list(profile.conditions)
    work = args.work or Path("/tmp/augkit-dice-gain") / profile.name
    out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        results = json.loads((out / "results.json").read_text())
        write_markdown(results, out / "results.md")
        plot(results, out)
        return 0
    work.mkdir(parents=True, exist_ok=True)

    from augkit.errors import AugkitError
    from augkit.io import Dataset, read_dataset
    from augkit.transforms import ClassicalPipeline

    try:
        train = read_dataset(args.train)
        splits = {"val": read_dataset(args.val).samples, "test": read_dataset(args.test).samples}
        for ds, role in ((train, "training"), (read_dataset(args.val), "validation")):
            check_segmentation(ds, role)
    except AugkitError as exc:
        print(f"dice_gain: {exc}", file=sys.stderr)
        return 2
    args.num_train = len(train)
    num_real = sorted(set(args.num_real or [k for k in profile.num_real if k <= len(train)] or [len(train)]))
    if num_real[-1] > len(train) or num_real[0] < 2:
        print(f"dice_gain: --num-real must be within 2..{len(train)} (the training folder "
              f"{args.train} has {len(train)} samples). Received: {num_real}", file=sys.stderr)
        return 2
    k_main = num_real[-1]
    test_patients = [patient_of(s) for s in splits["test"]]
    log(f"profile {profile.name}: train {len(train)} ({train.format}), val {len(splits['val'])}, "
        f"test {len(splits['test'])} slices / {len(set(test_patients))} patients; seeds {list(seeds)}; "
        f"real slices {num_real}")

    cfg = profile.segmenter
    val_xy = to_arrays(splits["val"], cfg.size)
    plan = [(k, c, s) for k in reversed(num_real) for c in (ALL_CONDITIONS if k == k_main else CURVE_CONDITIONS)
            for s in seeds if c in args.conditions]
    sweeps = [g for g in ([c for c in group if c in args.conditions] for group in profile.val_sweeps)
              if len(g) > 1]
    if sweeps:
        # the candidates run at the first seed only; the winner on validation joins the later seeds
        swept = {c for g in sweeps for c in g}
        plan = [(k, c, s) for k, c, s in plan if c not in swept or s == seeds[0]]
        plan.sort(key=lambda r: seeds.index(r[2]))
    selections: list[dict[str, Any]] = []
    gans: dict[Any, Any] = {}
    gan_info: dict[Any, dict] = {}
    runs, examples = [], {}
    run_started = time.perf_counter()
    n = 0
    while n < len(plan):
        k, condition, seed = plan[n]
        n += 1
        idx = list(range(len(train))) if k == len(train) else subset_indices(len(train), k)
        subset = Dataset(root=train.root, format=train.format, samples=[train.samples[i] for i in idx],
                         options=train.options)
        gan = None
        if "lesiongan" in condition:
            if ("lesiongan", k) not in gans:
                gans[("lesiongan", k)] = get_lesiongan(args, subset.samples, splits["val"], k, work, gan_info)
            gan = gans[("lesiongan", k)]
        elif "lesionmix" in condition:
            if ("lesionmix", k) not in gans:
                gans[("lesionmix", k)] = get_lesionmix(subset.samples, k, gan_info)
            gan = gans[("lesionmix", k)]
        elif condition in GAN_FRACTION and condition != "classical":
            gan_k = k if subset_gan == "retrain" else k_main
            label_map = "tissue" if condition in TISSUE_CONDITIONS else "mask"
            if (label_map, gan_k) not in gans:
                if gan_k == len(train):
                    gan_subset = train.samples
                else:
                    gan_subset = [train.samples[i] for i in subset_indices(len(train), gan_k)]
                gans[(label_map, gan_k)] = get_gan(args, profile, gan_subset, splits["val"], gan_k, work,
                                                   gan_info, label_map)
            gan = gans[(label_map, gan_k)]
        t0 = time.perf_counter()
        record = run_one(args, profile, condition, k, seed, subset, gan, val_xy, splits, work)
        record["gan_trained_on_num_real"] = None if gan is None else (k if subset_gan == "retrain" else k_main)
        runs.append(record)
        if "finetuned" in record:
            runs.append({**record.pop("finetuned"), "gan_trained_on_num_real": record["gan_trained_on_num_real"]})
        if k == k_main and seed == seeds[0] and condition != "none":
            picked = _example_samples(args, profile, condition, k, seed, subset, gan, work)
            examples.setdefault("real", picked["real"])
            examples[condition] = picked["added"]
        done = time.perf_counter() - run_started
        eta = done / n * (len(plan) - n)
        log(f"[{n}/{len(plan)}] n={k} {condition:<13} seed {seed}: test Dice "
            f"{record['scores']['test']['dice']:.3f} (val {record['scores']['val']['dice']:.3f}, best step "
            f"{record['best_step']}, {time.perf_counter() - t0:.0f} s); about {eta / 60:.1f} min left")
        for sweep in sweeps:
            done_sweep = [r for r in runs if r["condition"] in sweep and r["seed"] == seeds[0]
                          and r["num_real"] == k_main]
            if any(x["candidates"] == sweep for x in selections) or len(done_sweep) < len(sweep):
                continue
            val = {r["condition"]: r["scores"]["val"]["dice"] for r in done_sweep}
            chosen = max(sweep, key=lambda c: val[c])  # validation only; ties go to the first
            selections.append({"candidates": sweep, "val_dice_at_first_seed": val, "chosen": chosen,
                               "rule": f"highest validation Dice at seed {seeds[0]}; only the chosen one "
                                       "is run at the other seeds"})
            log(f"chosen on validation: {chosen} ({json.dumps(val)})")
            plan += [(k_main, chosen, s) for s in seeds[1:]]
            plan[n:] = sorted(plan[n:], key=lambda r: (seeds.index(r[2]), ALL_CONDITIONS.index(r[1])))

    if args.reference:
        runs = reference_runs(args, profile, seeds, splits) + runs
        gan_info = {**json.loads(args.reference.read_text()).get("gan", {}), **gan_info}
        selections = selections or as_selections(json.loads(args.reference.read_text())["settings"])

    import keras

    probe = __import__("segmenter").build_unet(cfg, train.samples[0].image.shape[-1], seed=0)
    results = {
        "command": "python benchmarks/dice_gain.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPU cores, Keras "
                   f"{keras.__version__} ({keras.backend.backend()})",
        "settings": {"profile": profile.name, "note": profile.note, "seeds": list(seeds), "num_real": num_real,
                     "expand_factor": profile.expand_factor, "gan_fractions": GAN_FRACTION,
                     "gan_regions": GAN_REGION,
                     "subset_gan": subset_gan, "subset_seed": SUBSET_SEED, "segmenter": cfg.to_dict(),
                     "transforms": ClassicalPipeline().get_config()["transforms"],
                     "gan_profile": profile.gan_profile, "gan_overrides": profile.gan_overrides,
                     "val_selections": selections, "schedule": args.schedule,
                     "finetune_steps": args.finetune_steps,
                     "model_selection": "best validation Dice (per-slice mean at network size), "
                                        f"checked every {cfg.eval_every} steps and at the end",
                     "train_split_scored": "the real slices trained on (not the augmented ones)"},
        "unet": {"description": f"U-Net, {cfg.num_levels} down-sampling levels (two 3×3 conv + ReLU"
                                f"{' + batch norm' if cfg.batch_norm else ''} each, 2×2 max-pool), widths "
                                f"{[cfg.base_width * 2 ** i for i in range(cfg.num_levels + 1)]}, "
                                "2×2 transposed-conv up-sampling with skip concatenation, 1×1 conv to one "
                                "logit per pixel",
                 "num_params": count_params(probe)},
        "data": {"train": {"folder": rel(args.train), "format": train.format, "num_slices": len(train),
                           "num_patients": len({patient_of(s) for s in train.samples}),
                           "subsets": {str(k): [train.samples[i].id for i in
                                                (range(len(train)) if k == len(train) else subset_indices(len(train), k))]
                                       for k in num_real}},
                 "val": {"folder": rel(args.val), "num_slices": len(splits["val"]),
                         "num_patients": len({patient_of(s) for s in splits["val"]})},
                 "test": {"folder": rel(args.test), "num_slices": len(splits["test"]),
                          "num_patients": len(set(test_patients)), "slice_ids": [s.id for s in splits["test"]]}},
        "gan": {str(k): v for k, v in gan_info.items()},
        "runs": runs,
        "summary": summarise(runs, test_patients),
        "timing": {"total_seconds": round(time.perf_counter() - started, 1),
                   "gan_train_seconds": sum(g.get("train_seconds") or 0 for g in gan_info.values()),
                   "mean_run_seconds": float(np.mean([r["wall_seconds"] for r in runs])),
                   "mean_run_train_seconds": float(np.mean([r["seconds"] for r in runs])),
                   "mean_run_cpu_seconds": float(np.mean([r["cpu_seconds"] for r in runs])),
                   "load_average_at_end": list(__import__("os").getloadavg())},
    }
    (out / "results.json").write_text(json.dumps(results, indent=1))
    write_markdown(results, out / "results.md")
    plot(results, out)
    plot_examples(examples, out)
    log(f"done in {results['timing']['total_seconds'] / 60:.1f} min; results in {out}")
    return 0


def as_selections(settings: dict) -> list[dict]:
    """The val choices of a results.json: a list (``val_selections``), or one dict in older files."""
    if "val_selections" in settings:
        return list(settings["val_selections"])
    return [settings["val_selection"]] if settings.get("val_selection") else []


def reference_runs(args, profile: BenchProfile, seeds, splits: dict) -> list[dict]:
    """The runs of ``--reference`` for conditions not run now, after checking that they were
    made under the same profile, segmenter, seeds and test slices (so they pair by seed)."""
    ref = json.loads(args.reference.read_text())
    st = ref["settings"]
    same = {"profile": st["profile"] == profile.name, "segmenter": st["segmenter"] == profile.segmenter.to_dict(),
            "test slices": ref["data"]["test"]["slice_ids"] == [s.id for s in splits["test"]],
            "seeds": set(seeds) <= set(st["seeds"])}
    if not all(same.values()):
        raise SystemExit(f"dice_gain: {args.reference} differs in {[k for k, v in same.items() if not v]}; "
                         "its runs cannot be paired with these.")
    return [r for r in ref["runs"] if r["condition"] not in args.conditions and r["seed"] in seeds]


def _example_samples(args, profile, condition, k, seed, subset, gan, work) -> dict:
    samples, _ = training_samples(args, profile, condition, k, seed, subset, gan, work)
    # in output-index order (the read-back order is by file path, i.e. by parent)
    added = sorted((s for s in samples if _source(s) != "real"), key=lambda s: int(s.id[-5:]))
    parents = {s.id: s for s in subset.samples}
    picked = added[:4]
    # the real parents of the shown samples, so each column compares like with like
    reals = [parents.get(re.sub(r"_(gan|aug)\d+$", "", s.id), subset.samples[0]) for s in picked]
    return {"real": reals, "added": picked}


if __name__ == "__main__":
    sys.exit(main())
