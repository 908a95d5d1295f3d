"""The joint image + table generator (seed 004) on the real LGG patient table, and bulk speed.

    python benchmarks/tabimage_generation.py report       # train (minutes, CPU) + table report
    python benchmarks/tabimage_generation.py throughput   # generate_shards vs the seed's loop; memory

``report`` joins the LGG slices of ``../shared/data/lgg/{train30,val}`` to the authors'
per-patient rows (``patients_{split}.csv``: ``case`` is the slice's folder, ``Patient`` a second
id left out, integer codes and empty cells as shipped) and trains ``tabimage`` (profile ``cpu``,
FLAIR channel, 64×64) on those 100 slices of 40 patients within a wall-clock budget, saves the
model to ``$AUGKIT_BENCH_WORK/model`` (``/tmp/augkit-tabimage-bench/model``), generates samples with ``generate_shards``, reads
them back with ``read_dataset`` and writes under ``benchmarks/results/tabimage/``: ``report/``
(``evaluate_tables``: PNGs, ``report.html``, ``metrics.json``), ``samples.png`` (generated images
vs real ones), ``samples_with_rows.png`` (generated images with their generated rows printed),
``losses.png`` and ``lgg_run.json`` / ``lgg_run.md``.

The utility check is split by patient: the real baseline (TRTR) is trained on the 40 training
patients' rows (one per patient) and both it and the model trained on the synthetic rows (TSTR)
are tested on the rows of the 20 test patients (``patients_test.csv``), whom the generator never
saw; targets ``neoplasm_histologic_grade`` (WHO II / III) and ``death01``.

``throughput`` measures on the trained model, in interleaved rounds (loop, bulk, loop, bulk ...,
so both ways meet the same load), samples per second of ``generate_shards`` (batched, sharded)
and of the seed's way (one model call per sample, one image write per sample, rows pickled at
the end), and the peak memory (RSS, in a fresh subprocess each) of generating N samples with
``generate_shards``. Results: ``throughput.json`` and ``throughput.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = (REPO / "../shared/data/lgg").resolve()
RESULTS = Path(os.environ.get("AUGKIT_TABIMAGE_RESULTS", REPO / "benchmarks/results/tabimage"))
WORK = Path(os.environ.get("AUGKIT_BENCH_WORK", "/tmp/augkit-tabimage-bench"))
MODEL_DIR = Path(os.environ.get("AUGKIT_TABIMAGE_MODEL", WORK / "model"))
TRAIN_SPLITS, TEST_SPLIT = ("train30", "val"), "test"
TARGETS = ("neoplasm_histologic_grade", "death01")
#: the read options of every split: the slice's folder is the patient's ``case``
READ = {"id_column": "case", "id_pattern": r"^([^/]+)/", "drop_columns": "Patient", "channels": "1"}
SHOWN = ("neoplasm_histologic_grade", "death01", "age_at_initial_pathologic", "gender", "histological_type")


# --------------------------------------------------------------------------- data
def read_split(split: str):
    from augkit.io import read_dataset

    return read_dataset(DATA / split, format="tabimage", table=DATA / f"patients_{split}.csv", **READ).samples


def patient_rows(samples):
    """One row per patient (the slices of a patient share it)."""
    import pandas as pd

    rows = {}
    for s in samples:
        rows.setdefault(s.meta["table_id"], s.features)
    return pd.DataFrame(list(rows.values()))


# --------------------------------------------------------------------------- report
def run_report(args) -> None:
    import pandas as pd

    from augkit.generate.bulk import generate_shards
    from augkit.evaluate.table_report import evaluate_tables
    from augkit.io import read_dataset
    from augkit.generators.training import write_history
    from augkit_tabimage.generator import TabImage

    samples = [s for split in TRAIN_SPLITS for s in read_split(split)]
    test = read_split(TEST_SPLIT)
    train_patients, test_patients = {s.meta["table_id"] for s in samples}, {s.meta["table_id"] for s in test}
    assert not train_patients & test_patients, "a test patient is among the training patients"
    print(f"{len(samples)} training slices of {len(train_patients)} patients; {len(test)} test slices of "
          f"{len(test_patients)} patients", flush=True)
    ckpt = WORK / "checkpoints"
    shutil.rmtree(ckpt, ignore_errors=True)
    gen = TabImage("cpu", seed=args.seed, **({"epochs": args.epochs} if args.epochs else {}))
    budget = args.minutes * 60.0
    started = time.perf_counter()
    while gen.epochs_trained < gen.profile.epochs:
        target = min(gen.profile.epochs, gen.epochs_trained + args.chunk)
        gen.fit(samples, epochs=target, seed=args.seed, checkpoint_dir=ckpt, progress=not args.quiet)
        spent = time.perf_counter() - started
        per_epoch = spent / gen.epochs_trained
        print(f"epoch {gen.epochs_trained}: {spent:.0f} s", flush=True)
        if spent + per_epoch * args.chunk > budget:
            break
    train_seconds = time.perf_counter() - started
    gen.save(MODEL_DIR)

    bulk = WORK / "bulk"
    shutil.rmtree(bulk, ignore_errors=True)
    summary = generate_shards(gen, args.num_samples, bulk, seed=args.seed, shard_size=1000,
                              batch_size=256, progress=not args.quiet)
    synthetic = read_dataset(bulk)  # detected as the ``shards`` format
    real_df, test_df = patient_rows(samples), patient_rows(test)
    synth_df = pd.DataFrame([s.features for s in synthetic.samples])
    shutil.rmtree(RESULTS / "report", ignore_errors=True)
    metrics = evaluate_tables(real_df, synth_df, RESULTS / "report", target=list(TARGETS), test_df=test_df,
                              seed=args.seed, age_column="age_at_initial_pathologic")

    draw_grids(samples, synthetic.samples, gen.epochs_trained, gen.profile.size)
    write_history({k: v for k, v in gen.history.items() if k != "seconds"}, RESULTS / "history.csv",
                  RESULTS / "losses.png", title="tabimage cpu on LGG")
    run = {
        "command_args": "".join(f" {a}" for a in sys.argv[2:]),
        "machine": platform.platform(), "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "data": {"real_samples": len(samples), "training_patients": len(train_patients),
                 "splits": list(TRAIN_SPLITS), "test_split": TEST_SPLIT, "test_slices": len(test),
                 "test_patients": len(test_patients),
                 "table": "patients_*.csv (the authors' per-patient rows)", "read_options": READ,
                 "columns": list(real_df.columns)},
        "profile": "cpu", "size": gen.profile.size, "channels": "FLAIR",
        "epochs_trained": gen.epochs_trained, "train_seconds": round(train_seconds, 1),
        "budget_minutes": args.minutes, "checkpoint_hash": gen.checkpoint_hash, "seed": args.seed,
        "generation": {k: summary[k] for k in ("samples_written", "seconds", "samples_per_second")},
        "table_report": {k: metrics.get(k) for k in ("flagged_columns", "biggest_difference",
                                                      "mean_column_score", "detection_auc")},
        "correlation": metrics["correlation"], "utility": metrics.get("utility"),
        "privacy": metrics["privacy"],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    from augkit.evaluate.provenance import provenance
    run["provenance"] = provenance()  # the code, packages and machine of this result
    (RESULTS / "lgg_run.json").write_text(json.dumps(run, indent=1, default=str))
    (RESULTS / "lgg_run.md").write_text(_report_md(run))
    print(json.dumps(run, indent=1, default=str))


def draw_grids(samples, fakes, epochs: int, size: int) -> None:
    """``samples.png`` (24 generated, 8 real), ``samples_with_rows.png`` (8 generated images under
    their generated rows, also in ``samples_with_rows.csv``), ``real_with_rows.png``."""
    from augkit.generators.training import save_image_grid

    real = [s.image for s in samples[::max(1, len(samples) // 8)][:8]]
    rows = [[f.image for f in fakes[r * 8:(r + 1) * 8]] for r in range(3)] + [real]
    save_image_grid(RESULTS / "samples.png", rows, title=f"tabimage cpu ({size} px model), "
                    f"{epochs} epochs: generated (rows 1-3), real FLAIR (row 4)")
    shown = fakes[:8]
    save_image_grid(RESULTS / "samples_with_rows.png", [[f.image for f in shown]],
                    column_titles=[_row_caption(f.features) for f in shown], cell_inches=2.2,
                    title="generated FLAIR slices (the first 8 of the run), each under its generated row")
    reals = [samples[i] for i in np.linspace(0, len(samples) - 1, 8).astype(int)]
    save_image_grid(RESULTS / "real_with_rows.png", [[r.image for r in reals]],
                    column_titles=[_row_caption(r.features) for r in reals], cell_inches=2.2,
                    title="real training slices under their patients' rows")
    _write_rows_csv(RESULTS / "samples_with_rows.csv", shown)


def run_redraw(args) -> None:
    """The grids, the table report and ``lgg_run.md`` again from the last ``report`` run's samples
    (``$AUGKIT_BENCH_WORK/bulk``), no training: after a change to the report's code."""
    import pandas as pd

    from augkit.evaluate.table_report import evaluate_tables
    from augkit.io import read_dataset

    run = json.loads((RESULTS / "lgg_run.json").read_text())
    samples = [s for split in TRAIN_SPLITS for s in read_split(split)]
    synthetic = read_dataset(WORK / "bulk").samples
    assert synthetic[0].provenance.checkpoint_hash == run["checkpoint_hash"], "another model's samples"
    draw_grids(samples, synthetic, run["epochs_trained"], run["size"])
    shutil.rmtree(RESULTS / "report", ignore_errors=True)
    metrics = evaluate_tables(patient_rows(samples), pd.DataFrame([s.features for s in synthetic]),
                              RESULTS / "report", target=list(TARGETS), test_df=patient_rows(read_split(TEST_SPLIT)),
                              seed=run.get("seed", 0), age_column="age_at_initial_pathologic")
    run.update(utility=metrics.get("utility"), privacy=metrics["privacy"], correlation=metrics["correlation"])
    from augkit.evaluate.provenance import provenance
    run["provenance"] = provenance()  # the code, packages and machine of this result
    (RESULTS / "lgg_run.json").write_text(json.dumps(run, indent=1, default=str))
    (RESULTS / "lgg_run.md").write_text(_report_md(run))


