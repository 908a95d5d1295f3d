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
import platform
import shutil
import statistics
import sys
from pathlib import Path

from augkit_tabimage.reports import report_md, selection_md

REPO = Path(__file__).resolve().parents[1]
DATA = (REPO / "../shared/data/lgg").resolve()
RESULTS = Path(os.environ.get("AUGKIT_TABIMAGE_RESULTS", REPO / "benchmarks/results/tabimage"))
WORK = Path(os.environ.get("AUGKIT_BENCH_WORK", "/tmp/augkit-tabimage-bench"))
MODEL_DIR = Path(os.environ.get("AUGKIT_TABIMAGE_MODEL", WORK / "model"))
TRAIN_SPLITS, TEST_SPLIT = ("train30", "val"), "test"
TARGETS = ("neoplasm_histologic_grade", "death01")
#: the read options of every split: the slice's folder is the patient's ``case``
READ = {"id_column": "case", "id_pattern": r"^([^/]+)/", "drop_columns": "Patient", "channels": "1"}
SCRIPT = "benchmarks/tabimage_generation.py"


def read_split(split: str):
    from augkit.io import read_dataset

    return read_dataset(DATA / split, format="tabimage", table=DATA / f"patients_{split}.csv", **READ).samples


def read_train():
    return [s for split in TRAIN_SPLITS for s in read_split(split)]


def read_synthetic(run: dict):
    """The last ``report`` run's samples, refused if another model made them."""
    from augkit.io import read_dataset

    synthetic = read_dataset(WORK / "bulk").samples
    assert synthetic[0].provenance.checkpoint_hash == run["checkpoint_hash"], "another model's samples"
    return synthetic


def table_report(samples, synthetic, seed: int) -> dict:
    import pandas as pd

    from augkit.evaluate.table_report import evaluate_tables
    from augkit.tables.patients import patient_table

    shutil.rmtree(RESULTS / "report", ignore_errors=True)
    return evaluate_tables(patient_table(samples), pd.DataFrame([s.features for s in synthetic]),
                           RESULTS / "report", target=list(TARGETS), test_df=patient_table(read_split(TEST_SPLIT)),
                           seed=seed, age_column="age_at_initial_pathologic")


def write_run(run: dict) -> None:
    from augkit.evaluate.provenance import provenance

    run["provenance"] = provenance()  # the code, packages and machine of this result
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "lgg_run.json").write_text(json.dumps(run, indent=1, default=str))
    (RESULTS / "lgg_run.md").write_text(report_md(run, SCRIPT))


