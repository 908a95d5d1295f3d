"""Dice-gain 3D check (issue 22, item 3): does lesionmix on whole cases help a small 3D U-Net
trained on the sampler's 64³ patches segment BraTS cases it never saw?

    python benchmarks/dice_gain_3d.py --profile 3d                    # the check: 1 seed, both conditions
    python benchmarks/dice_gain_3d.py --profile 3d --time-steps 20    # a timed piece -> projection.{json,md}
    python benchmarks/dice_gain_3d.py --profile 3d-smoke              # plumbing only, minutes

Conditions, each trained for the same number of optimizer steps at the same batch size:
  classical                 the 4 training cases + classical variants (whole-case affine,
                            flip, brightness) to ×10, through ``augkit.api.expand_with``
  classical+lesionmix@0.5   the same, half of the added cases with a tumour transplanted from
                            another training case (the ``lesionmix`` plugin on whole cases)
The share 0.5 is not chosen here: it is the 2D LGG suite's validation choice (converge_all:
val Dice 0.568 at 0.5 against 0.551 at 1), fixed, because two validation cases cannot carry a
sweep. The U-Net sees 64³ patches the augkit ``MixedSampler`` serves from the expanded set
(``patch_size``, ``patch_foreground`` 0.5; the synthetic share of each epoch is the set's own,
so every stored case is equally likely), four modalities as channels scaled per channel by the
sampler's ``Encoder``; outputs WT/TC/ET as the 2D BraTS profile (``segmenter3d``).

The lesionmix condition's added cases are the classical condition's variants of the same index
(same parent, same seed), half of them with a lesion transplanted, so the two sets differ only
by the transplants; a transplant that finds no place keeps its recipient unchanged, and each
run records how many were placed. Both conditions draw their patches with the same sampler
seed and start from the same weights. The training itself is not bit-reproducible across
processes on CPU: oneDNN's Conv3D on 64³ patches rounds the last bits differently from run to
run (seen from the 4th step; TensorFlow's op determinism does not change it, and without
oneDNN a step is ~10× slower), so one seed's Δ holds that noise too.

brats-val: a fixed set of patches of its 2 cases, for best-checkpoint selection only.
brats-test: whole-case Dice per region on its 3 cases, reported per condition, and the
lesionmix − classical difference with a bootstrap over test cases (``augkit.evaluate.paired``).
No val or test case reaches expand, lesionmix or training (refused when folders share a case).

The report (statistics, results.md, the projection) is ``dice_gain_3d_report``, the 3D U-Net
``segmenter3d``. Expanded sets and finished runs are cached in ``--work`` (keys hold the hash of src/ + plugins/),
so a killed run resumes. ``--time-steps N`` runs each phase once at the profile's real size
(expand of the 4 cases to 8, loading, N training steps, one validation pass, the test pass) in a
fresh work folder and writes ``projection.{json,md}``: the measured seconds per step and per
phase, and the projected wall time of the full profile. A projection, not a Dice figure.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmark modules

from dice_gain_setup import BRATS_REGIONS, DATA, RESULTS, code_hash, fingerprint, log, read_cached, rel  # noqa: E402
from dice_gain_3d_report import project, summarise, write_markdown, write_projection  # noqa: E402
from segmenter3d import (Segmenter3DConfig, count_params, encode, score_cases,  # noqa: E402
                         train_segmenter3d)

CONDITIONS = ("classical", "classical+lesionmix@0.5")
GAN_FRACTION = {"classical": 0.0, "classical+lesionmix@0.5": 0.5}
VAL_SEED = 20_261_205  # which validation patches are drawn (fixed for every run)
RUN_VERSION = 1  # part of every cached run's key: bump when training or scoring changes


@dataclass(frozen=True)
class Profile3D:
    name: str
    segmenter: Segmenter3DConfig
    seeds: tuple[int, ...] = (0,)
    expand_factor: int = 10  # 4 cases -> 40, as the 2D suite grows its slices ×10
    num_val_patches: int = 16  # drawn from the validation cases by the sampler (foreground share as training)
    lesionmix_options: dict[str, Any] = field(default_factory=dict)  # lesionmix settings (default: its own)
    folders: tuple[Path, Path, Path] = (DATA / "brats", DATA / "brats-val", DATA / "brats-test")
    out: Path = RESULTS / "brats3d"
    note: str = ""


PROFILES = {
    "3d": Profile3D(
        "3d",
        # 3 levels of width 8/16/32 (bottleneck 64) on 64³ patches: 2,000 steps of batch 2 is
        # 4,000 patches, ~100 per stored case; no early stop, the best-validation weights kept
        Segmenter3DConfig(patch_size=64, base_width=8, num_levels=3, batch_size=2, num_steps=2000,
                          eval_every=100, regions=BRATS_REGIONS),
        note="small 3D U-Net on the sampler's 64³ patches of whole BraTS cases, classical against "
             "classical+lesionmix@0.5 (share fixed from the 2D LGG validation choice); seed 0 unless --seeds"),
    "3d-smoke": Profile3D(
        "3d-smoke",
        Segmenter3DConfig(patch_size=16, base_width=4, num_levels=2, batch_size=2, num_steps=4,
                          eval_every=2, regions=BRATS_REGIONS),
        expand_factor=2, num_val_patches=4, out=RESULTS / "brats3d_smoke",
        note="SMOKE RUN: 16³ patches, a width-4 U-Net, 4 steps, ×2 expand; it checks the plumbing, "
             "its Dice numbers mean nothing"),
}


# --------------------------------------------------------------------------- data
def read_cases(folder: Path):
    from augkit.io import read_dataset

    return read_dataset(folder, unit="case").samples  # lazy: a case is loaded when indexed


def check_disjoint_cases(folders: dict[str, Path], cases: dict[str, Any]) -> None:
    """Refuse (one line) train/val/test folders that share a case."""
    from augkit.errors import DataError

    names = {role: {m["group"] for m in c.metas} for role, c in cases.items()}
    roles = list(names)
    for i, a in enumerate(roles):
        for b in roles[i + 1:]:
            shared = sorted(names[a] & names[b])
            if shared:
                raise DataError(folders[b], f"{len(shared)} case(s) of the {b} folder are also in the {a} "
                                f"folder {folders[a]} (first: {shared[0]!r})",
                                f"give --{b} and --{a} folders of different cases")


def expanded_set(profile: Profile3D, condition: str, seed: int, train_dir: Path, num_train: int,
                 work: Path) -> Path:
    """The training cases grown ×``expand_factor`` for ``condition`` by ``augkit.api.expand_with``
    (cached in ``work``)."""
    from augkit.api import expand_with
    from augkit.expand.options import ExpandOptions

    generator = None if condition == "classical" else "lesionmix"
    options = ExpandOptions(target=profile.expand_factor * num_train, seed=seed, read_options={"unit": "case"},
                            generator=generator, gan_fraction=GAN_FRACTION[condition],
                            train_options=profile.lesionmix_options if generator else {},
                            overwrite=True, progress=False)
    key = {"code": code_hash(), "condition": condition, "seed": seed, "target": options.target,
           "train": rel(train_dir), "lesionmix": dict(options.train_options)}
    out = work / "data" / f"{condition.replace('+', '_').replace('@', '-')}-s{seed}-{fingerprint(key)}"
    if not (out / "manifest.csv").exists():
        expand_with(train_dir, options, out)
    return out


def patch_sampler(folder: Path, config: Segmenter3DConfig, seed: int):
    """The augkit sampler over an expanded set, its cases held in memory (a case read from
    .nii.gz takes about a second; a patch per read would make the disk the bottleneck)."""
    from augkit.sampling.sampler import MixedSampler
    from augkit.sampling.sources import split_expanded

    real, synthetic = (list(part) for part in split_expanded(folder, cases=True))
    share = len(synthetic) / (len(real) + len(synthetic))  # every stored case equally likely
    return MixedSampler(real, synthetic or None, synthetic_fraction=share, seed=seed,
                        patch_size=(config.patch_size,) * 3, patch_foreground=config.patch_foreground)


def val_patches(val_cases, config: Segmenter3DConfig, num: int):
    """A fixed set of validation patches (x, y) drawn by the sampler from the validation cases,
    and their case ids."""
    from augkit.sampling.encoding import Encoder
    from augkit.sampling.sampler import MixedSampler

    sampler = MixedSampler(list(val_cases), seed=VAL_SEED, epoch_size=num, patch_size=(config.patch_size,) * 3,
                           patch_foreground=config.patch_foreground)
    patches = [sampler.get(0, k) for k in range(num)]
    x, y = encode(patches, Encoder(sampler), config.regions)
    return (x, y), sorted({p.meta["group"] for p in patches})


# --------------------------------------------------------------------------- one run
@contextlib.contextmanager
def timed(phases: dict[str, float], name: str):
    """Wall and process-CPU seconds of a phase (CPU: every thread of this process, so it does not
    grow when another program shares the cores; the projection's quiet-machine bound)."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    phases[f"{name}_s"] = time.perf_counter() - wall
    phases[f"{name}_cpu_s"] = time.process_time() - cpu


def run_condition(profile: Profile3D, condition: str, seed: int, folders: dict[str, Path], cases: dict,
                  val_xy, work: Path, progress: bool) -> dict:
    """Expand, train on the sampler's patches, score whole test cases; cached as JSON."""
    from augkit.sampling.encoding import Encoder
    from augkit.seeding import derive_seed

    cfg = profile.segmenter
    phases: dict[str, float] = {}
    started, cpu_started = time.perf_counter(), time.process_time()
    with timed(phases, "expand"):  # ~0 when the expanded set is cached
        folder = expanded_set(profile, condition, seed, folders["train"], len(cases["train"]), work)
    key = {"version": RUN_VERSION, "code": code_hash(), "condition": condition, "seed": seed,
           "segmenter": cfg.to_dict(), "train": folder.name, "num_val_patches": profile.num_val_patches,
           "val": [m["group"] for m in cases["val"].metas], "test": [m["group"] for m in cases["test"].metas]}
    cache = work / "runs" / f"{condition.replace('+', '_').replace('@', '-')}-s{seed}-{fingerprint(key)}.json"
    cached = read_cached(cache)  # refused if made on other code
    if cached is not None:
        return cached
    with timed(phases, "load"):
        sampler = patch_sampler(folder, cfg, derive_seed(seed, 2))
        encoder = Encoder(sampler)
    with timed(phases, "train"):
        result = train_segmenter3d(sampler, encoder, cfg, seed=seed, val=val_xy, progress=progress,
                                   desc=f"unet3d {condition} s{seed}")
    with timed(phases, "test"):
        test = score_cases(result.model, cases["test"], encoder, cfg)
    record = {"condition": condition, "seed": seed, "code_hash": code_hash(), "expanded": str(folder),
              "num_stored_cases": len(sampler.real) + (len(sampler.synthetic) if sampler.synthetic else 0),
              "patches_by_source": dict(result.served["source"]),
              "patches_by_parent_case": _by_parent(result.served["id"], folder), **made_cases(folder),
              "best_step": result.best_step, "best_val_dice_wt_pooled": result.best_val_dice,
              "history": result.history, "scores": {"test": test}, "num_params": count_params(result.model),
              "phase_seconds": {k: round(v, 2) for k, v in phases.items()}, "timing": result.timing,
              "wall_seconds": round(time.perf_counter() - started, 1),
              "cpu_seconds": round(time.process_time() - cpu_started, 1)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(record))
    import keras

    keras.backend.clear_session()
    return record


def made_cases(folder: Path) -> dict[str, Any]:
    """How the added cases were made: classical variants, lesionmix transplants, and how many of
    those found a place (lesionmix keeps a recipient unchanged when no try fits its brain)."""
    from augkit.expand.manifest import read_manifest

    rows = [r for r in read_manifest(folder / "manifest.csv") if r["source"] != "real"]
    made = [json.loads(r["params"] or "{}").get("lesionmix") for r in rows if r["generator"] == "lesionmix"]
    return {"num_added": {"classical": sum(r["source"] == "classical" for r in rows), "lesionmix": len(made)},
            "lesionmix_placed": sum(bool(m and m.get("placed")) for m in made)}


def _by_parent(served_ids, folder: Path) -> dict[str, int]:
    """Patches per real training case they descend from (a made case counts for its parent)."""
    from augkit.expand.manifest import read_manifest

    parent = {r["id"]: (r["parent_id"] or r["id"]) for r in read_manifest(folder / "manifest.csv")}
    out: dict[str, int] = {}
    for sid, n in served_ids.items():
        name = parent.get(sid, sid)
        out[name] = out.get(name, 0) + n
    return out


# --------------------------------------------------------------------------- main
def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", choices=sorted(PROFILES), default="3d")
    ap.add_argument("--seeds", type=int, nargs="+", help="default: the profile's")
    ap.add_argument("--out", type=Path, help="results folder (default: the profile's)")
    ap.add_argument("--work", type=Path, help="expanded sets and cached runs (default: /tmp/augkit-dice-gain-3d/PROFILE)")
    ap.add_argument("--train", type=Path)
    ap.add_argument("--val", type=Path)
    ap.add_argument("--test", type=Path)
    ap.add_argument("--time-steps", type=int, help="time N steps of each phase and write projection.{json,md}")
    ap.add_argument("--progress", action="store_true")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    profile = PROFILES[args.profile]
    run_profile = profile
    if args.time_steps:  # the real sizes, fewer steps, one val pass, the smallest expand
        run_profile = dataclasses.replace(profile, expand_factor=2, segmenter=dataclasses.replace(
            profile.segmenter, num_steps=args.time_steps, eval_every=args.time_steps))
    seeds = tuple(args.seeds or profile.seeds)
    out = args.out or profile.out
    work = args.work or Path("/tmp/augkit-dice-gain-3d") / profile.name
    if args.time_steps:
        work = work / "timing"
        shutil.rmtree(work, ignore_errors=True)  # nothing cached: every phase is timed
    folders = {role: given or default for role, given, default in
               zip(("train", "val", "test"), (args.train, args.val, args.test), profile.folders)}
    from augkit.errors import AugkitError
    from augkit.evaluate.provenance import provenance

    try:
        cases = {role: read_cases(folder) for role, folder in folders.items()}
        check_disjoint_cases(folders, cases)
    except AugkitError as exc:
        print(f"dice_gain_3d: {exc}", file=sys.stderr)
        return 2
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    cfg = run_profile.segmenter
    log(f"profile {profile.name}{' (timed piece)' if args.time_steps else ''}: train {len(cases['train'])}, "
        f"val {len(cases['val'])}, test {len(cases['test'])} cases; seeds {list(seeds)}")
    val_setup: dict[str, float] = {}
    with timed(val_setup, "val_setup"):
        val_xy, val_cases = val_patches(cases["val"], cfg, run_profile.num_val_patches)
    runs = []
    for seed in seeds[:1] if args.time_steps else seeds:
        for condition in CONDITIONS:
            log(f"{condition} seed {seed} ...")
            runs.append(run_condition(run_profile, condition, seed, folders, cases, val_xy, work, args.progress))
            log(f"{condition} seed {seed}: test WT Dice {runs[-1]['scores']['test']['regions']['WT']['dice']:.3f}, "
                f"{runs[-1]['wall_seconds']:.0f} s")
    if args.time_steps:
        projection = {**project(profile, runs, run_profile, len(cases["train"]), val_setup, args.time_steps),
                      "provenance": provenance()}
        (out / "projection.json").write_text(json.dumps(projection, indent=1))
        write_projection(projection, out / "projection.md")
        log(f"projection: {projection['projected_wall_h_one_seed_both_conditions']} h -> {out / 'projection.md'}")
        return 0
    results = {
        "settings": {"profile": profile.name, "note": profile.note, "seeds": list(seeds), "conditions": list(CONDITIONS),
                     "gan_fraction": GAN_FRACTION, "gan_fraction_source": "fixed: the 2D LGG suite's validation "
                     "choice (benchmarks/results/dice_gain/converge_all)", "expand_factor": profile.expand_factor,
                     "segmenter": cfg.to_dict(), "lesionmix_options": profile.lesionmix_options, "val_seed": VAL_SEED},
        "data": {"train": [m["group"] for m in cases["train"].metas], "val": val_cases,
                 "num_val_patches": run_profile.num_val_patches, "test": runs[0]["scores"]["test"]["case_ids"],
                 "folders": {k: rel(v) for k, v in folders.items()}},
        "runs": [{k: v for k, v in r.items() if k != "timing"} for r in runs],
        "summary": summarise(runs, runs[0]["scores"]["test"]["case_ids"], CONDITIONS),
        "wall_seconds": round(time.perf_counter() - started, 1), "provenance": provenance(),
    }
    (out / "results.json").write_text(json.dumps(results, indent=1))
    write_markdown(results, out / "results.md")
    log(f"done in {results['wall_seconds']:.0f} s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
