"""The joint image + table generator (seed 004) on real data, and bulk generation speed.

    python benchmarks/tabimage_generation.py report       # train (≤ 10 min CPU) + synthetic-table report
    python benchmarks/tabimage_generation.py throughput   # generate_shards vs the seed's loop; memory

``report`` joins the LGG slices of ``../shared/data/lgg/{train30,val}`` to a table and trains
``tabimage`` (profile ``cpu``, FLAIR channel, 64×64) within a wall-clock budget, saves the
model to ``/work/models/tabimage_cpu_lgg``, generates 2,000 samples with ``generate_shards``,
reads them back with ``read_dataset`` and writes under ``benchmarks/results/tabimage/``:
``report/`` (``evaluate_tables``: PNGs, ``report.html``, ``metrics.json``), ``samples.png``
(generated images with their rows vs real ones), ``losses.png`` and ``lgg_run.json``.

The table: the authors' per-patient table ``patients_*.csv`` joined by ``Patient`` (id taken
from the image path with ``id_pattern``), when those files have rows. The copies in
``../shared/data/lgg`` hold a header and no rows, so the run falls back to a per-slice table
measured on the real images and masks (tissue source site from the TCGA id, slice number,
tumour area, side, vertical position, number of tumour parts, brain area, FLAIR contrast of the
tumour, mean pre-/post-contrast T1 intensity, missing where that sequence was not acquired and
the authors filled the channel with FLAIR). ``lgg_run.json`` says which table was used. The
derived table is written to the work folder, not the repository.

``throughput`` measures, in one run on the trained model, samples per second of
``generate_shards`` (batched, sharded) and of the seed's way (one model call per sample, one
JPEG write per sample, rows pickled at the end), and the peak memory (RSS, in a fresh
subprocess each) of generating 10,000 and 100,000 samples with ``generate_shards``. Results:
``throughput.json`` and ``throughput.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "../shared/data/lgg"
RESULTS = REPO / "benchmarks/results/tabimage"
MODEL_DIR = Path("/work/models/tabimage_cpu_lgg")
WORK = Path(os.environ.get("AUGKIT_BENCH_WORK", "/tmp/augkit-tabimage-bench"))
SPLITS = ("train30", "val")
PATIENT_PATTERN = r"(TCGA_[A-Z0-9]+_[A-Z0-9]+)"
TARGET_PATIENTS, TARGET_SLICES = "death01", "institution"


# --------------------------------------------------------------------------- data
def slice_table(samples) -> "pd.DataFrame":
    """Per-slice measurements of the real LGG images and masks (see the module docstring)."""
    import pandas as pd
    from scipy import ndimage

    rows = []
    for s in samples:
        image, mask = s.image.astype(np.float64), s.mask > 0
        name = s.id.rsplit("/", 1)[-1]
        flair = image[..., 1]
        brain = flair > 20
        ys, xs = np.nonzero(mask)
        pre_missing = np.array_equal(s.image[..., 0], s.image[..., 1])
        post_missing = np.array_equal(s.image[..., 2], s.image[..., 1])
        rows.append({
            "id": name, "institution": name.split("_")[1], "slice_index": int(name.rsplit("_", 1)[1]),
            "tumour_area_pct": round(100 * mask.mean(), 3),
            "tumour_side": "left" if xs.mean() < mask.shape[1] / 2 else "right",
            "tumour_row": round(ys.mean() / mask.shape[0], 3),
            "multifocal": int(ndimage.label(mask)[1] > 1),
            "brain_area_pct": round(100 * brain.mean(), 2),
            "tumour_flair_ratio": round(flair[mask].mean() / flair[brain].mean(), 3),
            "pre_contrast_mean": np.nan if pre_missing else round(image[..., 0][brain].mean(), 2),
            "post_contrast_mean": np.nan if post_missing else round(image[..., 2][brain].mean(), 2),
        })
    return pd.DataFrame(rows)


def read_lgg() -> tuple[list, dict]:
    """LGG train30 + val as tabimage samples (FLAIR only) and how the table was found."""
    from augkit.errors import DataError
    from augkit.io import read_dataset

    samples, problems = [], []
    try:
        for split in SPLITS:
            samples += read_dataset(DATA / split, format="tabimage", table=DATA / f"patients_{split}.csv",
                                    id_column="Patient", id_pattern=PATIENT_PATTERN, channels="1").samples
        return samples, {"table": "patients_*.csv (authors' per-patient table)", "target": TARGET_PATIENTS}
    except DataError as exc:
        problems.append(str(exc))
    WORK.mkdir(parents=True, exist_ok=True)
    samples = []
    for split in SPLITS:
        table = WORK / f"lgg_slices_{split}.csv"
        slice_table(read_dataset(DATA / split).samples).to_csv(table, index=False)
        samples += read_dataset(DATA / split, format="tabimage", table=table, id_column="id",
                                channels="1").samples
    return samples, {"table": "per-slice measurements of the real images and masks (fallback)",
                     "why_fallback": problems[0], "target": TARGET_SLICES}


# --------------------------------------------------------------------------- report
def run_report(args) -> None:
    import pandas as pd

    from augkit.bulk import generate_shards
    from augkit.evaluate.table_report import evaluate_tables
    from augkit.io import read_dataset
    from augkit.training import save_image_grid, write_history
    from augkit_tabimage.generator import TabImage

    samples, table_info = read_lgg()
    print(f"{len(samples)} real samples; table: {table_info['table']}", flush=True)
    ckpt = WORK / "checkpoints"
    shutil.rmtree(ckpt, ignore_errors=True)
    gen = TabImage("cpu", seed=args.seed)
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
    real_df = pd.DataFrame([s.features for s in samples])
    synth_df = pd.DataFrame([s.features for s in synthetic.samples])
    violin = None if "age_at_initial_pathologic" in real_df.columns else "tumour_area_pct"
    metrics = evaluate_tables(real_df, synth_df, RESULTS / "report", target=table_info["target"],
                              seed=args.seed, age_column=violin)

    real = [s.image for s in samples[::max(1, len(samples) // 8)][:8]]
    fakes = synthetic.samples[:24]
    rows = [[f.image for f in fakes[r * 8:(r + 1) * 8]] for r in range(3)] + [real]
    save_image_grid(RESULTS / "samples.png", rows, title=f"tabimage cpu ({gen.profile.size} px model), "
                    f"{gen.epochs_trained} epochs: generated (rows 1-3), real FLAIR (row 4)")
    caption_rows = [[f.image for f in fakes[:6]]]
    titles = [_row_caption(f.features) for f in fakes[:6]]
    save_image_grid(RESULTS / "samples_with_rows.png", caption_rows, column_titles=titles, cell_inches=2.4)
    write_history({k: v for k, v in gen.history.items() if k != "seconds"}, RESULTS / "history.csv",
                  RESULTS / "losses.png", title="tabimage cpu on LGG")
    run = {
        "machine": platform.platform(), "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "data": {"real_samples": len(samples), "splits": list(SPLITS), **table_info,
                 "columns": list(real_df.columns)},
        "profile": "cpu", "size": gen.profile.size, "channels": "FLAIR",
        "epochs_trained": gen.epochs_trained, "train_seconds": round(train_seconds, 1),
        "budget_minutes": args.minutes, "checkpoint_hash": gen.checkpoint_hash,
        "generation": {k: summary[k] for k in ("samples_written", "seconds", "samples_per_second")},
        "table_report": {k: metrics.get(k) for k in ("flagged_columns", "biggest_difference",
                                                      "mean_column_score", "detection_auc")},
        "correlation": metrics["correlation"], "utility": metrics.get("utility"),
        "privacy": metrics["privacy"],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "lgg_run.json").write_text(json.dumps(run, indent=1, default=str))
    (RESULTS / "lgg_run.md").write_text(_report_md(run))
    print(json.dumps(run, indent=1, default=str))


def _report_md(run: dict) -> str:
    u = run.get("utility") or {}
    names = ("auc", "accuracy", "precision", "recall", "f1")

    def row(key):
        scores = u.get(key, {})
        return " | ".join(f"{scores[n]:.2f}" if isinstance(scores.get(n), (int, float)) else "–" for n in names)

    t, p, c = run["table_report"], run["privacy"], run["correlation"]
    return f"""# tabimage on LGG (seed 004's joint image + table GAN)