def run_agreement(args) -> None:
    """Does a generated image agree with its generated row? A grade classifier trained on real
    training slices (hand-made image features, ``augkit.evaluate.features``; logistic regression)
    is scored on the test patients' real slices (agreement with their true grade) and on the
    last ``report`` run's generated pairs (agreement with the generated grade)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from augkit.evaluate.features import FeatureSpace
    from augkit.io import read_dataset

    grade = TARGETS[0]
    train = [s for split in TRAIN_SPLITS for s in read_split(split) if not _missing(s.features[grade])]
    test = [s for s in read_split(TEST_SPLIT) if not _missing(s.features[grade])]
    synthetic = [s for s in read_dataset(WORK / "bulk").samples if not _missing(s.features[grade])]
    run = json.loads((RESULTS / "lgg_run.json").read_text())
    assert synthetic[0].provenance.checkpoint_hash == run["checkpoint_hash"], "another model's samples"
    space = FeatureSpace.fit(train, use_masks=False)
    y = {name: np.array([int(s.features[grade]) == 2 for s in group], int)
         for name, group in (("train", train), ("test", test), ("synthetic", synthetic))}
    clf = LogisticRegression(C=0.1, max_iter=5000, class_weight="balanced")
    clf.fit(space.transform(train), y["train"])

    def scores(group, name):
        p = clf.predict_proba(space.transform(group))[:, 1]
        pred = (p > 0.5).astype(int)
        truth = y[name]
        chance = float(pred.mean() * truth.mean() + (1 - pred.mean()) * (1 - truth.mean()))
        out = {"slices": len(group), "share_grade_III": round(float(truth.mean()), 3),
               "share_predicted_grade_III": round(float(pred.mean()), 3),
               "agreement": round(float(np.mean(pred == truth)), 3),
               "agreement_by_chance_at_these_shares": round(chance, 3),
               "auc": round(float(roc_auc_score(truth, p)), 3) if len(set(truth)) == 2 else None}
        if name == "test":  # per patient: the mean probability of its slices
            patients = sorted({s.meta["table_id"] for s in group})
            mean_p = [float(np.mean([q for q, s in zip(p, group) if s.meta["table_id"] == pid])) for pid in patients]
            truth_p = [int(next(s.features[grade] for s in group if s.meta["table_id"] == pid)) == 2 for pid in patients]
            out["patients"] = len(patients)
            out["patient_auc"] = round(float(roc_auc_score(truth_p, mean_p)), 3)
        return out

    result = {"classifier": "logistic regression (C=0.1, balanced) on augkit.evaluate.features image "
                            "features (intensity, GLCM, LBP, gradient) of FLAIR, fitted on the training slices",
              "target": grade, "train_slices": len(train), "checkpoint_hash": run["checkpoint_hash"],
              "real_test": scores(test, "test"), "synthetic": scores(synthetic, "synthetic")}
    from augkit.evaluate.provenance import provenance
    result["provenance"] = provenance()  # the code, packages and machine of this result
    (RESULTS / "agreement.json").write_text(json.dumps(result, indent=1))
    t, g = result["real_test"], result["synthetic"]
    (RESULTS / "agreement.md").write_text(f"""# Does a generated image agree with its generated grade?

