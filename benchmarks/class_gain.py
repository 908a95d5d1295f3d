"""Class-gain benchmark: does added data help a small CNN tell normal from pneumonia chest X-rays
(PneumoniaMNIST, 28×28) it never saw, and does a class-conditional GAN add to classical
transforms? A thin driver over ``augkit.evaluate.class_gain`` / ``classifier`` /
``classification``.

    python benchmarks/class_gain.py                          # the reported run (~25 min, 2 cores)
    python benchmarks/class_gain.py --quick                  # smoke run, ~3 minutes
    python benchmarks/class_gain.py --gan-model /tmp/classgain/gan/model   # reuse a trained GAN

Steps (data: ``../shared/data/pneumonia``; every knob chosen on ``val``, ``test`` only reported):
1. The generator: ``dcgan`` (cpu profile at 32 px with the 28 px images edge-padded in,
   ``resample="pad"``; its class conditioning) trained on
   ``train100`` (50 per class), or loaded from ``--gan-model``; cached in the work folder.
2. Class fidelity: a judge CNN trained on real ``train500`` (best val AUC) labels 250 generated
   samples per class; its accuracy on them, and on real ``test`` for reference. Per-class
   Fréchet distance / KID of generated vs real test images in the judge's features, against
   the real-vs-real floor. Per-class grids: generated above real. Class flip vs new noise:
   mean pixel change when one latent vector is painted as the other class, against a new
   latent vector of the same class.
3. Gain at ``train100`` (``--seeds``, default 0 1 2): none / classical (reals + classical
   variants to 10×) / classical+mixup and classical+cutmix (the one with the higher mean val
   AUC is the reported baseline) / classical+gen@f for f in 0.25, 0.5, 1 (f chosen on val) /
   gen (TSTR: generated only, 1,000). Curve at ``train500``: none, classical, the chosen mix,
   the chosen gen share (the GAN is the train100 one).
4. ``results.json`` / ``results.md`` / ``auc_by_condition.png`` / ``auc_vs_num_real.png`` and the
   grids in ``--out`` (default ``benchmarks/results/class_gain``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from augkit.evaluate.provenance import provenance

ROOT = Path(__file__).resolve().parents[1]
DATA = (ROOT / ".." / "shared" / "data" / "pneumonia").resolve()
sys.path.insert(0, str(Path(__file__).resolve().parent))

SIZE = (28, 28)
MIXES = ["classical+mixup", "classical+cutmix"]
SHARES = ["classical+gen@0.25", "classical+gen@0.5", "classical+gen@1"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "class_gain")
    p.add_argument("--work", type=Path, default=Path("/tmp/augkit-class-gain"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=800, help="classifier steps per run")
    p.add_argument("--gan-epochs", type=int, default=400)
    p.add_argument("--gan-model", type=Path, default=None)
    p.add_argument("--times", type=int, default=10, help="training set size = times × reals")
    p.add_argument("--quick", action="store_true", help="smoke run: 2 seeds, few steps")
    return p.parse_args(argv)


def main(argv=None) -> None:
    from augkit.evaluate import class_gain as cg
    from augkit.evaluate.classification import (check_class_splits, class_arrays, flip_vs_noise,
                                                real_pair_changes)
    from augkit.evaluate.classifier import ClassifierSettings
    from augkit.io import read_dataset
    from class_gain_report import write_flip_grid, write_grids, write_markdown, write_plots

    args = parse_args(argv)
    if args.quick:
        args.seeds, args.steps, args.gan_epochs = args.seeds[:2], 200, 20
    started = time.time()
    splits = {name: read_dataset(args.data / name).samples
              for name in ("train100", "train500", "val", "test")}
    classes = check_class_splits({n: (s, args.data / n) for n, s in splits.items()}, train="train100")
    val = class_arrays(splits["val"], classes, size=SIZE)
    test = class_arrays(splits["test"], classes, size=SIZE)
    settings = ClassifierSettings(steps=args.steps)

    gan, gan_info = train_or_load_gan(splits["train100"], args)
    total100 = args.times * len(splits["train100"])
    total500 = args.times * len(splits["train500"])
    generated = cg.generated_by_class(gan, classes, max(total500, total100), seed=1234)

    fidelity = measure_fidelity(splits["train500"], val, test, generated[:500], classes, settings)
    fidelity["flip_vs_noise"] = flip_vs_noise(gan, classes, num=64, seed=77)
    fidelity["real_pair_change"] = real_pair_changes(*class_arrays(splits["train100"], classes))
    args.out.mkdir(parents=True, exist_ok=True)
    write_grids(generated, splits["train100"], classes, args.out)
    write_flip_grid(gan, classes, args.out)
    print("fidelity", json.dumps({k: fidelity[k] for k in ("generated", "real_test", "flip_vs_noise")}),
          flush=True)

    runs: list[dict] = []

    def run(names, train_real, total, tag):
        classical = cg.classical_variants(train_real, total, seed=99)
        for name in names:
            cond = cg.Condition.parse(name)
            train = cg.condition_set(cond, train_real, total=total, classical=classical,
                                     generated=generated)
            for seed in args.seeds:
                r = cg.run_condition(cond, train, val, test, classes, settings=settings, seed=seed,
                                     size=SIZE)
                r["num_real"] = tag
                runs.append(r)
                print(f"{tag} {name} seed {seed}: val AUC {r['val_auc']:.3f} test AUC "
                      f"{r['test_auc']:.3f} acc {r['test_accuracy']:.3f} (step {r['best_step']}, "
                      f"{time.time() - started:.0f}s)", flush=True)

    run(["none", "classical", *MIXES, *SHARES, "gen"], splits["train100"], total100, 100)
    at100 = [r for r in runs if r["num_real"] == 100]
    mix = cg.choose_on_val(at100, MIXES)
    share = cg.choose_on_val(at100, SHARES)
    run(["none", "classical", mix, share], splits["train500"], total500, 500)

    summaries = {n: cg.summarise([r for r in runs if r["num_real"] == n], test[1])
                 for n in (100, 500)}
    results = {
        "settings": {"data": str(args.data), "size": list(SIZE), "seeds": args.seeds,
                     "classifier": settings.to_dict(), "times_reals": args.times,
                     "classes": list(classes), "quick": args.quick,
                     "chosen_on_val": {"mix": mix, "gen_share": share},
                     "classical_preset": "seed"},
        "gan": gan_info, "fidelity": fidelity,
        "summary": {str(n): s for n, s in summaries.items()},
        "runs": [{k: v for k, v in r.items() if k != "test_probs"} for r in runs],
        "provenance": provenance(),
        "minutes": round((time.time() - started) / 60, 1),
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    write_markdown(results, args.out / "results.md")
    write_plots(results, args.out)
    print(f"done in {results['minutes']} min -> {args.out}")


def train_or_load_gan(train100, args):
    from augkit_dcgan.generator import DCGAN

    if args.gan_model is not None:
        gan = DCGAN.load(args.gan_model)
        return gan, {"model": str(args.gan_model), "trained_here": False,
                     "config": gan.get_config(), "checkpoint_hash": gan.checkpoint_hash}
    folder = args.work / f"gan_{args.gan_epochs}_pad"
    if (folder / "model").is_dir():
        gan = DCGAN.load(folder / "model")
    else:
        # 28 px X-rays edge-padded into the 32 px network, not resized (resizing blurs them)
        gan = DCGAN("cpu", seed=0, size=32, resample="pad", epochs=args.gan_epochs, sample_every=50)
        gan.fit(train100, seed=0, checkpoint_dir=folder / "ckpt", progress=False)
        gan.save(folder / "model")
    minutes = round(sum(gan.history.get("seconds", [])) / 60, 1)  # resumed runs included
    last = {k: round(v[-1], 3) for k, v in gan.history.items() if k != "seconds"} if gan.history else {}
    return gan, {"plugin": "dcgan", "config": gan.get_config(), "trained_on": "train100",
                 "epochs": gan.epochs_trained, "train_minutes": minutes, "last_epoch": last,
                 "checkpoint_hash": gan.checkpoint_hash}


def measure_fidelity(train500, val, test, generated, classes, settings):
    from augkit.evaluate.classification import (accuracy, auc, class_arrays, class_fidelity,
                                                per_class_distances)
    from augkit.evaluate.classifier import train_classifier

    x, y = class_arrays(train500, classes, size=SIZE)
    judge = train_classifier(x, y, *val, num_classes=len(classes), settings=settings, seed=0)
    gx, gy = class_arrays(generated, classes, size=SIZE)
    test_probs = judge.predict(test[0])
    return {
        "judge": {"trained_on": "train500 (real)", "best_step": judge.best_step,
                  "val_auc": judge.best_val_auc},
        "real_test": {"accuracy": accuracy(test[1], test_probs), "auc": auc(test[1], test_probs)},
        "generated": {**class_fidelity(judge.predict(gx), gy, classes), "num": len(gx)},
        "distances_in_judge_features": per_class_distances(
            judge.embed(test[0]), test[1], judge.embed(gx), gy, classes),
    }


if __name__ == "__main__":
    main()
