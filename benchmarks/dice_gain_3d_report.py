"""The 3D check's report (``dice_gain_3d.py``): the paired statistics over its runs, results.md,
and the time projection of a timed piece (projection.{json,md})."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from dice_gain_setup import BOOTSTRAP_SEED, BRATS_REGIONS, NUM_BOOTSTRAP


# --------------------------------------------------------------------------- report
def summarise(runs: list[dict], case_ids: list[str], conditions: tuple[str, str]) -> dict:
    """Per region: mean ± std of whole-case test Dice per condition, and the second of
    ``conditions`` (lesionmix) minus the first (classical), paired by seed: a t-interval over
    seeds and a bootstrap over test cases (``patient_bootstrap`` with a case as the patient)."""
    from augkit.evaluate.paired import mean_std, patient_bootstrap, t_interval

    out: dict[str, Any] = {}
    by = {(r["condition"], r["seed"]): r for r in runs}
    for name, _ in BRATS_REGIONS:
        table = {c: mean_std([by[(c, s)]["scores"]["test"]["regions"][name]["dice"] for s in _seeds(by, c)])
                 for c in conditions if _seeds(by, c)}
        seeds = sorted(set(_seeds(by, conditions[0])) & set(_seeds(by, conditions[1])))
        diff = None
        if seeds:
            per_case = np.array([np.subtract(by[(conditions[1], s)]["scores"]["test"]["regions"][name]["per_case_dice"],
                                             by[(conditions[0], s)]["scores"]["test"]["regions"][name]["per_case_dice"])
                                 for s in seeds])
            diff = {"seeds": seeds, "test_dice_diff_per_seed": per_case.mean(1).tolist(),
                    "test_dice_diff_mean": float(per_case.mean()),
                    "t_interval_95_over_seeds": t_interval(per_case.mean(1)),
                    "bootstrap_95_over_test_cases": patient_bootstrap(per_case, case_ids, num_resamples=NUM_BOOTSTRAP,
                                                                      seed=BOOTSTRAP_SEED)}
        out[name] = {"test_dice": table, "lesionmix_minus_classical": diff}
    return out


def _seeds(by: dict, condition: str) -> list[int]:
    return sorted(s for c, s in by if c == condition)


def write_markdown(results: dict, path: Path) -> None:
    p, s = results["settings"], results["summary"]
    seg, conditions = p["segmenter"], p["conditions"]
    lines = [f"# Dice gain in 3D on whole BraTS cases: profile `{p['profile']}`", "", f"_{p['note']}._", "",
             f"3D U-Net ({seg['num_levels']} levels, base width {seg['base_width']}) trained {seg['num_steps']} Adam "
             f"steps of batch {seg['batch_size']} on {seg['patch_size']}³ patches (foreground share "
             f"{seg['patch_foreground']}) of the {len(results['data']['train'])} training cases grown "
             f"×{p['expand_factor']}; best validation checkpoint ({results['data']['num_val_patches']} patches of "
             f"{len(results['data']['val'])} val cases); whole-case test Dice on {len(results['data']['test'])} cases. "
             f"Seeds {p['seeds']}.", "",
             "| region | " + " | ".join(conditions) + " | Δ (lesionmix − classical) | 95 % bootstrap over test cases "
             "| 95 % t over seeds | Δ per seed |",
             "|---|" + "---:|" * (len(conditions) + 4)]
    for name, row in s.items():
        cells = [f"{row['test_dice'][c]['mean']:.3f} ± {row['test_dice'][c]['std']:.3f}" if c in row["test_dice"]
                 else "-" for c in conditions]
        d = row["lesionmix_minus_classical"]
        ci = d["bootstrap_95_over_test_cases"]["seed_mean"] if d else None
        t = d["t_interval_95_over_seeds"] if d else None  # None from one seed
        cells += [f"{d['test_dice_diff_mean']:+.3f}" if d else "-", f"[{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "-",
                  f"[{t[0]:+.3f}, {t[1]:+.3f}]" if t else "-",
                  ", ".join(f"{v:+.3f}" for v in d["test_dice_diff_per_seed"]) if d else "-"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "| condition | seed | best step | added cases: classical / lesionmix (placed) | "
              "patches real / classical / lesionmix | wall s |", "|---|---:|---:|---|---|---:|"]
    for r in results["runs"]:
        src, added = r["patches_by_source"], r["num_added"]
        lines.append(f"| {r['condition']} | {r['seed']} | {r['best_step']} | {added['classical']} / {added['lesionmix']} "
                     f"({r['lesionmix_placed']}) | {src.get('real', 0)} / {src.get('classical', 0)} / "
                     f"{src.get('gan', 0)} | {r['wall_seconds']} |")
    lines += ["", f"Code {results['provenance']['code_hash']} at {results['provenance']['git_revision']}; "
              f"{results['wall_seconds']:.0f} s on {results['provenance']['cpu_count']} CPUs."]
    path.write_text("\n".join(lines) + "\n")


# --------------------------------------------------------------------------- projection
def project(profile, runs: list[dict], piece, num_train: int, val_setup: dict[str, float],
            time_steps: int) -> dict:
    """The full profile's time from a timed piece of it (``piece``): the expand scaled by the
    number of new cases, loading by the number of stored cases, training by steps (the first
    step, which traces the graph, apart), validation by passes; the test pass as measured. Wall
    seconds as measured here (shared cores), and process-CPU seconds, which bound the wall time
    on a quiet 2-core machine (between CPU / 2 and CPU)."""
    cfg = profile.segmenter
    new_full, new_piece = (profile.expand_factor - 1) * num_train, (piece.expand_factor - 1) * num_train
    stored_full, stored_piece = profile.expand_factor * num_train, piece.expand_factor * num_train
    num_val = -(-cfg.num_steps // cfg.eval_every)
    conditions = {}
    for r in runs:
        t, ph = r["timing"], r["phase_seconds"]
        later = slice(1, None) if len(t["step_s"]) > 1 else slice(None)
        mean = {k: float(np.mean(v[later])) for k, v in t.items() if k.startswith(("draw", "step"))}
        measured = {"expand_s_per_new_case": ph["expand_s"] / new_piece,
                    "load_s_per_stored_case": ph["load_s"] / stored_piece,
                    "first_step_s": t["step_s"][0] + t["draw_s"][0], "steps_timed": len(t["step_s"]),
                    "step_s": mean["draw_s"] + mean["step_s"], "patch_draw_s_per_step": mean["draw_s"],
                    "optimizer_step_s": mean["step_s"], "val_pass_s": float(np.mean(t["val_s"])),
                    "test_pass_s": ph["test_s"],
                    "step_cpu_s": mean["draw_cpu_s"] + mean["step_cpu_s"], "patch_draw_cpu_s_per_step": mean["draw_cpu_s"],
                    "optimizer_step_cpu_s": mean["step_cpu_s"]}
        full, cpu = {}, {}
        for out, key in ((full, "_s"), (cpu, "_cpu_s")):
            step = mean[f"draw{key}"] + mean[f"step{key}"]
            out.update({"expand_s": ph[f"expand{key}"] / new_piece * new_full,
                        "load_s": ph[f"load{key}"] / stored_piece * stored_full,
                        "train_s": t[f"step{key}"][0] + t[f"draw{key}"][0] + step * (cfg.num_steps - 1),
                        "val_s": float(np.mean(t[f"val{key}"])) * num_val, "test_s": ph[f"test{key}"]})
            out["total_s"] = sum(out.values())
        conditions[r["condition"]] = {"measured": {k: round(v, 3) for k, v in measured.items()},
                                      "projected_full": {k: round(v) for k, v in full.items()},
                                      "projected_full_cpu": {k: round(v) for k, v in cpu.items()},
                                      "num_added_in_piece": r["num_added"], "lesionmix_placed_in_piece": r["lesionmix_placed"]}
    wall = val_setup["val_setup_s"] + sum(c["projected_full"]["total_s"] for c in conditions.values())
    cpu = val_setup["val_setup_cpu_s"] + sum(c["projected_full_cpu"]["total_s"] for c in conditions.values())
    return {"what": "a PROJECTION of the time of the full profile from a timed piece of it; no Dice figure",
            "profile": profile.name, "seeds_projected": 1, "conditions_projected": list(conditions),
            "timed_piece": {"training_steps": time_steps, "expand": f"{num_train} cases to {stored_piece} per condition",
                            "val_passes": 1, "test_pass": "every test case, whole", "steps_per_condition_full": cfg.num_steps,
                            "val_passes_full": num_val, "new_cases_full": new_full, "stored_cases_full": stored_full},
            "val_setup_s": round(val_setup["val_setup_s"], 1), "per_condition": conditions,
            "projected_wall_s_one_seed_both_conditions": round(wall),
            "projected_wall_h_one_seed_both_conditions": round(wall / 3600, 2),
            "projected_cpu_s_one_seed_both_conditions": round(cpu),
            "quiet_machine_wall_h_range": [round(cpu / 2 / 3600, 2), round(cpu / 3600, 2)],
            "fits_60_minutes_here": wall <= 3600,
            "machine": {"cpu_count": os.cpu_count(), "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()],
                        "shared": "the load average at the end of the timed piece says how shared the "
                                  "cores were"},
            "command": f"nice -n 19 python benchmarks/dice_gain_3d.py --profile {profile.name} --seeds 0"}


def write_projection(projection: dict, path: Path) -> None:
    p, t = projection, projection["timed_piece"]
    lines = [f"# 3D lesionmix check (profile `{p['profile']}`): time PROJECTION", "",
             "**This is a projection of how long the run would take, not a Dice result.** Projected at "
             f"{p['projected_wall_h_one_seed_both_conditions']} h here, "
             + ("it fits in 60 minutes on this machine: the full run's results.md is the figure." if
                p["fits_60_minutes_here"] else
                "it does not fit in 60 minutes on this machine, so only a timed piece of it was run."), "",
             f"Timed piece, at the profile's real sizes: {t['training_steps']} training steps per condition, one "
             f"validation pass, the whole-case test pass, expand of {t['expand']}. Machine: "
             f"{p['machine']['cpu_count']} CPUs, {p['machine']['shared']} (1/5/15 min: "
             f"{p['machine']['load_average_1_5_15']}).", "",
             "| condition | s / step: patch draw + optimizer (CPU s) | s / val pass | s / test pass | "
             "s / new case (expand) | s / case (load) |", "|---|---:|---:|---:|---:|---:|"]
    for c, v in p["per_condition"].items():
        m = v["measured"]
        lines.append(f"| {c} | {m['step_s']:.2f}: {m['patch_draw_s_per_step']:.2f} + {m['optimizer_step_s']:.2f} "
                     f"({m['step_cpu_s']:.2f}: {m['patch_draw_cpu_s_per_step']:.2f} + {m['optimizer_step_cpu_s']:.2f}) | "
                     f"{m['val_pass_s']:.1f} | {m['test_pass_s']:.1f} | {m['expand_s_per_new_case']:.1f} | "
                     f"{m['load_s_per_stored_case']:.2f} |")
    lines += ["", f"Projected full run, 1 seed ({t['steps_per_condition_full']} steps of batch 2, {t['val_passes_full']} "
              f"val passes, {t['new_cases_full']} new cases per condition), minutes of wall time here (of CPU):", "",
              "| condition | expand | load | train | val | test | total |", "|---|---:|---:|---:|---:|---:|---:|"]
    for c, v in p["per_condition"].items():
        f, u = v["projected_full"], v["projected_full_cpu"]
        lines.append(f"| {c} | " + " | ".join(f"{f[k] / 60:.0f} ({u[k] / 60:.0f})" for k in
                                              ("expand_s", "load_s", "train_s", "val_s", "test_s", "total_s")) + " |")
    draw = np.mean([v["measured"]["patch_draw_cpu_s_per_step"] / v["measured"]["step_cpu_s"]
                    for v in p["per_condition"].values()])
    lines += ["", f"The sampler's patch draw is {draw:.0%} of a training step's CPU time (it cuts the patch; a "
              "fixed case's labelled voxels and channel range are kept per process: rescanned for every patch "
              "they made the draw 0.54 s of a 0.80 s step on the quiet machine)."]
    lm = p["per_condition"].get("classical+lesionmix@0.5", {})
    quiet = p["quiet_machine_wall_h_range"]
    lines += ["", f"**Projected wall time, one seed of both conditions: {p['projected_wall_h_one_seed_both_conditions']} h "
              f"({p['projected_wall_s_one_seed_both_conditions']} s) on this machine as shared at the time**; "
              f"{p['projected_cpu_s_one_seed_both_conditions'] / 3600:.2f} CPU-hours, so on a quiet 2-core machine "
              f"between {quiet[0]} h (both cores busy throughout) and {quiet[1]} h (one core).", ""]
    if lm:
        lines += [f"In the timed expand, {lm['lesionmix_placed_in_piece']} of {lm['num_added_in_piece']['lesionmix']} "
                  "lesionmix transplants found a place (lesionmix keeps a recipient unchanged when none of its tries "
                  "fits the brain); results.json of the full run records the count.", ""]
    lines += ["Run the full profile (both conditions, 1 seed; it resumes from --work if killed):", "",
              f"    {p['command']}", ""]
    path.write_text("\n".join(lines))
