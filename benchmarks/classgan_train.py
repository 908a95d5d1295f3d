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
import csv
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LGG = (ROOT / ".." / "shared" / "data" / "lgg").resolve()
OUT = ROOT / "benchmarks" / "results" / "classgan"
SPLITS = ("train30", "val")  # --splits; test patients are left out so that they stay unseen
GRADE_NAMES = {"1": "grade_II", "2": "grade_III"}  # the authors' codes, WHO grades
NUM_SHOWN = 64


def patient_of(sample_id: str) -> str:
    """``TCGA_CS_4941_19960909/...`` → ``TCGA_CS_4941``."""
    return "_".join(sample_id.split("/", 1)[0].split("_")[:3])


def grades(splits=SPLITS) -> dict[str, str]:
    """Patient id → ``grade_II`` / ``grade_III`` from the authors' rows (patients without one left out)."""
    found = {}
    for split in splits:
        with open(LGG / f"patients_{split}.csv", newline="") as fh:
            for row in csv.DictReader(fh):
                grade = (row.get("neoplasm_histologic_grade") or "").strip()
                if grade:
                    found[row["Patient"].strip()] = GRADE_NAMES.get(grade, f"grade_{grade}")
    return found


def lgg_samples(size: int, label_source: str, channels: str = "flair", splits=SPLITS):
    """In-memory Samples of every LGG slice at size×size (uint8; FLAIR only, or the authors'
    three sequences as RGB) with their labels."""
    from skimage.transform import resize

    from augkit.io import read_dataset
    from augkit.sample import Provenance, Sample

    reals = [s for split in splits for s in read_dataset(LGG / split)]
    grade = grades(splits)
    if label_source == "auto":
        label_source = "grade" if all(patient_of(s.id) in grade for s in reals) else "tumour_size"
    if label_source == "grade":
        missing = sorted({patient_of(s.id) for s in reals} - set(grade))
        if missing:
            sys.exit(f"no histological grade for {len(missing)} patients (e.g. {missing[0]}) in "
                     f"{LGG}/patients_*.csv; use --label tumour_size")
        labels = [grade[patient_of(s.id)] for s in reals]
    elif label_source == "tumour_size":
        areas = np.array([float((s.mask > 0).mean()) for s in reals])
        cut = float(np.median(areas))
        labels = ["large" if a > cut else "small" for a in areas]
    else:
        labels = [None] * len(reals)
    samples = []
    for s, label in zip(reals, labels):
        image = s.image[..., 1:2] if channels == "flair" else s.image  # channel 1 is FLAIR
        small = resize(image, (size, size, image.shape[-1]), order=1, anti_aliasing=True,
                       preserve_range=True)
        image = np.clip(np.rint(small), 0, 255).astype(np.uint8)
        name = s.id.replace("/", "__")
        samples.append(Sample(image=image, label=label if label is not None else "slice",
                              provenance=Provenance(id=name)))
    return samples, label_source


def through_classfolders(samples, folder: Path):
    """Write the Samples as a class-folder dataset and read them back with the reader."""
    from augkit.io import detect_format, read_dataset
    from augkit.io.classfolders import ClassFoldersFormat

    writer = ClassFoldersFormat()
    for s in samples:  # new samples (no source file): written as <label>/<id>.png
        writer.write(s, folder)
    assert detect_format(folder).name == "classfolders"
    back = read_dataset(folder)
    assert len(back) == len(samples), (len(back), len(samples))
    return list(back)


# ------------------------------------------------------------------------------- measures
def _flat(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float64) / 255.0


def pairwise_l2(images: np.ndarray) -> np.ndarray:
    x = _flat(images)
    sq = (x ** 2).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    return np.sqrt(d2 / x.shape[1])  # RMS difference per pixel, in [0, 1] units


def ncc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    za, zb = _flat(a), _flat(b)
    za = (za - za.mean(1, keepdims=True)) / (za.std(1, keepdims=True) + 1e-8)
    zb = (zb - zb.mean(1, keepdims=True)) / (zb.std(1, keepdims=True) + 1e-8)
    return za @ zb.T / za.shape[1]


