"""Train the class/unconditional generators (``dcgan``, ``tlgan``) on real LGG brain slices with
their ``cpu`` profiles and show what they make.

Data: the LGG slices of ``--splits`` (default ``train30 val``: 100 slices of 40 patients; the
20 test patients stay unseen, as everywhere else), image resized to the profile size, labelled
by the authors' histological grade joined from ``patients_*.csv`` (``Patient`` = folder name
without its date part; ``neoplasm_histologic_grade`` 1 / 2 = WHO grade II / III, class folders
``grade_II`` / ``grade_III``). ``--label tumour_size`` labels by mask area above or below the
median slice's (``large`` / ``small``) instead. The Samples are written to a temporary
class-folder dataset (never committed) and read back through the ``classfolders`` reader, and
training uses what was read back. A conditional run also writes one grid per class: generated
slices of that class above real slices of that class.

Shows, per plugin, under ``benchmarks/results/classgan/``: an 8×8 grid of 64 generated slices
(conditional: rows alternate classes) next to 64 real ones, the loss curves, and in
``classgan.json`` the diversity of the 64 samples (mean pairwise L2 and 1-NCC, and the same for
64 real slices), their nearest-real-slice distances (1-NCC) and the share of near-duplicate
pairs among the samples, plus timings.

    python benchmarks/classgan_train.py                       # both, cpu profiles
    python benchmarks/classgan_train.py --plugin dcgan --epochs 20 --conditional no
    python benchmarks/classgan_train.py --plugin tlgan --checkpoint-dir /tmp/tl --epochs 12  # resumable
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LGG = (ROOT / ".." / "shared" / "data" / "lgg").resolve()
OUT = Path(os.environ.get("AUGKIT_CLASSGAN_RESULTS", ROOT / "benchmarks" / "results" / "classgan"))
SPLITS = ("train30", "val")  # --splits; test patients are left out so that they stay unseen
GRADE_NAMES = {"1": "grade_II", "2": "grade_III"}  # the authors' codes, WHO grades
SIZE = 64  # both cpu profiles


def patient_of(sample_id: str) -> str:
    """``TCGA_CS_4941_19960909/...`` → ``TCGA_CS_4941``."""
    return "_".join(sample_id.split("/", 1)[0].split("_")[:3])


def lgg_samples(label_source: str, channels: str, splits, folder: Path):
    """Every LGG slice of ``splits`` at SIZE×SIZE (FLAIR, channel 1, or the three sequences as
    RGB), labelled, through a class-folder dataset in ``folder``."""
    from augkit.io import read_dataset
    from augkit.io.slice_classes import class_slices, mask_size_labels, table_labels, through_classfolders

    reals = [s for split in splits for s in read_dataset(LGG / split)]
    grade = table_labels([LGG / f"patients_{split}.csv" for split in splits], key="Patient",
                         column="neoplasm_histologic_grade", names=GRADE_NAMES, other="grade_{}")
    if label_source == "auto":
        label_source = "grade" if all(patient_of(s.id) in grade for s in reals) else "tumour_size"
    if label_source == "grade":
        missing = sorted({patient_of(s.id) for s in reals} - set(grade))
        if missing:
            sys.exit(f"no histological grade for {len(missing)} patients (e.g. {missing[0]}) in "
                     f"{LGG}/patients_*.csv; use --label tumour_size")
        labels = [grade[patient_of(s.id)] for s in reals]
    else:
        labels = mask_size_labels(reals) if label_source == "tumour_size" else [None] * len(reals)
    samples = class_slices(reals, labels, SIZE, channel=1 if channels == "flair" else None)
    return through_classfolders(samples, folder), label_source


def self_supervised_backbone(args, samples, work: Path) -> dict:
    """tlgan's backbone pretrained on the slices (``augkit_tlgan.pretrain``), kept beside a kept
    checkpoint folder so that a resumed run finds the same file; sets ``args.backbone_weights``."""
    from augkit_tlgan.pretrain import pretrain_backbone

    keep = Path(args.checkpoint_dir).parent if args.checkpoint_dir else work
    path = keep / "tlgan_backbone_selfsupervised.weights.h5"
    info = path.with_suffix(".json")
    if not path.is_file():
        info.write_text(json.dumps(pretrain_backbone(samples, path, seed=args.seed)))
    args.backbone_weights = str(path)
    return json.loads(info.read_text())


def make_generator(plugin: str, args):
    overrides = {}
    if args.conditional != "auto":
        overrides["conditional"] = args.conditional == "yes"
    if plugin == "dcgan":
        from augkit_dcgan.generator import DCGAN

        return DCGAN("cpu", seed=args.seed, **{**dict(args.set), **overrides})
    from augkit_tlgan.generator import TLGAN

    backbone = {"backbone_weights": args.backbone_weights} if args.backbone_weights else {"random_backbone": True}
    return TLGAN("cpu", seed=args.seed, **backbone, **overrides, **dict(args.set))


def expand_counts(gen, folders: Path, work: Path, target: int, seed: int) -> dict:
    """``augkit expand --in FOLDERS --to TARGET --generator NAME --model M`` on the class folders
    (classes balanced by default): samples per class and source, read from the manifest."""
    from augkit.api import expand_folder
    from augkit.expand.counts import class_source_counts

    gen.save(work / f"{gen.name}-model")
    out = work / f"{gen.name}-expanded"
    result = expand_folder(folders, target, out, seed=seed, generator=gen.name, model_dir=work / f"{gen.name}-model",
                           overwrite=True, progress=False)
    return {"command": f"augkit expand --in <class folders> --to {target} --generator {gen.name} --model M",
            "seconds": round(result.seconds, 1), "counts": class_source_counts(out / "manifest.csv")}


def run(plugin: str, args, work: Path) -> dict:
    from augkit.evaluate.pixel_diversity import label_effect, pixel_measures
    from augkit_latent.grids import draw_samples

    folders = work / f"{plugin}-classfolders"
    samples, label_source = lgg_samples(args.label, args.channels, args.splits, folders)
    backbone = None
    if plugin == "tlgan" and not args.backbone_weights and not args.random_backbone:
        backbone = self_supervised_backbone(args, samples, work)
    gen = make_generator(plugin, args)
    assert gen.profile.size == SIZE
    ckpt = Path(args.checkpoint_dir) if args.checkpoint_dir else work / f"{plugin}-ckpt"
    history = gen.fit(samples, epochs=args.epochs, seed=args.seed, checkpoint_dir=ckpt, progress=not args.quiet)
    classes = list(gen.spec.classes)
    tag = f"{plugin}_{'conditional' if classes else 'unconditional'}{args.tag}"
    shown = draw_samples(gen, samples, OUT, tag, plugin=plugin, seed=args.seed)
    shutil.copyfile(ckpt / "losses.png", OUT / f"{tag}_losses.png")
    expanded = None
    if args.expand_to and classes:  # expand --generator on the class folders: counts per class and source
        expanded = expand_counts(gen, folders, work, args.expand_to, args.seed)
    labels_count = {}
    for s in samples:
        labels_count[str(s.label)] = labels_count.get(str(s.label), 0) + 1
    return {
        "plugin": plugin, "profile": "cpu", "config": gen.get_config(),
        "size": SIZE, "epochs": gen.epochs_trained, "num_train_slices": len(samples),
        "label_source": label_source if classes else "none (unconditional)",
        "class_counts": labels_count if classes else None,
        "train_seconds": round(float(sum(history["seconds"])), 1),  # epochs of a resumed run included
        "seconds_per_epoch_median": round(float(np.median(history["seconds"])), 2),
        "generate_seconds_for_64": round(shown["generate_seconds"], 2),
        "final_epoch_metrics": {k: round(v[-1], 4) for k, v in history.items() if k != "seconds"},
        "backbone": (None if plugin != "tlgan" else
                     {"weights": "random (frozen)" if args.random_backbone else
                      ("self-supervised on the training slices" if backbone else args.backbone_weights),
                      "pretraining": backbone}),
        "channels": args.channels,
        "checkpoint_hash": gen.checkpoint_hash,
        "measures": pixel_measures(shown["fakes"], shown["shown"], shown["reals"]),
        "label_effect": label_effect(shown["by_class"]),
        "expand": expanded,
        "splits": list(args.splits),
        "files": [f"{tag}_samples.png", *shown["class_files"], f"{tag}_losses.png", f"real_{SIZE}px.png"],
    }


def _setting(text: str) -> tuple[str, object]:
    key, _, value = text.partition("=")
    return key.strip(), json.loads(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", choices=["dcgan", "tlgan", "both"], default="both")
    parser.add_argument("--epochs", type=int, default=None, help="default: the cpu profile's")
    parser.add_argument("--label", choices=["auto", "grade", "tumour_size", "none"], default="auto",
                        help="auto: the histological grade when every patient has one, else tumour size")
    parser.add_argument("--splits", nargs="+", default=list(SPLITS),
                        help="LGG splits to train on (default: train30 val; test stays unseen)")
    parser.add_argument("--conditional", choices=["auto", "yes", "no"], default="auto",
                        help="auto: dcgan conditional on the labels, tlgan unconditional")
    parser.add_argument("--backbone-weights", default=None,
                        help="tlgan: notop ImageNet weights file; default: a frozen random backbone")
    parser.add_argument("--random-backbone", action="store_true",
                        help="tlgan: frozen random backbone (default: self-supervised on the slices)")
    parser.add_argument("--channels", choices=["flair", "rgb"], default="flair",
                        help="FLAIR only (grayscale) or the three sequences as RGB")
    parser.add_argument("--set", action="append", default=[], type=_setting, metavar="KEY=JSON",
                        help="override a cpu-profile setting, e.g. --set mode_seeking=0.2")
    parser.add_argument("--tag", default="", help="suffix for file names and the JSON key")
    parser.add_argument("--expand-to", type=int, default=None,
                        help="conditional runs: then expand the class folders to this many samples with the model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-dir", default=None,
                        help="keep checkpoints here and resume from them (one plugin at a time)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    from augkit_latent.run_summary import runs_markdown

    plugins = ["dcgan", "tlgan"] if args.plugin == "both" else [args.plugin]
    results_path = OUT / "classgan.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    results.setdefault("machine", {"python": platform.python_version(), "cpus": os.cpu_count()})
    with tempfile.TemporaryDirectory(prefix="classgan-") as tmp:
        for plugin in plugins:
            plugin_args = argparse.Namespace(**vars(args))
            if args.conditional == "auto" and plugin == "tlgan":
                plugin_args.conditional = "no"  # the unconditional brain-slice run
            result = run(plugin, plugin_args, Path(tmp))
            # re-read: another run (the other plugin) may have written meanwhile
            results = json.loads(results_path.read_text()) if results_path.is_file() else results
            results[plugin + args.tag] = result
            from augkit.evaluate.provenance import provenance
            result["provenance"] = provenance()  # the code, packages and machine of this result
            OUT.mkdir(parents=True, exist_ok=True)
            results_path.write_text(json.dumps(results, indent=1) + "\n")
            (OUT / "classgan.md").write_text(runs_markdown(results))
            m = result["measures"]
            print(f"{plugin}: {result['epochs']} epochs in {result['train_seconds']} s; pairwise 1-NCC "
                  f"generated {m['generated']['mean_pairwise_1_minus_ncc']:.3f} vs real "
                  f"{m['real']['mean_pairwise_1_minus_ncc']:.3f}; L2 {m['generated']['mean_pairwise_l2']:.3f} "
                  f"vs {m['real']['mean_pairwise_l2']:.3f}")


if __name__ == "__main__":
    main()
