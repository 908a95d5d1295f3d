"""Markdown and tables of the tabimage benchmark (``benchmarks/tabimage_generation.py``): the
run report, the validation choice of the set-up, and the before / after table of two runs.
Pure formatting over the JSON the benchmark writes, so a report can be redrawn from a
committed run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def auc_text(x) -> str:
    return "–" if x is None else f"{x:.2f}"


def generated_text(run: dict) -> str:
    g = run["generation"]
    if not run.get("drop_near_copies"):
        return f"Generated {g['samples_written']:,} samples"
    return (f"Generated {g['samples_written'] + g['near_copies_dropped']:,} samples and kept "
            f"{g['samples_written']:,}: {g['near_copies_dropped']:,} rows nearer a training row than the "
            "near-copy threshold were dropped (`--drop-near-copies`)")


def overrides_text(run: dict) -> str:
    o = run.get("overrides") or {}
    return "" if not o else " with " + ", ".join(f"`{k}={json.dumps(v)}`" for k, v in o.items())


def before_after(before: Path, after: Path, target: str, repo: Path) -> dict[str, Any]:
    """The near-copy share, the ``target``'s TSTR and TRTR on the test patients and the
    image–row agreement of two ``report`` + ``agreement`` runs (their folders' JSON files)."""
    rows = {}
    for name, folder in (("before", before), ("after", after)):
        run = json.loads((folder / "lgg_run.json").read_text())
        agreement = json.loads((folder / "agreement.json").read_text())
        assert agreement["checkpoint_hash"] == run["checkpoint_hash"], f"{folder}: agreement of another model"
        grade = run["utility"][target]
        rows[name] = {"folder": str(folder.relative_to(repo) if folder.is_relative_to(repo) else folder),
                      "overrides": run.get("overrides", {}), "epochs": run["epochs_trained"],
                      "share_near_copies": run["privacy"]["share_near_copies"],
                      "share_exact_copies": run["privacy"]["share_exact_copies"],
                      "dcr_median": run["privacy"]["dcr_median"],
                      "drop_near_copies": bool(run.get("drop_near_copies")),
                      "kept": run["generation"]["samples_written"],
                      "generated": run["generation"]["samples_written"]
                      + run["generation"].get("near_copies_dropped", 0),
                      "grade_tstr_auc": grade["tstr"]["auc"], "grade_trtr_auc": grade["trtr"]["auc"],
                      "image_row_auc_generated": agreement["synthetic"]["auc"],
                      "image_row_auc_real_test": agreement["real_test"]["auc"]}
    return rows


def before_after_md(rows: dict[str, Any], command: str) -> str:
    lines = ["# tabimage before / after (issue 23, item 4)", "",
             f"`{command}`: both trained on the 100 slices of the 40 "
             "train30 + val patients, judged on the 19 test patients with a grade; near copies against "
             "the 40 training rows (closer than the real rows' 5 % nearest-neighbour distance).", "",
             "| run | overrides | epochs | kept / generated | near copies | exact copies | median DCR | grade TSTR AUC | "
             "grade TRTR AUC | image–row AUC, generated pairs | image–row AUC, real test slices |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name in ("before", "after"):
        r = rows[name]
        lines.append(f"| {name} (`{r['folder']}`) | `{json.dumps(r['overrides'])}` | {r['epochs']} | "
                     f"{r['kept']:,} / {r['generated']:,}{' (--drop-near-copies)' if r['drop_near_copies'] else ''} | "
                     f"{r['share_near_copies']:.1%} | {r['share_exact_copies']:.1%} | {r['dcr_median']:.2f} | "
                     f"{auc_text(r['grade_tstr_auc'])} | {auc_text(r['grade_trtr_auc'])} | {auc_text(r['image_row_auc_generated'])} | "
                     f"{auc_text(r['image_row_auc_real_test'])} |")
    return "\n".join(lines) + "\n"


def selection_md(result: dict, script: str) -> str:
    lines = ["# tabimage set-up chosen on validation patients", "",
             f"`python {script} select{result['command_args']}`: trained on `{result['train_split']}`, "
             f"scored on the `{result['val_split']}` patients (never trained on here) with "
             f"{result['num_samples']} generated pairs per stop; target `{result['target']}`. "
             "Chosen: best TSTR among stops with at most 5 % near copies.", "",
             "| overrides | epochs | near copies | exact copies | TSTR AUC (val) | TRTR AUC (val) | "
             "image–row AUC (generated) | image–row AUC (real val) | chosen |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for c in result["configs"]:
        for s in c["stops"]:
            chosen = "yes" if c["chosen"] and c["chosen"]["epochs"] == s["epochs"] else ""
            lines.append(f"| `{json.dumps(c['overrides'])}` | {s['epochs']} | {s['share_near_copies']:.1%} | "
                         f"{s['share_exact_copies']:.1%} | {auc_text(s['tstr_auc'])} | {auc_text(s['trtr_auc'])} | "
                         f"{s['image_row_auc']} | {s['image_row_auc_real_val']} | {chosen} |")
    return "\n".join(lines) + "\n"


def report_md(run: dict, script: str) -> str:
    from augkit.evaluate.table_summary import checks_markdown, utility_markdown

    d = run["data"]
    return f"""# tabimage on LGG with the authors' patient rows (seed 004's joint image + table GAN)

`python {script} report{run.get('command_args', '')}` on {run['cpu_count']} shared CPU cores
(load average at the end {', '.join(f'{x:.1f}' for x in run['load_average_at_end'])}; another job's benchmark ran beside it).

- Data: {d['real_samples']} LGG slices of {d['training_patients']} patients ({' + '.join(d['splits'])}), FLAIR
  channel, each joined to its patient's row of {len(d['columns'])} columns from `patients_*.csv` (integer codes
  as shipped, empty cells kept as missing). Test: {d['test_slices']} slices of {d['test_patients']} other
  patients (`{d['test_split']}`), used only as the utility check's test rows and the privacy reference.
- Model: profile `{run['profile']}`{overrides_text(run)} ({run['size']}×{run['size']} network, images written at 256×256),
  {run['epochs_trained']} epochs in {run['train_seconds'] / 60:.1f} min (budget {run['budget_minutes']} min).
- {generated_text(run)} with `generate_shards`
  ({run['generation']['samples_per_second']:.0f} samples/s), read back with `read_dataset`.

Images: `samples.png` (generated rows 1-3, real row 4), `samples_with_rows.png` (generated images with
their generated rows; the same rows in `samples_with_rows.csv`), `real_with_rows.png`. Table report:
`report/report.html` (+ PNGs, `metrics.json`).

{checks_markdown(run["table_report"], run["privacy"], run["correlation"])}

## Utility, split by patient

{utility_markdown(run.get("utility"))}"""