`python benchmarks/tabimage_generation.py agreement`: {result['classifier']}
({result['train_slices']} slices of the training patients, grade II vs III). Scored on:

| slices | n | grade III share | predicted grade III | agreement (accuracy) | agreement by chance at these shares | AUC |
|---|---:|---:|---:|---:|---:|---:|
| real, test patients (true grade) | {t['slices']} | {t['share_grade_III']} | {t['share_predicted_grade_III']} | {t['agreement']} | {t['agreement_by_chance_at_these_shares']} | {t['auc']} |
| generated pairs (generated grade) | {g['slices']} | {g['share_grade_III']} | {g['share_predicted_grade_III']} | {g['agreement']} | {g['agreement_by_chance_at_these_shares']} | {g['auc']} |

Per test patient (mean probability of its slices): AUC {t['patient_auc']} over {t['patients']} patients.
""")
    print(json.dumps(result, indent=1))


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _report_md(run: dict) -> str:
    names = ("auc", "accuracy", "precision", "recall", "f1")

    def scores(u, key):
        got = u.get(key, {})
        return " | ".join(f"{got[n]:.2f}" if isinstance(got.get(n), (int, float)) else "–" for n in names)

    def interval(u, key):
        ci = (u.get("bootstrap") or {}).get(key)
        return f"[{ci[0]:+.2f}, {ci[1]:+.2f}]" if key == "tstr_minus_trtr" and ci else \
            (f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "–")

    utility = []
    for target, u in (run.get("utility") or {}).items():
        if "error" in u:
            utility.append(f"`{target}`: not computed ({u['error']})\n")
            continue
        utility.append(f"""Predicting `{target}` ({u['model']} classifier), tested on {u['num_real_test']} rows of