def upper(m: np.ndarray) -> np.ndarray:
    return m[np.triu_indices(len(m), k=1)]


def diversity(images: np.ndarray) -> dict[str, float]:
    dissimilarity = upper(1.0 - ncc(images, images))
    return {"mean_pairwise_l2": float(upper(pairwise_l2(images)).mean()),
            "mean_pairwise_1_minus_ncc": float(dissimilarity.mean()),
            "near_duplicate_pair_share": float((dissimilarity < 0.02).mean())}


def total_variation(images: np.ndarray) -> float:
    x = images.astype(np.float64) / 255.0
    return float(np.abs(np.diff(x, axis=1)).mean() + np.abs(np.diff(x, axis=2)).mean())


def measure(fakes: np.ndarray, shown_reals: np.ndarray, all_reals: np.ndarray) -> dict:
    nearest = 1.0 - ncc(fakes, all_reals).max(axis=1)
    real_nearest = 1.0 - np.sort(ncc(shown_reals, all_reals), axis=1)[:, -2]  # skip itself
    return {
        "generated": diversity(fakes),
        "real": diversity(shown_reals),
        "nearest_real_1_minus_ncc": {"generated_median": float(np.median(nearest)),
                                     "generated_min": float(nearest.min()),
                                     "real_to_other_real_median": float(np.median(real_nearest))},
        "total_variation": {"generated": total_variation(fakes), "real": total_variation(shown_reals)},
        "mean_intensity": {"generated": float(fakes.mean()), "real": float(shown_reals.mean())},
    }


# ------------------------------------------------------------------------------- backbone
def pretrain_backbone(samples, path: Path, *, size: int = 96, alpha: float = 0.35, epochs: int = 6,
                      seed: int = 0) -> dict:
    """A stand-in for the ImageNet weights this machine cannot download: MobileNetV2 (alpha
    0.35) trained by self-supervision on the training slices themselves (which of 4 rotations,
    with or without added noise: 8 classes), its notop weights saved to ``path`` and handed to
    tlgan through ``backbone_weights`` like a downloaded file. Inputs are what tlgan's
    discriminator feeds the backbone: [-1, 1], grayscale tiled to RGB, resized to ``size``."""
    import keras
    from skimage.transform import resize

    keras.utils.set_random_seed(seed)  # the fit's shuffling and initialisation
    rng = np.random.default_rng(seed)
    base = np.stack([resize(s.image.astype(np.float32) / 127.5 - 1.0, (size, size, s.image.shape[-1]),
                            order=1, preserve_range=True) for s in samples])
    if base.shape[-1] == 1:
        base = np.repeat(base, 3, axis=-1)
    xs, ys = [], []
    for noisy in (0, 1):
        for k in range(4):
            x = np.rot90(base, k, axes=(1, 2))
            if noisy:
                x = np.clip(x + rng.normal(0, 0.25, x.shape), -1, 1)
            xs.append(x)
            ys.append(np.full(len(x), 4 * noisy + k))
    x, y = np.concatenate(xs).astype(np.float32), np.concatenate(ys)
    backbone = keras.applications.MobileNetV2(include_top=False, weights=None, alpha=alpha,
                                              input_shape=(size, size, 3))
    inputs = keras.Input((size, size, 3))
    logits = keras.layers.Dense(8)(keras.layers.GlobalAveragePooling2D()(backbone(inputs)))
    model = keras.Model(inputs, logits)
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=False)
    started = time.perf_counter()
    history = model.fit(x, y, batch_size=32, epochs=epochs, shuffle=True, verbose=0)
    backbone.save_weights(path)
    return {"task": "rotation (4) x added noise (2) on the training slices", "images": len(x),
            "epochs": epochs, "final_accuracy": round(float(history.history["accuracy"][-1]), 3),
            "seconds": round(time.perf_counter() - started, 1)}


