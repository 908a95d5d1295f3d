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
    python benchmarks/dice_gain.py --profile brats            # BraTS: 30 slices drawn by case, WT/TC/ET
    python benchmarks/dice_gain.py --profile brats-quick      # its smoke run, ~2 minutes
    python benchmarks/dice_gain.py --profile converge-curve   # LGG 10/20/30: classical vs the val-chosen lesion condition

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
chosen on validation Dice at the selection seed (its own seed, 100, outside the reported seeds;
``--selection-seed``) and only the winner runs at the reported seeds;
classical+lesiongan@f (a share f of the added samples get a lesion painted by the trained
``lesiongan`` plugin at a lesionmix placement; f chosen on validation the same way); and
classical+gan against classical+gan-tissue (pix2pix conditioned on the lesion mask, or on a
tissue label map built from the real slice: ``--set label_map=tissue``), the conditioning chosen
on validation the same way. How the
synthetic data is used: ``--schedule decay`` (synthetic share per batch falling to 0 over training)
and ``--finetune-steps N`` (pretrain on real + synthetic, fine-tune on real, as ``<condition>+ft``).
The GAN conditions go through ``augkit.expand.run.expand`` exactly as a user's ``augkit expand``
does; the expanded sets are written to a work folder and read back with ``read_dataset``.