held-out test patients (classes {u['test_class_counts']}; {u['rows_without_target']['test']} test patient(s)
without a value left out); always predicting the training rows' majority class scores accuracy
{u['majority_baseline_accuracy']:.2f}:

| trained on | AUC | accuracy | precision | recall | F1 | AUC 95 % (bootstrap over test rows) |
|---|---:|---:|---:|---:|---:|---|
| {u['num_real_train']} real rows (training patients) | {scores(u, 'trtr')} | {interval(u, 'trtr')} |
| {u['num_synthetic_train']} synthetic rows | {scores(u, 'tstr')} | {interval(u, 'tstr')} |

TSTR − TRTR AUC: {interval(u, 'tstr_minus_trtr')}.
""")
    t, p, c, d = run["table_report"], run["privacy"], run["correlation"], run["data"]
    return f"""# tabimage on LGG with the authors' patient rows (seed 004's joint image + table GAN)

`python benchmarks/tabimage_generation.py report{run.get('command_args', '')}` on {run['cpu_count']} shared CPU cores
(load average at the end {', '.join(f'{x:.1f}' for x in run['load_average_at_end'])}; another job's benchmark ran beside it).

- Data: {d['real_samples']} LGG slices of {d['training_patients']} patients ({' + '.join(d['splits'])}), FLAIR
  channel, each joined to its patient's row of {len(d['columns'])} columns from `patients_*.csv` (integer codes
  as shipped, empty cells kept as missing). Test: {d['test_slices']} slices of {d['test_patients']} other
  patients (`{d['test_split']}`), used only as the utility check's test rows and the privacy reference.
