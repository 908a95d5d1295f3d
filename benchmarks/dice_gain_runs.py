"""One run of the Dice-gain benchmark: the generator a condition needs (trained or loaded and
cached in the work folder), the expanded training set it makes through ``augkit.expand.run.expand``,
and a U-Net trained and scored on it (cached as JSON, so a killed benchmark resumes)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from augkit.evaluate.provenance import check_same_code
from dice_gain_setup import (FINETUNED, GAN_FRACTION, GAN_REGION, RUN_VERSION, BenchProfile, code_hash, fingerprint,
                             log, read_cached)
from segmenter import (SegmenterConfig, count_params, scheduled_batch_indices, score, to_arrays,
                       train_segmenter)

# --------------------------------------------------------------------------- GAN
def get_gan(args, profile: BenchProfile, train_samples, val_samples, num_real: int, work: Path,
            gan_info: dict, label_map: str = "mask") -> Any:
    """The pix2pix model for a training set: ``--model`` for the full set (mask conditioning),
    else trained here (and cached in the work folder, so a rerun loads it)."""
    from augkit.registry.host import get_generator

    pix2pix = get_generator("pix2pix")
    key = num_real if label_map == "mask" else f"{label_map}-{num_real}"
    if num_real == args.num_train and args.model and label_map == "mask":
        model, info = pix2pix.load(args.model), {"source": f"loaded from {args.model}", "train_seconds": None}
    else:
        overrides = {**profile.gan_overrides, **({"label_map": label_map} if label_map != "mask" else {})}
        untrained = pix2pix(profile=profile.gan_profile, seed=args.gan_seed, **overrides)
        settings = {"config": untrained.get_config(), "resolved": getattr(untrained, "profile", None),
                    "train": [s.id for s in train_samples], "val": [s.id for s in val_samples],
                    "code": code_hash()}
        prefix = "" if label_map == "mask" else label_map + "-"
        folder = work / "gan" / f"{prefix}n{num_real}-{fingerprint(settings)}"
        model, info = _trained_or_cached(args, untrained, folder, train_samples, val_samples,
                                         f"pix2pix ({profile.gan_profile} profile, label map {label_map})")
        info = {**info, "trained_on_num_real": num_real, "folder": str(folder)}
    gan_info[key] = {**info, **_model_info(model)}
    return model


def get_lesionmix(train_samples, num_real: int, gan_info: dict, tag: str = "lesionmix", **settings):
    """The lesionmix 'model': the training reals' lesions carved once (no training, no other data);
    ``settings``: a variant's lesionmix settings (``tag`` names it)."""
    from augkit.registry.host import get_generator

    started = time.perf_counter()
    model = get_generator("lesionmix")(**settings)
    model.fit(train_samples, progress=False)
    gan_info[f"{tag}-{num_real}"] = {
        "source": "lesionmix fitted here on the training reals", "checkpoint_hash": model.checkpoint_hash,
        "config": model.get_config(), "epochs_trained": 0, "settings": repr(model.settings),
        "train_seconds": round(time.perf_counter() - started, 2)}
    return model


def get_lesiongan(args, train_samples, val_samples, num_real: int, work: Path, gan_info: dict,
                  lesiongan_profile: str = "cpu", tag: str = "lesiongan", paint_share: float | None = None):
    """The lesiongan painter: ``--lesiongan-model`` for the full set, else its cpu profile trained
    here on the training reals (val for its best-by-val weights), cached in the work folder.
    ``paint_share``: a variant painting only that share of its lesions (the same trained weights;
    ``tag`` names it)."""
    from augkit.registry.host import get_generator

    cls = get_generator("lesiongan")
    if num_real == args.num_train and args.lesiongan_model:
        model = cls.load(args.lesiongan_model)
        info = {"source": f"loaded from {args.lesiongan_model}", "train_seconds": None}
    else:
        untrained = cls(lesiongan_profile, seed=args.gan_seed)
        settings = {"config": untrained.get_config(), "train": [s.id for s in train_samples],
                    "val": [s.id for s in val_samples], "code": code_hash()}
        folder = work / "gan" / f"lesiongan-n{num_real}-{fingerprint(settings)}"
        model, info = _trained_or_cached(args, untrained, folder, train_samples, val_samples,
                                         f"lesiongan ({lesiongan_profile} profile)")
    if paint_share is not None:
        model.set_paint_share(paint_share)
    gan_info[f"{tag}-{num_real}"] = {**info, **_model_info(model)}
    return model