def expand_counts(gen, folders: Path, model_dir: Path, out: Path, target: int, seed: int) -> dict:
    """``augkit expand --in FOLDERS --to TARGET --generator NAME --model M`` on the class folders
    (classes balanced by default): samples per class and source, read from the manifest."""
    from augkit.api import expand_folder
    from augkit.expand.manifest import read_manifest

    gen.save(model_dir)
    result = expand_folder(folders, target, out, seed=seed, generator=gen.name, model_dir=model_dir,
                           overwrite=True, progress=False)
    counts: dict[str, dict[str, int]] = {}
    for row in read_manifest(out / "manifest.csv"):
        label = row["files"].split("/", 1)[0]  # <class>/<name>.png
        counts.setdefault(label, {}).setdefault(row["source"], 0)
        counts[label][row["source"]] += 1
    return {"command": f"augkit expand --in <class folders> --to {target} --generator {gen.name} --model M",
            "seconds": round(result.seconds, 1), "counts": counts}


# ------------------------------------------------------------------------------- runs
def make_generator(plugin: str, args):
    if plugin == "dcgan":
        from augkit_dcgan.generator import DCGAN

        overrides = dict(args.set)
        if args.conditional != "auto":
            overrides["conditional"] = args.conditional == "yes"
        return DCGAN("cpu", seed=args.seed, **overrides)
    from augkit_tlgan.generator import TLGAN

    if args.backbone_weights:
        overrides = {"backbone_weights": args.backbone_weights}
    else:
        overrides = {"random_backbone": True}
    if args.conditional != "auto":
        overrides["conditional"] = args.conditional == "yes"
    return TLGAN("cpu", seed=args.seed, **overrides, **dict(args.set))