- Model: profile `{run['profile']}` ({run['size']}×{run['size']} network, images written at 256×256),
  {run['epochs_trained']} epochs in {run['train_seconds'] / 60:.1f} min (budget {run['budget_minutes']} min).
- Generated {run['generation']['samples_written']:,} samples with `generate_shards`
  ({run['generation']['samples_per_second']:.0f} samples/s), read back with `read_dataset`.

Images: `samples.png` (generated rows 1-3, real row 4), `samples_with_rows.png` (generated images with
their generated rows; the same rows in `samples_with_rows.csv`), `real_with_rows.png`. Table report:
`report/report.html` (+ PNGs, `metrics.json`).

| check | value |
|---|---|
| flagged columns (KS / TVD > 0.2) | {', '.join(t['flagged_columns']) or 'none'} |
| biggest difference | {t['biggest_difference']} |
| mean column score (KS / TVD) | {t['mean_column_score']:.3f} |
| real-vs-synthetic detection AUC (0.5 = indistinguishable) | {t['detection_auc']:.3f} |
| correlation difference, mean / max abs | {c['mean_abs_diff']:.3f} / {c['max_abs_diff']:.3f} |
| exact / near copies of training rows | {p['share_exact_copies']:.1%} / {p['share_near_copies']:.1%} |
| median distance to the closest training row: synthetic / held-out test patients | {p['dcr_median']:.3f} / {p.get('holdout_dcr_median', float('nan')):.3f} |

## Utility, split by patient