def run_report(args) -> None:
    from augkit.generate.bulk import generate_shards
    from augkit.generators.budget import fit_within_budget
    from augkit.generators.training import write_history
    from augkit.io import read_dataset
    from augkit.tables.patients import patient_table
    from augkit_tabimage.generator import TabImage
    from augkit_tabimage.grids import draw_grids

    samples, test = read_train(), read_split(TEST_SPLIT)
    train_patients, test_patients = {s.meta["table_id"] for s in samples}, {s.meta["table_id"] for s in test}
    assert not train_patients & test_patients, "a test patient is among the training patients"
    print(f"{len(samples)} training slices of {len(train_patients)} patients; {len(test)} test slices of "
          f"{len(test_patients)} patients", flush=True)
    if args.reuse_model:  # the model of the last report run, not trained again
        previous = json.loads((RESULTS / "lgg_run.json").read_text())
        gen = TabImage.load(MODEL_DIR)
        assert gen.checkpoint_hash == previous["checkpoint_hash"], "another model than the last report run's"
        overrides, train_seconds = previous.get("overrides", {}), previous["train_seconds"]
    else:
        shutil.rmtree(WORK / "checkpoints", ignore_errors=True)
        overrides = dict(args.override or {})
        gen = TabImage("cpu", seed=args.seed, **({"epochs": args.epochs} if args.epochs else {}), **overrides)
        train_seconds = fit_within_budget(gen, samples, minutes=args.minutes, chunk=args.chunk, seed=args.seed,
                                          checkpoint_dir=WORK / "checkpoints", progress=not args.quiet,
                                          on_chunk=lambda e, s: print(f"epoch {e}: {s:.0f} s", flush=True))
        gen.save(MODEL_DIR)
    drop_rows = None
    if args.drop_near_copies:  # generate --drop-near-copies: against the 40 training patients' rows
        from augkit.evaluate.table_privacy import NearestRecord
        from augkit.tables.patients import patient_rows

        drop_rows = NearestRecord(*patient_rows(samples))
    shutil.rmtree(WORK / "bulk", ignore_errors=True)
    summary = generate_shards(gen, args.num_samples, WORK / "bulk", seed=args.seed, shard_size=1000,
                              batch_size=256, progress=not args.quiet, drop_rows=drop_rows)
    synthetic = read_dataset(WORK / "bulk").samples  # detected as the ``shards`` format
    metrics = table_report(samples, synthetic, args.seed)
    draw_grids(RESULTS, samples, synthetic, gen.epochs_trained, gen.profile.size)
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
                 "columns": list(patient_table(samples).columns)},
        "profile": "cpu", "overrides": overrides, "size": gen.profile.size, "channels": "FLAIR",
        "epochs_trained": gen.epochs_trained, "train_seconds": round(train_seconds, 1),
        "budget_minutes": args.minutes, "checkpoint_hash": gen.checkpoint_hash, "seed": args.seed,
        "generation": {k: summary[k] for k in ("samples_written", "seconds", "samples_per_second",
                                                "near_copies_dropped") if k in summary},
        "drop_near_copies": bool(args.drop_near_copies),
        "table_report": {k: metrics.get(k) for k in ("flagged_columns", "biggest_difference",
                                                      "mean_column_score", "detection_auc")},
        "correlation": metrics["correlation"], "utility": metrics.get("utility"),
        "privacy": metrics["privacy"],
    }
    write_run(run)
    print(json.dumps(run, indent=1, default=str))


def run_redraw(args) -> None:
    """The grids, the table report and ``lgg_run.md`` again from the last ``report`` run's samples
    (``$AUGKIT_BENCH_WORK/bulk``), no training: after a change to the report's code."""
    from augkit_tabimage.grids import draw_grids

    run = json.loads((RESULTS / "lgg_run.json").read_text())
    samples, synthetic = read_train(), read_synthetic(run)
    draw_grids(RESULTS, samples, synthetic, run["epochs_trained"], run["size"])
    metrics = table_report(samples, synthetic, run.get("seed", 0))
    run.update(utility=metrics.get("utility"), privacy=metrics["privacy"], correlation=metrics["correlation"])
    write_run(run)


def run_agreement(args) -> None:
    """Does a generated image agree with its generated row? (``augkit.evaluate.image_row_agreement``
    on the grade, with the last ``report`` run's generated pairs.)"""
    from augkit.evaluate.image_row_agreement import agreement_markdown, image_row_agreement
    from augkit.evaluate.provenance import provenance

    run = json.loads((RESULTS / "lgg_run.json").read_text())
    result = image_row_agreement(read_train(), read_split(TEST_SPLIT), read_synthetic(run), TARGETS[0],
                                 checkpoint_hash=run["checkpoint_hash"])
    result["provenance"] = provenance()  # the code, packages and machine of this result
    (RESULTS / "agreement.json").write_text(json.dumps(result, indent=1))
    (RESULTS / "agreement.md").write_text(agreement_markdown(result, f"python {SCRIPT} agreement"))
    print(json.dumps(result, indent=1))


