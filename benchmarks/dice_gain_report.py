"""The Dice-gain benchmark's report: the paired statistics over its runs (``summarise``), then
results.md, dice_by_condition.png, dice_vs_num_real.png and examples.png."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from augkit.evaluate.paired import compare_conditions
from dice_gain_setup import (ALL_CONDITIONS, BOOTSTRAP_SEED, CONDITIONS, FINETUNED, patient_of_id,
                             GAN_FRACTION, GAN_REGION, LESION_CONDITIONS, LESIONGAN_CONDITIONS,
                             MIXED_LESION_CONDITIONS, NUM_BOOTSTRAP, SUBSET_SEED, TISSUE_CONDITIONS, VARIANTS)

# the whole-slice pix2pix conditions (a GAN trained on the reals, shared or per subset)
PIX2PIX_CONDITIONS = ("gan", "classical+gan", "classical+gan@0.2", "classical+lesion") + TISSUE_CONDITIONS


def summarise(runs: list[dict], patients: list[str]) -> dict:
    """Mean ± std per condition and every condition's paired Δ test Dice against none and
    classical (seed t-interval, patient bootstrap)."""
    order = ALL_CONDITIONS + tuple(c + FINETUNED for c in ALL_CONDITIONS)
    summary = compare_conditions(runs, patients, order, num_resamples=NUM_BOOTSTRAP, seed=BOOTSTRAP_SEED)
    names = list(dict.fromkeys(n for r in runs for n in r["scores"]["test"].get("regions", {})))
    if names:  # BraTS: each region's Dice the same way (the first region is the reported "dice")
        summary["regions"] = {name: compare_conditions(
            [{**r, "scores": {sp: {"dice": r["scores"][sp]["regions"][name]["dice"],
                                   **({"per_slice_dice": r["scores"][sp]["regions"][name]["per_slice_dice"]}
                                      if sp == "test" else {})} for sp in ("train", "val", "test")}}
             for r in runs], patients, order, metrics=("dice",), num_resamples=NUM_BOOTSTRAP,
            seed=BOOTSTRAP_SEED) for name in names}
    return summary


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
    lines = [f"# Dice gain on real brain MRI ({results['data'].get('name', 'LGG FLAIR')}): profile "
             f"`{p['profile']}`", ""]
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
        f"{results['data']['test']['num_patients']} unseen patients (cases). Scores are per-slice means at "
        "each slice's own resolution (probabilities resized back, threshold 0.5).", "",
        f"## Table 1: {k_main} real slices (seed 001's layout)", "",
        "| Metric | " + " | ".join(f"{c} {sp}" for c in conds for sp in ("Train", "Val", "Test")) + " |",
        "|---|" + "---:|" * (3 * len(conds)),
    ]
    for metric, label in (("accuracy", "Accuracy"), ("mean_iou", "Mean IoU"), ("dice", "Dice")):
        cells = [fmt(s["table"][k_main][c][sp][metric]) for c in conds for sp in ("train", "val", "test")]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    variants = [c for c in VARIANTS + LESION_CONDITIONS + LESIONGAN_CONDITIONS + TISSUE_CONDITIONS
                + MIXED_LESION_CONDITIONS if c in s["table"][k_main]]
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
        if any(c in MIXED_LESION_CONDITIONS for c in variants):
            lines += ["`classical+lesionmix-k2@1`: as `classical+lesionmix@1`, but each added sample gets one "
                      "or two transplanted lesions (even odds; `--set max_lesions=2`), the second placed into "
                      "the result of the first, away from every lesion already there. "
                      "`classical+lesiongan-p0.5@1`: as `classical+lesiongan@1` (the same trained painter), "
                      "but only half of the placed lesions are painted; the other half keep the donor's "
                      "transplanted tissue (`paint_share=0.5`), so the set holds both kinds of new lesion.", ""]
        for sel in selections:
            lines += [f"Chosen on validation only ({sel['rule']}): "
                      + ", ".join(f"`{c}` val Dice {v:.3f}" for c, v in sel["val_dice_at_first_seed"].items())
                      + f" → **`{sel['chosen']}`** run at every reported seed; the other candidate ran at the "
                      "choosing seed only, so no t-interval." + choosing_seed_effect(results, sel, k_main), ""]
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
    if s.get("regions"):
        names = list(s["regions"])
        lines += ["", f"## BraTS regions ({k_main} real slices)", "",
                  "Whole tumour (WT, labels 1, 2, 4) is what the U-Net is trained and selected on; tumour core "
                  "(TC, labels 1, 4) and enhancing tumour (ET, label 4) are two more outputs of the same network, "
                  "scored on the same test slices (a slice where a region is absent in both truth and prediction "
                  "scores 1). Test Dice mean ± std over seeds; Δ vs classical with its 95 % bootstrap over test "
                  "cases (slices move with their case).", "",
                  "| condition | " + " | ".join(f"{n} test Dice | {n} Δ vs classical [case bootstrap]" for n in names)
                  + " |", "|---|" + "---:|---|" * len(names)]
        for c in [c for c in ALL_CONDITIONS if c in s["regions"][names[0]]["table"][k_main]]:
            cells = []
            for n in names:
                reg = s["regions"][n]
                d = next((d for d in reg["differences"] if d["num_real"] == int(k_main) and d["condition"] == c
                          and d["reference"] == "classical"), None)
                cells += [fmt(reg["table"][k_main][c]["test"]["dice"]),
                          "–" if d is None else f"{d['test_dice_diff_mean']:+.3f} "
                          f"{fmt_ci(d['bootstrap_95_over_test_patients']['seed_mean'])}"]
            lines.append(f"| {c} | " + " | ".join(cells) + " |")
    lines += per_case_lines(results, k_main)
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
    curve_conds = [c for c in ALL_CONDITIONS if any(c in s["table"][str(k)] for k in ks)]
    lines += ["", "## Test Dice against the number of real training slices", "",
              f"Nested subsets of the training set (fixed seed {SUBSET_SEED}); each grown ×"
              f"{p['expand_factor']}. "
              + ("Lesion transplant takes its donors from the subset only and lesion painting "
                 "(lesiongan) is trained on the subset only: no information from the left-out slices. "
                 if any("lesion" in c for c in curve_conds) else "")
              + ("" if not any(c in PIX2PIX_CONDITIONS for c in curve_conds) else
                 "pix2pix for fewer slices: one trained on each subset (no information from the left-out "
                 "slices)." if p["subset_gan"] == "retrain" else
                 f"pix2pix for fewer slices: **the one trained on all {k_main} slices** (a GAN per subset did "
                 "not fit the time budget), so at fewer slices the pix2pix conditions see the other slices "
                 "through the generator: read those rows as an upper bound."), "",
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
              f"min of it training generators); per segmenter run {tm['mean_run_seconds']:.0f} s on average "
              f"(expand + train + score; {tm['mean_run_train_seconds']:.0f} s training, "
              f"{tm['mean_run_cpu_seconds']:.0f} CPU-seconds); {results['machine']}, load average at the "
              f"end {tm['load_average_at_end'][0]:.1f}.",
              f"- Command: `{results['command']}`",
              *([f"- Code: git {prov['git_revision']}{' (with uncommitted edits)' if prov['git_dirty'] else ''}, "
                 f"code hash {prov['code_hash']} (src/ + plugins/); Python {prov['python']}, "
                 + ", ".join(f"{k} {v}" for k, v in prov["packages"].items() if k in ("tensorflow-cpu", "keras", "numpy"))]
                if (prov := results.get("provenance")) else
                ["- Code: not recorded (results made before the provenance field)"]),
              *reference_lines(results),
              # fields corrected by hand after the run, each with why (results.json "edits")
              *[f"- Edited after the run: {e}" for e in results.get("edits", [])], ""]
    path.write_text("\n".join(lines))


MAX_CASES_SHOWN = 6  # a per-case table for few test cases (BraTS: 3); LGG's 20 patients are the bootstrap's


def per_case_lines(results: dict, k_main: str) -> list[str]:
    """With few test cases, each condition's test Dice per case (seed mean of its slices'
    Dice): where a gain comes from, and why a bootstrap over so few cases is wide."""
    ids = results["data"]["test"].get("slice_ids")
    if not ids:
        return []
    cases = [patient_of_id(i) for i in ids]
    names = list(dict.fromkeys(cases))
    if len(names) > MAX_CASES_SHOWN:
        return []
    runs = [r for r in results["runs"] if str(r["num_real"]) == k_main and "per_slice_dice" in r["scores"]["test"]]
    conditions = [c for c in ALL_CONDITIONS if any(r["condition"] == c for r in runs)]
    where = {n: np.array([c == n for c in cases]) for n in names}
    out = ["", f"## Test Dice per test case ({k_main} real slices)", "",
           "Mean over seeds of each case's per-slice test Dice (the trained-on target); the case bootstrap "
           "above resamples these cases.", "",
           "| condition | " + " | ".join(f"{n} ({int(where[n].sum())} slices)" for n in names) + " |",
           "|---|" + "---:|" * len(names)]
    for c in conditions:
        per_seed = np.array([r["scores"]["test"]["per_slice_dice"] for r in runs if r["condition"] == c])
        mean = per_seed.mean(axis=0)
        out.append(f"| {c} | " + " | ".join(f"{mean[where[n]].mean():.3f}" for n in names) + " |")
    return out


def reference_lines(results: dict) -> list[str]:
    """Which code made which runs, when some came from ``--reference`` files (followed back
    through each file's own reference): one line per code hash, with its git revision."""
    ref = results.get("reference")
    if not ref:
        return []
    prov = results.get("provenance", {})
    revisions, sources = {prov.get("code_hash"): [prov.get("git_revision")]}, {prov.get("code_hash"): "this report's code"}
    while ref:  # one library code may have been run at several git revisions (benchmarks changed)
        if ref["git_revision"] not in revisions.setdefault(ref["code_hash"], []):
            revisions[ref["code_hash"]].append(ref["git_revision"])
        sources.setdefault(ref["code_hash"], f"the code of `{ref['path']}`")
        ref = ref.get("earlier")
    by_code: dict[str, list[str]] = {}
    for r in results["runs"]:
        by_code.setdefault(r.get("code_hash"), [])
        if r["condition"] not in by_code[r.get("code_hash")]:
            by_code[r.get("code_hash")].append(r["condition"])
    other = len(by_code) > 1
    return [f"- Runs of {', '.join(f'`{c}`' for c in conditions)}: code hash {code} "
            f"(git {' or '.join(str(r) for r in revisions.get(code, ['unknown']))}), "
            f"{sources.get(code, 'an earlier reference')}"
            + (" (library code differs between these lines: joined with --reference-other-code)" if other else "")
            for code, conditions in by_code.items()]


def choosing_seed_effect(results: dict, sel: dict, k_main: str) -> str:
    """When the run that made a val choice is also one of the reported seeds (the rule before
    ``selection_seed``), the chosen condition's test Dice and Δ vs classical with and without that
    seed, from the per-seed runs; "" when the choosing run is not reported."""
    seeds = results["settings"]["seeds"]
    chosen_at = sel.get("selection_seed", seeds[0])
    if chosen_at not in seeds:
        return ""
    test = {(r["condition"], r["seed"]): r["scores"]["test"]["dice"] for r in results["runs"]
            if r["num_real"] == int(k_main)}
    both = [s for s in seeds if (sel["chosen"], s) in test]
    without = [s for s in both if s != chosen_at]
    if not without:
        return ""

    def mean(values) -> float:
        return float(np.mean(list(values)))

    text = (f" **Selection bias:** the choosing run (seed {chosen_at}) is one of the reported seeds; "
            f"`{sel['chosen']}` test Dice {mean(test[sel['chosen'], s] for s in both):.3f} over seeds {both}, "
            f"{mean(test[sel['chosen'], s] for s in without):.3f} over seeds {without} without it")
    paired = [s for s in both if ("classical", s) in test]
    paired_without = [s for s in paired if s != chosen_at]
    if paired_without:
        text += (f"; Δ vs classical {mean(test[sel['chosen'], s] - test['classical', s] for s in paired):+.3f} "
                 f"with it, {mean(test[sel['chosen'], s] - test['classical', s] for s in paired_without):+.3f} "
                 "without it")
    return text + "."


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
              "classical+lesiongan@0.5": "#17becf", "classical+lesiongan@1": "#bcbd22",
              "classical+gan-tissue": "#393b79", "classical+lesionmix-k2@1": "#e7ba52",
              "classical+lesiongan-p0.5@1": "#637939"}
    fig, ax = plt.subplots(figsize=(8, 4.8))
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
    # below the axes: inside, the legend hid the train bars once there were 8 conditions
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.08), frameon=False)
    fig.tight_layout()
    fig.savefig(out / "dice_by_condition.png", dpi=110)
    plt.close(fig)

    ks = sorted(int(k) for k in s)
    # the conditions run at more than one size (the curve), against real-only when it was run
    curve = [c for c in ALL_CONDITIONS if sum(c in s[str(k)] for k in ks) > 1]
    ref = "none" if "none" in curve else "classical"
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for c in curve:
        pts = [(k, s[str(k)][c]["test"]["dice"]) for k in ks if c in s[str(k)]]
        if pts:
            a1.errorbar([k for k, _ in pts], [m["mean"] for _, m in pts], yerr=[m["std"] for _, m in pts],
                        marker="o", capsize=3, color=colors[c], label=c)
    a1.set_xlabel("real training slices")
    a1.set_ylabel("test Dice")
    a1.set_xticks(ks)
    a1.set_title("test Dice (mean ± std over seeds)", fontsize=9)
    if a1.get_legend_handles_labels()[0]:  # one size only: no curve to label
        a1.legend(fontsize=8)
    for i, c in enumerate(c for c in curve if c != ref):
        ds = [d for d in results["summary"]["differences"] if d["condition"] == c and d["reference"] == ref]
        if not ds:
            continue
        xs = np.array([d["num_real"] for d in ds]) + (i - 1) * 0.6
        means = np.array([d["test_dice_diff_mean"] for d in ds])
        cis = [d["t_interval_95_over_seeds"] or d["bootstrap_95_over_test_patients"]["seed_mean"] for d in ds]
        err = np.array([[m - lo for m, (lo, _) in zip(means, cis)], [hi - m for m, (_, hi) in zip(means, cis)]])
        a2.errorbar(xs, means, yerr=err, marker="o", capsize=3, color=colors[c], label=c, linestyle="none")
    a2.axhline(0, color="k", lw=0.8)
    a2.set_xlabel("real training slices")
    a2.set_ylabel(f"Δ test Dice vs {ref}")
    a2.set_xticks(ks)
    ci_kind = "t-interval over seeds" if len(results["settings"]["seeds"]) > 1 else "patient bootstrap"
    a2.set_title(f"gain over {'real-only' if ref == 'none' else 'classical'} (95 % {ci_kind})", fontsize=9)
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


def as_selections(settings: dict) -> list[dict]:
    """The val choices of a results.json: a list (``val_selections``), or one dict in older files."""
    if "val_selections" in settings:
        return list(settings["val_selections"])
    return [settings["val_selection"]] if settings.get("val_selection") else []