{chr(10).join(utility)}"""


def _row_caption(features: dict) -> str:
    """Five fields of a row (grade as WHO II/III), short enough to sit above a 2.4-inch image."""
    labels = {"neoplasm_histologic_grade": "grade", "death01": "death01", "age_at_initial_pathologic": "age",
              "gender": "gender", "histological_type": "histol. type"}

    def show(k, v):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "(missing)"
        if k == "neoplasm_histologic_grade":
            return {1: "1 (WHO II)", 2: "2 (WHO III)"}.get(int(v), str(v))
        return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)

    return "\n".join(f"{labels[k]}: {show(k, features[k])}" for k in SHOWN if k in features)


def _write_rows_csv(path: Path, samples) -> None:
    import pandas as pd

    frame = pd.DataFrame([{"sample": s.id, **s.features} for s in samples])
    path.write_text(frame.to_csv(index=False))


# --------------------------------------------------------------------------- throughput
def _load_model():
    from augkit_tabimage.generator import TabImage

    if not (MODEL_DIR / "config.json").exists():
        sys.exit(f"no trained model in {MODEL_DIR}; run `python {Path(__file__).name} report` first")
    return TabImage.load(MODEL_DIR)


def seed_loop(gen, num_samples: int, out: Path) -> float:
    """Seed 004's generation loop: one noise vector per (eager) model call, one image file per
    sample, the raw table rows kept in a list and pickled at the end. Returns seconds.

    To compare like with like, the image is resized to the same output size and written as the
    same PNG (zlib level 1) as ``generate_shards`` writes (the seed wrote JPEGs); the rows are not decoded
    (as in the seed), which ``generate_shards`` does on top, so the speed-up is a lower bound."""
    import tensorflow as tf
    from PIL import Image

    model, spec = gen._gan.generator, gen.image_spec
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for i in range(num_samples):
        noise = tf.constant(rng.standard_normal((1, gen.profile.latent_dim)), tf.float32)
        image, row = model(noise, training=False)
        if spec.shape is not None:
            image = tf.image.resize(image, spec.shape, method="bilinear")
        pixels = spec.from_unit(image[0].numpy())[..., 0]
        Image.fromarray(pixels).save(out / f"{i}.png", compress_level=1)  # as generate_shards
        rows.append(row.numpy())
    with open(out / "dataset_pred.pickle", "wb") as fh:
        pickle.dump(rows, fh)
    return time.perf_counter() - started


def run_throughput(args) -> None:
    from augkit.generate.bulk import generate_shards

    gen = _load_model()
    work = WORK / "throughput"
    shutil.rmtree(work, ignore_errors=True)
    seed_loop(gen, 20, work / "warmup-seed")  # first eager calls build kernels
    generate_shards(gen, 256, work / "warmup-bulk", progress=False)
    rounds = []
    for r in range(args.rounds):  # interleaved: both ways meet the same load, round by round
        naive_s = seed_loop(gen, args.naive_samples, work / f"seed-{r}")
        bulk = generate_shards(gen, args.bulk_samples, work / f"bulk-{r}", shard_size=10_000, batch_size=256,
                               progress=False)
        shutil.rmtree(work / f"seed-{r}", ignore_errors=True)
        shutil.rmtree(work / f"bulk-{r}", ignore_errors=True)
        rounds.append({"round": r, "seed_way_samples_per_second": round(args.naive_samples / naive_s, 1),
                       "generate_shards_samples_per_second": round(bulk["samples_per_second"], 1),
                       "speedup": round(bulk["samples_per_second"] / (args.naive_samples / naive_s), 2),
                       "load_average": os.getloadavg()})
        print(json.dumps(rounds[-1]), flush=True)
    memory = {n: _memory_child(n, work / f"mem-{n}") for n in args.memory_samples}
    shutil.rmtree(work, ignore_errors=True)
    speedups = [r["speedup"] for r in rounds]
    result = {
        "command_args": "".join(f" {a}" for a in sys.argv[2:]),
        "machine": platform.platform(), "cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
        "model": str(MODEL_DIR), "profile": gen.profile.name, "image_size": gen.profile.size,
        "output_shape": list(gen.image_spec.shape or (gen.profile.size, gen.profile.size)),
        "table_columns": len(gen.table.columns),
        "seed_way_samples": args.naive_samples, "generate_shards_samples": args.bulk_samples,
        "batch_size": 256, "shard_size": 10_000, "rounds": rounds,
        "speedup_median": round(statistics.median(speedups), 2),
        "speedup_range": [min(speedups), max(speedups)],
        "peak_memory": memory,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    from augkit.evaluate.provenance import provenance
    result["provenance"] = provenance()  # the code, packages and machine of this result
    (RESULTS / "throughput.json").write_text(json.dumps(result, indent=1))
    (RESULTS / "throughput.md").write_text(_throughput_md(result))
    print(json.dumps(result, indent=1))


def run_memory(args) -> None:
    """Peak memory only (one fresh process per size), added to the last throughput run's files:
    the speed-up rounds and the memory sizes need not share one long run."""
    path = RESULTS / "throughput.json"
    result = json.loads(path.read_text())
    work = WORK / "memory"
    result["peak_memory"] = {str(n): _memory_child(n, work / f"mem-{n}") for n in args.sizes}
    result["peak_memory_load_average"] = os.getloadavg()
    shutil.rmtree(work, ignore_errors=True)
    from augkit.evaluate.provenance import provenance
    result["provenance"] = provenance()  # the code, packages and machine of this result
    path.write_text(json.dumps(result, indent=1))
    (RESULTS / "throughput.md").write_text(_throughput_md(result))
    print(json.dumps(result["peak_memory"], indent=1))


def _memory_child(num_samples: int, out: Path) -> dict:
    cmd = [sys.executable, __file__, "_memory", str(num_samples), str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _rss_mib() -> float:
    with open("/proc/self/status") as fh:
        fields = dict(line.split(":", 1) for line in fh if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024


def run_memory_child(num_samples: int, out: Path) -> None:
    from augkit.generate.bulk import generate_shards

    gen = _load_model()
    generate_shards(gen, 256, out.with_name(out.name + "-warmup"), progress=False)
    before = _rss_mib()
    summary = generate_shards(gen, num_samples, out, shard_size=10_000, batch_size=256, progress=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    shutil.rmtree(out, ignore_errors=True)
    print(json.dumps({"samples": num_samples, "rss_before_mib": round(before, 1),
                      "peak_rss_mib": round(peak, 1), "seconds": round(summary["seconds"], 1),
                      "samples_per_second": round(summary["samples_per_second"], 1)}))


def _throughput_md(r: dict) -> str:
    rounds = "\n".join(f"| {x['round'] + 1} | {x['seed_way_samples_per_second']} | "
                       f"{x['generate_shards_samples_per_second']} | {x['speedup']}× | "
                       f"{', '.join(f'{v:.1f}' for v in x['load_average'])} |" for x in r["rounds"])
    mem = "\n".join(f"| {m['samples']:,} | {m['rss_before_mib']:.0f} | {m['peak_rss_mib']:.0f} | "
                    f"{m['samples_per_second']:.0f} |" for m in r["peak_memory"].values())
    memory = f"""