def run_select(args) -> None:
    """Choose the set-up on validation: train on ``train30`` only, score each stop on the ``val``
    patients (``augkit_tabimage.selection``), for each ``--config`` (a JSON object of profile
    overrides). Writes ``selection.json`` / ``selection.md``; the test patients are not read."""
    from augkit.evaluate.provenance import provenance
    from augkit_tabimage.generator import TabImage
    from augkit_tabimage.selection import choose, score_stop

    train, val = read_split("train30"), read_split("val")
    configs = [json.loads(c) for c in args.config] or [{}]
    out = RESULTS / "selection.json"
    result = json.loads(out.read_text()) if out.exists() and args.append else {"configs": []}
    for overrides in configs:
        gen = TabImage("cpu", seed=args.seed, **overrides)
        stops = []
        for epochs in args.stops:
            gen.fit(train, epochs=epochs, seed=args.seed, progress=False)
            stop = score_stop(gen, train, val, WORK / "select-report", target=TARGETS[0],
                              num_samples=args.num_samples, seed=args.seed)
            print(json.dumps({"overrides": overrides, **stop}), flush=True)
            stops.append(stop)
        # each configuration keeps the command, load and code it was run with (--append adds
        # to a file made by other commands)
        result["configs"].append({"overrides": overrides, "stops": stops, "chosen": choose(stops),
                                  "command_args": "".join(f" {a}" for a in sys.argv[2:]),
                                  "load_average_at_end": os.getloadavg(), "provenance": provenance()})
    result.update(command_args=" | ".join(dict.fromkeys(c.get("command_args", "") for c in result["configs"])),
                  train_split="train30", val_split="val", target=TARGETS[0], num_samples=args.num_samples,
                  provenance=provenance())
    RESULTS.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str))
    (RESULTS / "selection.md").write_text(selection_md(result, SCRIPT))


def run_compare(args) -> None:
    """Before / after table of two ``report`` + ``agreement`` runs (``augkit_tabimage.reports``)."""
    from augkit.evaluate.provenance import provenance
    from augkit_tabimage.reports import before_after, before_after_md

    rows = before_after(args.before, args.after, TARGETS[0], REPO)
    result = {"command_args": "".join(f" {a}" for a in sys.argv[2:]), **rows, "provenance": provenance()}
    (args.after / "before_after.json").write_text(json.dumps(result, indent=1, default=str))
    md = before_after_md(rows, f"python {SCRIPT} compare{result['command_args']}")
    (args.after / "before_after.md").write_text(md)
    print(md, end="")


def run_select_merge(args) -> None:
    """One ``selection.json`` / ``.md`` in ``RESULTS`` from ``select`` runs made side by side
    (one configuration each, in their own folders); each keeps its own provenance."""
    from augkit.evaluate.provenance import provenance

    parts = [json.loads((folder / "selection.json").read_text()) for folder in args.folders]
    result = {k: parts[0][k] for k in ("train_split", "val_split", "target", "num_samples")}
    result["configs"] = [{**c, "command_args": p["command_args"], "load_average_at_end": p["load_average_at_end"],
                          "provenance": p["provenance"]} for p in parts for c in p["configs"]]
    result["command_args"] = " | ".join(p["command_args"] for p in parts)
    result["provenance"] = provenance()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "selection.json").write_text(json.dumps(result, indent=1, default=str))
    (RESULTS / "selection.md").write_text(selection_md(result, SCRIPT))


# --------------------------------------------------------------------------- throughput
def load_model():
    from augkit_tabimage.generator import TabImage

    if not (MODEL_DIR / "config.json").exists():
        sys.exit(f"no trained model in {MODEL_DIR}; run `python {Path(__file__).name} report` first")
    return TabImage.load(MODEL_DIR)


def memory_in_fresh_process(num_samples: int, out: Path) -> dict:
    from augkit.generate.timing import in_fresh_process

    return in_fresh_process([sys.executable, __file__, "_memory", str(num_samples), str(out)])


def write_throughput(result: dict) -> None:
    from augkit.evaluate.provenance import provenance
    from augkit_tabimage.seed_loop import throughput_markdown

    result["provenance"] = provenance()  # the code, packages and machine of this result
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "throughput.json").write_text(json.dumps(result, indent=1))
    (RESULTS / "throughput.md").write_text(throughput_markdown(result, SCRIPT))