Reported: Accuracy, Mean IoU and Dice on Train (the real slices trained on) / Val / Test as
mean ± std over seeds (seed 001's Table 1 layout); each condition's test-Dice difference to
``none`` and to ``classical``, paired by seed, with a 95 % t-interval over seeds and a 95 %
bootstrap interval over test patients; test Dice against the number of real slices (nested
subsets of train30 drawn with a fixed seed). Everything lands in ``--out``: results.json,
results.md, dice_by_condition.png, dice_vs_num_real.png, examples.png.

Finished runs are cached in ``--work``: a killed run started again with the same command
resumes where it stopped. Every cache key holds the hash of ``src/`` + ``plugins/``, so a run on
changed code starts afresh, and results.json records that hash with the git revision, package
versions and machine (``provenance``). The driver is this file; ``dice_gain_setup`` holds the conditions and
profiles, ``dice_gain_runs`` one run (generator, expanded set, U-Net), ``dice_gain_report`` the
report; the paired statistics are ``augkit.evaluate.paired``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmark modules

from dice_gain_report import as_selections, plot, plot_examples, summarise, write_markdown  # noqa: E402
from dice_gain_runs import (_example_samples, get_gan, get_lesiongan, get_lesionmix,  # noqa: E402
                            run_one)
from dice_gain_setup import (ALL_CONDITIONS, DRAW_SEED, GAN_FRACTION, GAN_REGION, GENERATOR_SETTINGS,  # noqa: E402
                             PROFILES, SUBSET_SEED, TISSUE_CONDITIONS, BenchProfile, check_disjoint,
                             check_segmentation, code_hash, draw_by_case, lesion_generator, log, patient_of, rel,
                             subset_indices)
from segmenter import count_params, to_arrays  # noqa: E402


# --------------------------------------------------------------------------- main
def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--train", type=Path, help="training folder (any augkit format; default: the profile's, "
                    "LGG train30 or BraTS brats/)")
    ap.add_argument("--val", type=Path, help="validation folder: model selection only (default: the profile's)")
    ap.add_argument("--test", type=Path, help="test folder: reported only (default: the profile's)")
    ap.add_argument("--profile", choices=sorted(PROFILES), default="cpu")
    ap.add_argument("--quick", action="store_const", const="quick", dest="profile",
                    help="same as --profile quick")
    ap.add_argument("--seeds", type=int, nargs="+", help="run seeds (default: the profile's)")
    ap.add_argument("--selection-seed", type=int,
                    help="seed at which the candidates of a val sweep run and the choice is made (default: "
                         "the profile's); when it is not one of --seeds, its runs are kept out of the reported "
                         "means, else the report gives the chosen condition's mean with and without it")
    ap.add_argument("--num-real", type=int, nargs="+", help="real-slice counts for the curve "
                    "(default 10 20 30; the largest gets all four conditions)")
    ap.add_argument("--conditions", nargs="+", choices=ALL_CONDITIONS,
                    help="conditions to run (default: the profile's; for timing one condition)")
    ap.add_argument("--model", type=Path, help="a trained pix2pix folder (else one is trained here)")
    ap.add_argument("--gan-seed", type=int, default=0, help="seed of the pix2pix trained here")
    ap.add_argument("--lesiongan-model", type=Path, help="a trained lesiongan folder (else one is trained here)")
    ap.add_argument("--reference", type=Path, help="an earlier results.json of the same profile: its runs of "
                    "conditions not run now join the report (same seeds, data and segmenter required)")
    ap.add_argument("--reference-other-code", action="store_true",
                    help="accept --reference runs made on other library code (src/ + plugins/): for adding "
                         "conditions after a change to code that the reference's own conditions do not use "
                         "(the report names each code hash and the conditions run on it)")
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
    args.train, args.val, args.test = (given or default for given, default in
                                       zip((args.train, args.val, args.test), profile.folders))
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
    from augkit.transforms.pipeline import ClassicalPipeline

    try:
        read = profile.read_options
        train = read_dataset(args.train, **read)
        val_ds = read_dataset(args.val, **read)
        splits = {"val": val_ds.samples, "test": read_dataset(args.test, **read).samples}
        for ds, role in ((train, "training"), (val_ds, "validation")):
            check_segmentation(ds, role)
        folder_size = len(train)
        if profile.draw_slices:  # the training slices, drawn by case from the training folder only
            drawn = draw_by_case(train.samples, profile.draw_slices, DRAW_SEED)
            train = Dataset(root=train.root, format=train.format, samples=[train.samples[i] for i in drawn],
                            options=train.options)
        check_disjoint({"train": (args.train, train.samples), "val": (args.val, splits["val"]),
                        "test": (args.test, splits["test"])})
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
    val_xy = to_arrays(splits["val"], cfg.size, cfg.regions)
    plan = [(k, c, s) for k in reversed(num_real)
            for c in (ALL_CONDITIONS if k == k_main else profile.curve_conditions)
            for s in seeds if c in args.conditions]
    sweeps = [g for g in ([c for c in group if c in args.conditions] for group in profile.val_sweeps)
              if len(g) > 1]
    sel_seed = next(s for s in (args.selection_seed, profile.selection_seed, seeds[0]) if s is not None)
    order = [sel_seed] + [s for s in seeds if s != sel_seed]  # the choices are made first
    if sweeps:
        # the candidates run at the selection seed only; the winner on validation joins the reported
        # seeds. A selection seed outside ``seeds`` keeps the choosing runs out of the reported means.
        swept = {c for g in sweeps for c in g}
        plan = [(k, c, s) for k, c, s in plan if c not in swept]
        plan += [(k_main, c, sel_seed) for c in ALL_CONDITIONS if c in swept]
        plan.sort(key=lambda r: order.index(r[2]))
    selections: list[dict[str, Any]] = []
    gans: dict[Any, Any] = {}
    gan_info: dict[Any, dict] = {}
    runs, examples, selection_runs = [], {}, []
    run_started = time.perf_counter()
    n = 0
    while n < len(plan):
        k, condition, seed = plan[n]
        n += 1
        idx = list(range(len(train))) if k == len(train) else subset_indices(len(train), k)
        subset = Dataset(root=train.root, format=train.format, samples=[train.samples[i] for i in idx],
                         options=train.options)
        gan, lesion = None, lesion_generator(condition)
        if lesion is not None:
            kind, tag = lesion
            if (tag, k) not in gans:
                settings = GENERATOR_SETTINGS.get(tag, {})
                gans[(tag, k)] = get_lesiongan(args, subset.samples, splits["val"], k, work, gan_info,
                                               profile.lesiongan_profile, tag, **settings) \
                    if kind == "lesiongan" else get_lesionmix(subset.samples, k, gan_info, tag, **settings)
            gan = gans[(tag, k)]
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
        # lesion transplant and painting are always fitted on the subset itself; pix2pix as --subset-gan says
        own = "lesion" in condition and condition != "classical+lesion"
        record["gan_trained_on_num_real"] = None if gan is None else (k if own or subset_gan == "retrain" else k_main)
        kept = runs if seed in seeds else selection_runs  # choosing runs off the reported seeds
        kept.append(record)
        if "finetuned" in record:
            kept.append({**record.pop("finetuned"), "gan_trained_on_num_real": record["gan_trained_on_num_real"]})
        if k == k_main and seed in (seeds[0], sel_seed) and condition != "none" and condition not in examples:
            picked = _example_samples(args, profile, condition, k, seed, subset, gan, work)
            examples.setdefault("real", picked["real"])
            examples[condition] = picked["added"]
        done = time.perf_counter() - run_started
        eta = done / n * (len(plan) - n)
        # validation only while runs remain: test scores are shown once, after the last run
        log(f"[{n}/{len(plan)}] n={k} {condition:<13} seed {seed}: val Dice "
            f"{record['scores']['val']['dice']:.3f} (best step "
            f"{record['best_step']}, {time.perf_counter() - t0:.0f} s); about {eta / 60:.1f} min left")
        for sweep in sweeps:
            done_sweep = [r for r in runs + selection_runs if r["condition"] in sweep and r["seed"] == sel_seed
                          and r["num_real"] == k_main]
            if any(x["candidates"] == sweep for x in selections) or len(done_sweep) < len(sweep):
                continue
            chosen, val = choose_on_val(sweep, done_sweep)
            selections.append({"candidates": sweep, "val_dice_at_first_seed": val, "chosen": chosen,
                               "selection_seed": sel_seed, "selection_seed_reported": sel_seed in seeds,
                               "rule": f"highest validation Dice at seed {sel_seed}; only the chosen one "
                                       "is run at the reported seeds"
                                       + (" (the choosing run is one of them)" if sel_seed in seeds else
                                          " (the choosing run is not one of them)")})
            log(f"chosen on validation: {chosen} ({json.dumps(val)})")
            plan += [(k_main, chosen, s) for s in seeds if s != sel_seed]
            if "chosen" in profile.curve_conditions:  # the winner's learning curve (nested subsets)
                plan += [(k, chosen, s) for k in num_real if k != k_main for s in seeds]
            plan[n:] = sorted(plan[n:], key=lambda r: (order.index(r[2]), ALL_CONDITIONS.index(r[1])))
    for condition in dict.fromkeys(r["condition"] for r in runs):  # the test scores, now that all ran
        dice = [r["scores"]["test"]["dice"] for r in runs if r["condition"] == condition and r["num_real"] == k_main]
        if dice:
            log(f"test Dice n={k_main} {condition}: {np.mean(dice):.3f} over {len(dice)} seed(s)")

    # generators trained by this run (before a reference's join its own: their time is not ours)
    gan_train_seconds = sum(g.get("train_seconds") or 0 for g in gan_info.values())
    reference = None
    if args.reference:
        ref = json.loads(args.reference.read_text())
        ref_runs = reference_runs(args, ref, profile, seeds, splits, train, num_real, gan_info)
        runs = ref_runs + runs
        gan_info = {**ref.get("gan", {}), **{str(k): v for k, v in gan_info.items()}}
        redone = set(args.conditions or ())
        selections = [s for s in as_selections(ref["settings"]) if not redone & set(s["candidates"])] + selections
        selection_runs = [r for r in ref.get("selection_runs", []) if r["condition"] not in redone] + selection_runs
        reference = {"path": rel(args.reference), "code_hash": ref.get("provenance", {}).get("code_hash"),
                     "git_revision": ref.get("provenance", {}).get("git_revision"),
                     "conditions": list(dict.fromkeys(r["condition"] for r in ref_runs)),
                     "earlier": ref.get("reference")}  # the reference's own reference, and so on

    import keras

    from augkit.evaluate.provenance import provenance

    probe = __import__("segmenter").build_unet(cfg, train.samples[0].image.shape[-1], seed=0)
    results = {
        "command": "python benchmarks/dice_gain.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "provenance": provenance(),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPU cores, Keras "
                   f"{keras.__version__} ({keras.backend.backend()})",
        "settings": {"profile": profile.name, "note": profile.note, "seeds": list(seeds), "num_real": num_real,
                     "expand_factor": profile.expand_factor, "gan_fractions": GAN_FRACTION,
                     "gan_regions": GAN_REGION,
                     "subset_gan": subset_gan, "subset_seed": SUBSET_SEED, "segmenter": cfg.to_dict(),
                     "transforms": ClassicalPipeline().get_config()["transforms"],
                     "gan_profile": profile.gan_profile, "gan_overrides": profile.gan_overrides,
                     "val_selections": selections, "selection_seed": sel_seed if sweeps else None,
                     "schedule": args.schedule,
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
        "data": {"name": profile.dataset_name, "read_options": profile.read_options,
                 "regions": [[name, list(labels)] for name, labels in cfg.regions],
                 "train_drawn": None if not profile.draw_slices else {
                     "rule": "draw_by_case: cases in a seeded order, one slice of each case in turn, each case's "
                             "slices in their own seeded order", "seed": DRAW_SEED,
                     "from_num_slices": folder_size,
                     "per_case": {c: sum(patient_of(s) == c for s in train.samples)
                                  for c in sorted({patient_of(s) for s in train.samples})}},
                 "train": {"folder": rel(args.train), "format": train.format, "num_slices": len(train),
                           "num_patients": len({patient_of(s) for s in train.samples}),
                           "subsets": {str(k): [train.samples[i].id for i in
                                                (range(len(train)) if k == len(train) else subset_indices(len(train), k))]
                                       for k in num_real}},
                 "val": {"folder": rel(args.val), "num_slices": len(splits["val"]),
                         "num_patients": len({patient_of(s) for s in splits["val"]}),
                         "slice_ids": [s.id for s in splits["val"]]},
                 "test": {"folder": rel(args.test), "num_slices": len(splits["test"]),
                          "num_patients": len(set(test_patients)), "slice_ids": [s.id for s in splits["test"]]}},
        "gan": {str(k): v for k, v in gan_info.items()},
        "reference": reference,
        "runs": runs,
        "selection_runs": selection_runs,
        "summary": summarise(runs, test_patients),
        "timing": {"total_seconds": round(time.perf_counter() - started, 1),
                   "gan_train_seconds": gan_train_seconds,
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


def choose_on_val(sweep, runs: list[dict]) -> tuple[str, dict[str, float]]:
    """The candidate of ``sweep`` with the highest validation Dice among ``runs`` (one run per
    candidate, at the selection seed), and the val Dice of each. Reads validation scores only;
    ties go to the first candidate."""
    val = {r["condition"]: r["scores"]["val"]["dice"] for r in runs if r["condition"] in sweep}
    return max(sweep, key=lambda c: val[c]), val


def reference_runs(args, ref: dict, profile: BenchProfile, seeds, splits: dict, train, num_real,
                   gan_info: dict) -> list[dict]:
    """The runs of ``ref`` (the parsed ``--reference``) for conditions not run now, after checking
    that they were made on this code (its code hash), under the same profile, segmenter and seeds,
    on the same train subsets, val and test slices, with the same generators (so they pair by seed)."""
    st, data = ref["settings"], ref["data"]
    current_gans = {str(k): v for k, v in gan_info.items()}
    subsets = {str(k): [train.samples[i].id for i in
                        (range(len(train)) if k == len(train) else subset_indices(len(train), k))] for k in num_real}
    kept = [r for r in ref["runs"] if r["condition"] not in args.conditions and r["seed"] in seeds]
    used = {generator_key(r["condition"], r.get("gan_trained_on_num_real")) for r in kept}
    same = {"code": args.reference_other_code or ref.get("provenance", {}).get("code_hash") == code_hash(),
            "profile": st["profile"] == profile.name, "segmenter": st["segmenter"] == profile.segmenter.to_dict(),
            "train slices": all(data["train"].get("subsets", {}).get(k) == v for k, v in subsets.items()),
            "val slices": data["val"].get("slice_ids") == [s.id for s in splits["val"]],
            "test slices": data["test"]["slice_ids"] == [s.id for s in splits["test"]],
            "seeds": set(seeds) <= set(st["seeds"]),
            # only the generators its kept runs used: a condition run again may bring a new one
            "generators": all(g.get("checkpoint_hash") == current_gans[k].get("checkpoint_hash")
                              for k, g in ref.get("gan", {}).items() if k in current_gans and k in used)}
    if not all(same.values()):
        raise SystemExit(f"dice_gain: {args.reference} differs in {[k for k, v in same.items() if not v]}; "
                         "its runs cannot be paired with these. Fix: rerun those conditions on this code and data "
                         "(or drop --reference).")
    return kept


def generator_key(condition: str, num_real) -> str | None:
    """The ``gan_info`` key of the generator a run of ``condition`` used (None: no generator)."""
    if num_real is None:
        return None
    lesion = lesion_generator(condition)
    if lesion is not None:
        return f"{lesion[1]}-{num_real}"
    return f"tissue-{num_real}" if condition in TISSUE_CONDITIONS else str(num_real)


if __name__ == "__main__":
    sys.exit(main())