def run(plugin: str, args, work: Path) -> dict:
    from augkit.generators.training import save_image_grid

    size = 64  # both cpu profiles
    samples, label_source = lgg_samples(size, args.label, args.channels, args.splits)
    folders = work / f"{plugin}-classfolders"
    samples = through_classfolders(samples, folders)
    backbone = None
    if plugin == "tlgan" and not args.backbone_weights and not args.random_backbone:
        # beside a kept checkpoint folder, so that a resumed run finds the same file
        keep = Path(args.checkpoint_dir).parent if args.checkpoint_dir else work
        path = keep / "tlgan_backbone_selfsupervised.weights.h5"
        info = path.with_suffix(".json")
        if not path.is_file():
            info.write_text(json.dumps(pretrain_backbone(samples, path, seed=args.seed)))
        args.backbone_weights = str(path)
        backbone = json.loads(info.read_text())
    gen = make_generator(plugin, args)
    assert gen.profile.size == size
    reals = np.stack([s.image for s in samples])
    ckpt = Path(args.checkpoint_dir) if args.checkpoint_dir else work / f"{plugin}-ckpt"
    history = gen.fit(samples, epochs=args.epochs, seed=args.seed, checkpoint_dir=ckpt,
                      progress=not args.quiet)
    train_seconds = float(sum(history["seconds"]))  # epochs of a resumed run included

    classes = list(gen.spec.classes)
    conditions = None
    if classes:  # rows of 8 alternate classes, as in the training grids
        conditions = [classes[(i // 8) % len(classes)] for i in range(NUM_SHOWN)]
    started = time.perf_counter()
    fakes = list(gen.generate(NUM_SHOWN, seed=args.seed + 1, conditions=conditions, batch_size=32))
    generate_seconds = time.perf_counter() - started
    fake_images = np.stack([f.image for f in fakes])
    pick = np.random.default_rng(args.seed).permutation(len(reals))[:NUM_SHOWN]
    pick = sorted(pick, key=lambda i: (str(samples[i].label), i))
    shown = reals[pick]

    OUT.mkdir(parents=True, exist_ok=True)
    tag = f"{plugin}_{'conditional' if classes else 'unconditional'}{args.tag}"
    title = f"{plugin} cpu profile, {gen.epochs_trained} epochs, {len(samples)} LGG slices"
    if classes:
        title += f"; rows alternate {' / '.join(map(str, classes))}"
    save_image_grid(OUT / f"{tag}_samples.png", [list(fake_images[r * 8:(r + 1) * 8]) for r in range(8)],
                    title=title, cell_inches=1.0)
    real_title = "real LGG slices (random 64)"
    if classes:
        real_title += ", sorted by label"
    save_image_grid(OUT / f"real_{size}px.png", [list(shown[r * 8:(r + 1) * 8]) for r in range(8)],
                    title=real_title, cell_inches=1.0)
    shutil.copyfile(ckpt / "losses.png", OUT / f"{tag}_losses.png")
    class_files, by_class = [], {}
    for label in classes:  # one grid per class: 24 generated of that class, 8 real ones below
        made = list(gen.generate(24, seed=args.seed + 2, conditions=[label] * 24, batch_size=24))
        by_class[label] = np.stack([m.image for m in made]).astype(np.float64) / 255.0
        real_of = [s.image for s in samples if s.label == label]
        real_pick = [real_of[i] for i in np.linspace(0, len(real_of) - 1, min(8, len(real_of))).astype(int)]
        name = f"{tag}_{label}_samples.png"
        save_image_grid(OUT / name, [[m.image for m in made[r * 8:(r + 1) * 8]] for r in range(3)] + [real_pick],
                        title=f"{plugin} conditioned on {label}: generated (rows 1-3), real {label} slices "
                              f"(row 4; {len(real_of)} in training)", cell_inches=1.0)
        class_files.append(name)

    label_effect = None
    if len(by_class) >= 2:  # same noise vectors, another class: how much does the label change?
        first, second = list(by_class.values())[:2]
        same_noise = float(np.abs(first - second).mean())
        other_noise = float(np.abs(first - np.roll(first, 1, axis=0)).mean())
        label_effect = {"classes": [str(c) for c in list(by_class)[:2]], "num_noise_vectors": len(first),
                        "mean_abs_pixel_change_same_noise_other_class": round(same_noise, 5),
                        "mean_abs_pixel_change_other_noise_same_class": round(other_noise, 5)}
    expanded = None
    if args.expand_to and classes:  # expand --generator on the class folders: counts per class and source
        expanded = expand_counts(gen, folders, work / f"{plugin}-model", work / f"{plugin}-expanded",
                                 args.expand_to, args.seed)
    labels_count = {}
    for s in samples:
        labels_count[str(s.label)] = labels_count.get(str(s.label), 0) + 1
    final = {k: round(v[-1], 4) for k, v in history.items() if k != "seconds"}
    result = {
        "plugin": plugin, "profile": "cpu", "config": gen.get_config(),
        "size": size, "epochs": gen.epochs_trained, "num_train_slices": len(samples),
        "label_source": label_source if classes else "none (unconditional)",
        "class_counts": labels_count if classes else None,
        "train_seconds": round(train_seconds, 1),
        "seconds_per_epoch_median": round(float(np.median(history["seconds"])), 2),
        "generate_seconds_for_64": round(generate_seconds, 2),
        "final_epoch_metrics": final,
        "backbone": (None if plugin != "tlgan" else
                     {"weights": "random (frozen)" if args.random_backbone else
                      ("self-supervised on the training slices" if backbone else args.backbone_weights),
                      "pretraining": backbone}),
        "channels": args.channels,
        "checkpoint_hash": gen.checkpoint_hash,
        "measures": measure(fake_images, shown, reals),
        "label_effect": label_effect,
        "expand": expanded,
        "splits": list(args.splits),
        "files": [f"{tag}_samples.png", *class_files, f"{tag}_losses.png", f"real_{size}px.png"],
    }
    return result


def summary(results: dict) -> str:
    lines = ["# Class / unconditional GANs on LGG slices (cpu profiles)", "",
             "Written by `benchmarks/classgan_train.py`; numbers from `classgan.json`. Diversity is "
             "over 64 generated vs 64 real slices (pairwise RMS pixel difference in [0, 1] units, "
             "and 1 - normalised cross-correlation); nearest-real is each generated slice's "
             "1 - NCC to its closest training slice (0 = a copy). Labels: runs labelled `grade` use the "
             "authors' histological grade from `patients_*.csv` (WHO II / III); runs made before "
             "those tables had rows (labels `tumour_size`, 249 slices of all three splits) used "
             "tumour size (FLAIR-abnormality area above / below the median slice's: `large` / "
             "`small`). The notes say which slices each run trained on.", "",
             "| plugin | labels | epochs | train s | pairwise L2 gen / real | pairwise 1-NCC gen / real "
             "| near-duplicate pairs | nearest-real 1-NCC median (min) | real-to-real median |",
             "|---|---|---|---|---|---|---|---|---|"]
    for key in sorted(k for k in results if k != "machine"):
        r, plugin = results[key], key
        m = r["measures"]
        g, rl, nn = m["generated"], m["real"], m["nearest_real_1_minus_ncc"]
        lines.append(
            f"| {plugin} | {r['label_source']} | {r['epochs']} | {r['train_seconds']} | "
            f"{g['mean_pairwise_l2']:.3f} / {rl['mean_pairwise_l2']:.3f} | "
            f"{g['mean_pairwise_1_minus_ncc']:.3f} / {rl['mean_pairwise_1_minus_ncc']:.3f} | "
            f"{g['near_duplicate_pair_share']:.3f} | {nn['generated_median']:.3f} "
            f"({nn['generated_min']:.3f}) | {nn['real_to_other_real_median']:.3f} |")
    lines += ["", "Notes:"]
    for key in sorted(k for k in results if k != "machine"):
        r = results[key]
        splits = " + ".join(r.get("splits", ["train30", "val", "test"]))
        note = (f"- `{key}`: {r.get('channels', 'rgb')} images, {r['num_train_slices']} slices ({splits}), "
                f"labels: {r['label_source']}")
        if r.get("class_counts"):
            note += f" {r['class_counts']}"
        if r.get("expand"):
            note += f"; `{r['expand']['command']}` wrote per class and source {r['expand']['counts']}"
        if r.get("label_effect"):
            e = r["label_effect"]
            note += (f"; the same {e['num_noise_vectors']} noise vectors under {' vs '.join(e['classes'])} change a "
                     f"pixel by {e['mean_abs_pixel_change_same_noise_other_class']:.4f} on average, other noise "
                     f"vectors by {e['mean_abs_pixel_change_other_noise_same_class']:.4f} ([0, 1] units)")
        overrides = {k: v for k, v in r["config"].items() if k not in ("profile", "seed", "backbone_weights")}
        if overrides:
            note += f"; settings changed from the cpu profile: {overrides}"
        if r.get("backbone"):
            note += f"; backbone weights: {r['backbone']['weights']}"
            if r["backbone"].get("pretraining"):
                pre = r["backbone"]["pretraining"]
                note += (f" ({pre['task']}, {pre['images']} images, {pre['epochs']} epochs, "
                         f"accuracy {pre['final_accuracy']}, {pre['seconds']} s)")
        lines.append(note + ".")
    grids = dict.fromkeys(f for k in sorted(results) if k != "machine" for f in results[k]["files"])
    lines += ["", "Grids: " + ", ".join(f"`{f}`" for f in grids), "",
              "What the grids show, run by run: `findings.md` (written by hand after looking).", ""]
    return "\n".join(lines)


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
    plugins = ["dcgan", "tlgan"] if args.plugin == "both" else [args.plugin]
    results_path = OUT / "classgan.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    results.setdefault("machine", {"python": platform.python_version(), "cpus": __import__("os").cpu_count()})
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
            (OUT / "classgan.md").write_text(summary(results))
            m = result["measures"]
            print(f"{plugin}: {result['epochs']} epochs in {result['train_seconds']} s; pairwise 1-NCC "
                  f"generated {m['generated']['mean_pairwise_1_minus_ncc']:.3f} vs real "
                  f"{m['real']['mean_pairwise_1_minus_ncc']:.3f}; L2 {m['generated']['mean_pairwise_l2']:.3f} "
                  f"vs {m['real']['mean_pairwise_l2']:.3f}")


if __name__ == "__main__":
    main()