def run_throughput(args) -> None:
    from augkit.generate.timing import BATCH_SIZE, SHARD_SIZE, timed_rounds
    from augkit_tabimage.seed_loop import seed_loop

    gen, work = load_model(), WORK / "throughput"
    rounds = timed_rounds(gen, seed_loop, rounds=args.rounds, baseline_samples=args.naive_samples,
                          bulk_samples=args.bulk_samples, work=work,
                          on_round=lambda r: print(json.dumps(r), flush=True))
    memory = {n: memory_in_fresh_process(n, work / f"mem-{n}") for n in args.memory_samples}
    shutil.rmtree(work, ignore_errors=True)
    speedups = [r["speedup"] for r in rounds]
    result = {
        "command_args": "".join(f" {a}" for a in sys.argv[2:]),
        "machine": platform.platform(), "cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
        "model": str(MODEL_DIR), "profile": gen.profile.name, "image_size": gen.profile.size,
        "output_shape": list(gen.image_spec.shape or (gen.profile.size, gen.profile.size)),
        "table_columns": len(gen.table.columns),
        "seed_way_samples": args.naive_samples, "generate_shards_samples": args.bulk_samples,
        "batch_size": BATCH_SIZE, "shard_size": SHARD_SIZE, "rounds": rounds,
        "speedup_median": round(statistics.median(speedups), 2),
        "speedup_range": [min(speedups), max(speedups)],
        "peak_memory": memory,
    }
    write_throughput(result)
    print(json.dumps(result, indent=1))


def run_memory(args) -> None:
    """Peak memory only (one fresh process per size), added to the last throughput run's files:
    the speed-up rounds and the memory sizes need not share one long run."""
    result = json.loads((RESULTS / "throughput.json").read_text())
    work = WORK / "memory"
    result["peak_memory"] = {str(n): memory_in_fresh_process(n, work / f"mem-{n}") for n in args.sizes}
    result["peak_memory_load_average"] = os.getloadavg()
    shutil.rmtree(work, ignore_errors=True)
    write_throughput(result)
    print(json.dumps(result["peak_memory"], indent=1))


def run_memory_child(args) -> None:
    from augkit.generate.timing import peak_memory

    print(json.dumps(peak_memory(load_model(), args.num_samples, args.out)))


def _override(text: str) -> tuple[str, object]:
    key, _, value = text.partition("=")
    return key, json.loads(value)


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
    rep.add_argument("--reuse-model", action="store_true", help="the last report run's model, not trained again")
    rep.add_argument("--drop-near-copies", action="store_true",
                     help="generate with the row near-copy filter (generate --drop-near-copies)")
    rep.add_argument("--override", type=_override, action="append", metavar="KEY=VALUE",
                     help="one profile field, e.g. row_noise=0.3 or row_to_image=true (repeatable)")
    thr = sub.add_parser("throughput")
    thr.add_argument("--naive-samples", type=int, default=200)
    thr.add_argument("--bulk-samples", type=int, default=2000)
    thr.add_argument("--rounds", type=int, default=3)
    thr.add_argument("--memory-samples", type=int, nargs="*", default=[])
    mm = sub.add_parser("memory", help="peak RSS of generate_shards at several sizes (flat = no growth with N)")
    mm.add_argument("sizes", type=int, nargs="+")
    sel = sub.add_parser("select", help="choose epochs and knobs on the val patients (train30 only)")
    sel.add_argument("--config", action="append", default=[], help='profile overrides as JSON, e.g. \'{"row_noise": 0.3}\'')
    sel.add_argument("--stops", type=int, nargs="+", default=[100, 200, 300, 400])
    sel.add_argument("--num-samples", type=int, default=500)
    sel.add_argument("--seed", type=int, default=0)
    sel.add_argument("--append", action="store_true", help="add to an existing selection.json")
    cmp_ = sub.add_parser("compare", help="before/after table of two report + agreement folders")
    cmp_.add_argument("--before", type=Path, default=REPO / "benchmarks/results/tabimage")
    cmp_.add_argument("--after", type=Path, default=RESULTS)
    sm = sub.add_parser("select-merge", help="one selection.json from select runs made side by side")
    sm.add_argument("folders", type=Path, nargs="+")
    sub.add_parser("redraw", help="grids and table report again from the last report run's samples")
    sub.add_parser("agreement", help="a real-trained grade classifier on real test slices and generated pairs")
    mem = sub.add_parser("_memory")
    mem.add_argument("num_samples", type=int)
    mem.add_argument("out", type=Path)
    args = parser.parse_args()
    {"report": run_report, "throughput": run_throughput, "memory": run_memory, "redraw": run_redraw,
     "agreement": run_agreement, "select": run_select, "select-merge": run_select_merge, "compare": run_compare, "_memory": run_memory_child}[args.command](args)


if __name__ == "__main__":
    main()