def _trained_or_cached(args, untrained, folder: Path, train_samples, val_samples, what: str):
    """``untrained`` fitted on the training reals (val for its best-by-val weights) and saved in
    ``folder`` with an info.json, or loaded from there when an earlier run did it."""
    if (folder / "model" / "config.json").exists():
        cached = read_cached(folder / "info.json")  # refused if made on other code
        if cached is None:  # a model without its record: nothing says which code made it
            check_same_code(None, code_hash(), folder / "info.json")
        log(f"{what} loaded from the cache {folder}")
        info = {**cached, "source": f"loaded from the cache {folder} (trained there by an earlier run "
                f"of this benchmark on this code, in {cached.get('train_seconds', '?')} s)", "train_seconds": None}
        return type(untrained).load(folder / "model"), info
    log(f"training {what} on {len(train_samples)} real slices ...")
    started = time.perf_counter()
    model = untrained
    model.fit(train_samples, val_samples=val_samples, seed=args.gan_seed,
              checkpoint_dir=folder / "checkpoints", progress=args.progress)
    model.save(folder / "model")
    info = {"source": "trained by this benchmark", "train_seconds": round(time.perf_counter() - started, 1),
            "code_hash": code_hash()}
    (folder / "info.json").write_text(json.dumps(info, indent=1))
    log(f"{what} trained in {info['train_seconds']:.0f} s")
    return model, info


def _model_info(model) -> dict:
    """What the report says of a trained generator (read from the model, cached or not)."""
    return {"checkpoint_hash": model.checkpoint_hash, "config": model.get_config(),
            "epochs_trained": model.epochs_trained,
            "best_val_l1": min(model.history.get("val_l1", [float("nan")]))}


# --------------------------------------------------------------------------- data per condition
def training_samples(args, profile: BenchProfile, condition: str, num_real: int, seed: int,
                     subset, gan, work: Path) -> tuple[list, str]:
    """The samples a condition trains on, and the folder they came from."""
    from augkit.expand.run import expand
    from augkit.io import read_dataset
    from augkit.transforms.pipeline import ClassicalPipeline

    if condition == "none":
        return list(subset.samples), str(subset.root)
    target = profile.expand_factor * num_real
    pipeline = ClassicalPipeline()
    generator = None if condition == "classical" else gan
    region = GAN_REGION.get(condition, "image")
    key = {"code": code_hash(), "condition": condition, "gan_region": region, "num_real": num_real, "seed": seed, "target": target,
           "reals": [s.id for s in subset.samples], "transforms": pipeline.get_config(),
           "gan": None if generator is None else generator.checkpoint_hash}
    out_dir = work / "data" / f"n{num_real}-{condition.replace('+', '_')}-s{seed}-{fingerprint(key)}"
    if not (out_dir / "manifest.csv").exists():
        expand(subset.root, target, out_dir, seed=seed, pipeline=pipeline, generator=generator,
               gan_fraction=GAN_FRACTION[condition], progress=False, dataset=subset, overwrite=True,
               gan_region=region)
    samples = read_dataset(out_dir, **profile.read_options).samples
    if len(samples) != target:
        raise RuntimeError(f"{out_dir}: expected {target} samples after expand, read {len(samples)}")
    return samples, str(out_dir)


# --------------------------------------------------------------------------- one run
def run_one(args, profile: BenchProfile, condition: str, num_real: int, seed: int, subset, gan,
            val_xy, splits: dict, work: Path) -> dict:
    cfg = profile.segmenter
    started, cpu_started = time.perf_counter(), time.process_time()
    samples, folder = training_samples(args, profile, condition, num_real, seed, subset, gan, work)
    key = {"version": RUN_VERSION, "code": code_hash(), "condition": condition, "num_real": num_real, "seed": seed,
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
    cached = read_cached(cache)  # refused if made on other code
    if cached is not None:
        return cached
    x, y = to_arrays(samples, cfg.size, cfg.regions)
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
    record = {"condition": condition, "num_real": num_real, "seed": seed, "code_hash": code_hash(),
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
    x, y = to_arrays(subset.samples, cfg.size, cfg.regions)
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
    from augkit.expand.manifest import read_manifest

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


def _example_samples(args, profile, condition, k, seed, subset, gan, work) -> dict:
    samples, _ = training_samples(args, profile, condition, k, seed, subset, gan, work)
    # in output-index order (the read-back order is by file path, i.e. by parent)
    added = sorted((s for s in samples if _source(s) != "real"), key=lambda s: int(s.id[-5:]))
    parents = {s.id: s for s in subset.samples}
    picked = added[:4]
    # the real parents of the shown samples, so each column compares like with like
    reals = [parents.get(re.sub(r"_(gan|aug)\d+$", "", s.id), subset.samples[0]) for s in picked]
    return {"real": reals, "added": picked}