`python benchmarks/tabimage_generation.py report` on {run['cpu_count']} shared CPU cores (load average
at the end {', '.join(f'{x:.1f}' for x in run['load_average_at_end'])}).

- Data: {run['data']['real_samples']} LGG slices ({' + '.join(run['data']['splits'])}), FLAIR channel,
  each with a row of {len(run['data']['columns'])} columns. Table: {run['data']['table']}.
  {('Why: ' + run['data']['why_fallback']) if run['data'].get('why_fallback') else ''}
- Model: profile `{run['profile']}` ({run['size']}×{run['size']} network, images written at the input's
  256×256), {run['epochs_trained']} epochs in {run['train_seconds'] / 60:.1f} min (budget {run['budget_minutes']} min).
- Generated {run['generation']['samples_written']:,} samples with `generate_shards`
  ({run['generation']['samples_per_second']:.0f} samples/s), read back with `read_dataset`.

Images: `samples.png` (generated rows 1-3, real row 4), `samples_with_rows.png`. Table report:
`report/report.html` (+ PNGs, `metrics.json`).

| check | value |
|---|---|
| flagged columns (KS / TVD > 0.2) | {', '.join(t['flagged_columns']) or 'none'} |
| biggest difference | {t['biggest_difference']} |
| mean column score (KS / TVD) | {t['mean_column_score']:.3f} |
| real-vs-synthetic detection AUC (0.5 = indistinguishable) | {t['detection_auc']:.3f} |
| correlation difference, mean / max abs | {c['mean_abs_diff']:.3f} / {c['max_abs_diff']:.3f} |
| exact / near copies of real rows | {p['share_exact_copies']:.1%} / {p['share_near_copies']:.1%} |
| median distance to closest real row (synthetic) vs real-to-real | {p['dcr_median']:.3f} vs {p['real_loo_median']:.3f} |