Peak resident memory of a fresh process that loads the model and runs `generate_shards`
(RSS before generating, peak RSS; shards of 10,000; `tabimage_generation.py memory SIZES`, load average
{', '.join(f'{v:.1f}' for v in r.get('peak_memory_load_average', []))}). Flat means the peak does not grow
with the number of samples:

| samples | RSS before (MiB) | peak RSS (MiB) | samples/s |
|---:|---:|---:|---:|
{mem}
""" if r["peak_memory"] else "\nPeak memory was not measured in this run.\n"
    return f"""# tabimage bulk generation

Model: `{r['profile']}` profile ({r['image_size']}×{r['image_size']} network, images written at
{r['output_shape'][0]}×{r['output_shape'][1]}, FLAIR) + a {r['table_columns']}-column patient row, trained on
the LGG slices joined to the authors' patient table (`python benchmarks/tabimage_generation.py report`);
measured with `python benchmarks/tabimage_generation.py throughput{r.get('command_args', '')}`.
Machine: {r['machine']}, {r['cpu_count']} CPUs, shared with other jobs (the load averages below).

Rounds alternate the two ways (seed 004's loop on {r['seed_way_samples']:,} samples: one model call + one
PNG write per sample, raw rows pickled; then `generate_shards` on {r['generate_shards_samples']:,} samples:
batch {r['batch_size']}, PNG + one table.csv per shard), so both meet the same load:

| round | seed loop, samples/s | `generate_shards`, samples/s | speed-up | load average (1, 5, 15 min) after the round |
|---:|---:|---:|---:|---|
{rounds}

Speed-up, median of {len(r['rounds'])} rounds: **{r['speedup_median']}×** (range {r['speedup_range'][0]}–{r['speedup_range'][1]}×).
The seed loop does not decode its rows, `generate_shards` does, so the ratio is a lower bound.
{memory}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report")
    rep.add_argument("--minutes", type=float, default=9.5, help="training wall-clock budget")
    rep.add_argument("--epochs", type=int, default=None, help="profile epochs (default: the cpu profile's)")
    rep.add_argument("--chunk", type=int, default=25, help="epochs between budget checks")
    rep.add_argument("--num-samples", type=int, default=2000)
    rep.add_argument("--seed", type=int, default=0)
    rep.add_argument("--quiet", action="store_true")
    thr = sub.add_parser("throughput")
    thr.add_argument("--naive-samples", type=int, default=200)
    thr.add_argument("--bulk-samples", type=int, default=2000)
    thr.add_argument("--rounds", type=int, default=3)
    thr.add_argument("--memory-samples", type=int, nargs="*", default=[])
    mm = sub.add_parser("memory", help="peak RSS of generate_shards at several sizes (flat = no growth with N)")
    mm.add_argument("sizes", type=int, nargs="+")
    sub.add_parser("redraw", help="grids and table report again from the last report run's samples")
    sub.add_parser("agreement", help="a real-trained grade classifier on real test slices and generated pairs")
    mem = sub.add_parser("_memory")
    mem.add_argument("num_samples", type=int)
    mem.add_argument("out", type=Path)
    args = parser.parse_args()
    if args.command == "report":
        run_report(args)
    elif args.command == "throughput":
        run_throughput(args)
    elif args.command == "memory":
        run_memory(args)
    elif args.command == "redraw":
        run_redraw(args)
    elif args.command == "agreement":
        run_agreement(args)
    else:
        run_memory_child(args.num_samples, args.out)


if __name__ == "__main__":
    main()