Utility for predicting `{u.get('target')}` ({u.get('model')} classifier, tested on {u.get('num_real_test')} held-out real rows):

| trained on | AUC | accuracy | precision | recall | F1 |
|---|---:|---:|---:|---:|---:|
| {u.get('num_real_train')} real rows | {row('trtr')} |
| {u.get('num_synthetic_train')} synthetic rows | {row('tstr')} |
"""


def _row_caption(features: dict) -> str:
    """Four fields of a generated row, short enough to sit above a 2.4-inch image."""
    def show(v):
        return f"{v:.2f}" if isinstance(v, float) else str(v)

    keys = [k for k in ("institution", "tumour_side", "tumour_area_pct", "slice_index") if k in features] \
        or list(features)[:4]
    return "\n".join(f"{k[:16]}: {show(features[k])}" for k in keys)


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
    from augkit.bulk import generate_shards

    gen = _load_model()
    work = WORK / "throughput"
    shutil.rmtree(work, ignore_errors=True)
    seed_loop(gen, 20, work / "warmup-seed")  # first eager calls build kernels
    generate_shards(gen, 256, work / "warmup-bulk", progress=False)
    naive_s = seed_loop(gen, args.naive_samples, work / "seed")
    bulk = generate_shards(gen, args.bulk_samples, work / "bulk", shard_size=10_000, batch_size=256,
                           progress=False)
    naive_rate = args.naive_samples / naive_s
    bulk_rate = bulk["samples_per_second"]
    memory = {n: _memory_child(n, work / f"mem-{n}") for n in args.memory_samples}
    shutil.rmtree(work, ignore_errors=True)
    result = {
        "machine": platform.platform(), "cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
        "model": str(MODEL_DIR), "profile": gen.profile.name, "image_size": gen.profile.size,
        "output_shape": list(gen.image_spec.shape or (gen.profile.size, gen.profile.size)),
        "table_columns": len(gen.table.columns),
        "seed_way": {"samples": args.naive_samples, "seconds": round(naive_s, 2),
                     "samples_per_second": round(naive_rate, 1)},
        "generate_shards": {"samples": args.bulk_samples, "seconds": round(bulk["seconds"], 2),
                            "samples_per_second": round(bulk_rate, 1), "batch_size": 256,
                            "shard_size": 10_000},
        "speedup": round(bulk_rate / naive_rate, 2),
        "peak_memory": memory,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "throughput.json").write_text(json.dumps(result, indent=1))
    (RESULTS / "throughput.md").write_text(_throughput_md(result))
    print(json.dumps(result, indent=1))


def _memory_child(num_samples: int, out: Path) -> dict:
    cmd = [sys.executable, __file__, "_memory", str(num_samples), str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _rss_mib() -> float:
    with open("/proc/self/status") as fh:
        fields = dict(line.split(":", 1) for line in fh if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024


def run_memory_child(num_samples: int, out: Path) -> None:
    from augkit.bulk import generate_shards

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
    mem = "\n".join(f"| {m['samples']:,} | {m['rss_before_mib']:.0f} | {m['peak_rss_mib']:.0f} | "
                    f"{m['samples_per_second']:.0f} |" for m in r["peak_memory"].values())
    return f"""# tabimage bulk generation

Model: `{r['profile']}` profile ({r['image_size']}×{r['image_size']} network, images written at
{r['output_shape'][0]}×{r['output_shape'][1]}, FLAIR) + a {r['table_columns']}-column row, trained on LGG
(`python benchmarks/tabimage_generation.py report`). Machine: {r['machine']}, {r['cpu_count']} CPUs
(load average during the run {', '.join(f'{x:.1f}' for x in r['load_average'])}; the cores are shared).

| way | samples | seconds | samples/s |
|---|---:|---:|---:|
| seed 004's loop: one model call + one image write per sample, raw rows pickled | {r['seed_way']['samples']:,} | {r['seed_way']['seconds']} | {r['seed_way']['samples_per_second']} |
| `generate_shards` (batch 256, PNG + one table.csv per 10,000-sample shard) | {r['generate_shards']['samples']:,} | {r['generate_shards']['seconds']} | {r['generate_shards']['samples_per_second']} |

Speed-up measured in the same run: **{r['speedup']}×**.

Peak resident memory of a fresh process that loads the model and runs `generate_shards`
(RSS before generating, peak RSS):

| samples | RSS before (MiB) | peak RSS (MiB) | samples/s |
|---:|---:|---:|---:|
{mem}

At the 100,000-sample rate, seed 004's 1,500,000 samples take about
{1_500_000 / max(1.0, list(r['peak_memory'].values())[-1]['samples_per_second']) / 60:.0f} minutes on this machine.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report")
    rep.add_argument("--minutes", type=float, default=9.5, help="training wall-clock budget")
    rep.add_argument("--chunk", type=int, default=25, help="epochs between budget checks")
    rep.add_argument("--num-samples", type=int, default=2000)
    rep.add_argument("--seed", type=int, default=0)
    rep.add_argument("--quiet", action="store_true")
    thr = sub.add_parser("throughput")
    thr.add_argument("--naive-samples", type=int, default=500)
    thr.add_argument("--bulk-samples", type=int, default=10_000)
    thr.add_argument("--memory-samples", type=int, nargs="+", default=[10_000, 100_000])
    mem = sub.add_parser("_memory")
    mem.add_argument("num_samples", type=int)
    mem.add_argument("out", type=Path)
    args = parser.parse_args()
    if args.command == "report":
        run_report(args)
    elif args.command == "throughput":
        run_throughput(args)
    else:
        run_memory_child(args.num_samples, args.out)


if __name__ == "__main__":
    main()
