"""What the Dice-gain benchmark (``dice_gain.py``) compares and how: its conditions, the GAN share
of each, the named profiles (segmenter schedule, GAN profile, seeds) and small helpers shared by
its modules."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segmenter import SegmenterConfig

REPO = Path(__file__).resolve().parents[1]
LGG = REPO / "../shared/data/lgg"
DATA = REPO / "../shared/data"
# BraTS regions (labels 1 necrotic/non-enhancing core, 2 oedema, 4 enhancing): whole tumour is the
# target of training and selection, tumour core and enhancing tumour are scored beside it
BRATS_REGIONS = (("WT", (1, 2, 4)), ("TC", (1, 4)), ("ET", (4,)))
DRAW_SEED = 20_261_203  # which BraTS tumour slices make the training set (drawn by case)
RESULTS = REPO / "benchmarks/results/dice_gain"
CONDITIONS = ("none", "classical", "gan", "classical+gan")
VARIANTS = ("classical+gan@0.2", "classical+lesion")  # tried to make the GAN help; largest set only
# Lesion transplant (the lesionmix plugin, no training): the share of added samples that get a
# donor's lesion. Which share is used for all seeds is chosen on validation Dice (selection seed only).
LESION_CONDITIONS = ("classical+lesionmix@0.5", "classical+lesionmix@1")
# Local lesion painting (the lesiongan plugin, trained on the training reals, val for its
# best-by-val weights) at lesionmix's placements; its share is its own sweep, chosen on validation.
LESIONGAN_CONDITIONS = ("classical+lesiongan@0.5", "classical+lesiongan@1")
# pix2pix conditioned on a tissue label map built from the real slice (head + k-means tissue
# classes + lesion) instead of the lesion mask alone; against classical+gan, chosen on val
TISSUE_CONDITIONS = ("classical+gan-tissue",)
# Two more ways to add lesions, tried on BraTS (issue 22) as one sweep chosen on validation: up to
# two transplanted lesions a sample (lesionmix max_lesions=2; more tumour tissue per slice) and
# transplant and painting mixed (lesiongan painting half of its placed lesions, the other half
# keeping the donor's tissue; both kinds of lesion in one set)
MIXED_LESION_CONDITIONS = ("classical+lesionmix-k2@1", "classical+lesiongan-p0.5@1")
# a variant generator's settings, by its tag (``lesion_generator``): every condition of a tag gets them
GENERATOR_SETTINGS = {"lesionmix-k2": {"max_lesions": 2}, "lesiongan-p0.5": {"paint_share": 0.5}}
ALL_CONDITIONS = (CONDITIONS + VARIANTS + LESION_CONDITIONS + LESIONGAN_CONDITIONS + TISSUE_CONDITIONS
                  + MIXED_LESION_CONDITIONS)
CURVE_CONDITIONS = ("none", "classical", "classical+gan")  # at fewer real slices
GAN_FRACTION = {"classical": 0.0, "gan": 1.0, "classical+gan": 0.5, "classical+gan@0.2": 0.2,
                "classical+lesion": 0.5, "classical+lesionmix@0.5": 0.5, "classical+lesionmix@1": 1.0,
                "classical+lesiongan@0.5": 0.5, "classical+lesiongan@1": 1.0, "classical+gan-tissue": 0.5,
                "classical+lesionmix-k2@1": 1.0, "classical+lesiongan-p0.5@1": 1.0}
GAN_REGION = {"classical+lesion": "lesion"}  # else "image": the GAN paints the whole slice
SUBSET_SEED = 20_240_601  # which reals make the 10- and 20-slice subsets (nested, fixed)
BOOTSTRAP_SEED = 7
NUM_BOOTSTRAP = 2000
FINETUNED = "+ft"  # suffix of a condition pretrained on its own data, then fine-tuned on the reals
RUN_VERSION = 3  # part of every cached run's key: bump when training or scoring changes (3: per-region soft Dice)
# Every cache key (finished runs, expanded sets, GANs) also holds the hash of src/ + plugins/
# (``code_hash()``), and every cache entry records it: a change to the library misses the cache,
# and an entry whose recorded hash is not this code's is refused on load.


@dataclass(frozen=True)
class BenchProfile:
    name: str
    segmenter: SegmenterConfig
    gan_profile: str  # pix2pix profile trained when no --model is given
    gan_overrides: dict[str, Any] = field(default_factory=dict)
    seeds: tuple[int, ...] = (0, 1, 2)
    num_real: tuple[int, ...] = (10, 20, 30)
    expand_factor: int = 10
    subset_gan: str = "shared"  # "shared": the GAN trained on all reals; "retrain": one per subset
    out: Path = RESULTS
    note: str = ""
    conditions: tuple[str, ...] = CONDITIONS + VARIANTS  # run by default
    # groups of candidates; of each, only the one with the best validation Dice at the first
    # seed is run for the other seeds (a knob chosen on val, never on test)
    val_sweeps: tuple[tuple[str, ...], ...] = ()
    # the seed the candidates of a sweep run at and are chosen on (None: the first of ``seeds``);
    # one outside ``seeds`` keeps the choosing runs out of the reported means and intervals
    selection_seed: int | None = None
    # where the data is (train, val, test folders; --train/--val/--test override) and how it is read
    folders: tuple[Path, Path, Path] = (LGG / "train30", LGG / "val", LGG / "test")
    read_options: dict[str, Any] = field(default_factory=dict)
    # the training set is this many slices drawn from the training folder by case
    # (``draw_by_case``, seeded by DRAW_SEED); None: every sample of the folder
    draw_slices: int | None = None
    dataset_name: str = "LGG FLAIR"
    # conditions run at the smaller real-slice counts; "chosen" stands for each sweep's winner
    # on validation (the learning curve of the condition the val choice picked)
    curve_conditions: tuple[str, ...] = CURVE_CONDITIONS
    lesiongan_profile: str = "cpu"  # the lesiongan profile trained here when no --lesiongan-model is given


_BRATS_CONVERGE = SegmenterConfig(size=128, base_width=8, num_levels=4, batch_size=8, num_steps=2000,
                                  eval_every=50, batch_norm=False, min_steps=1500, patience_steps=300,
                                  regions=BRATS_REGIONS)
_BRATS = dict(folders=(DATA / "brats", DATA / "brats-val", DATA / "brats-test"), read_options={"unit": "slice"},
              draw_slices=30, dataset_name="BraTS 2018, four modalities", num_real=(30,),
              conditions=("none", "classical") + LESION_CONDITIONS + LESIONGAN_CONDITIONS + TISSUE_CONDITIONS
              + MIXED_LESION_CONDITIONS,
              val_sweeps=(LESION_CONDITIONS, LESIONGAN_CONDITIONS, MIXED_LESION_CONDITIONS), selection_seed=100)

PROFILES = {
    "quick": BenchProfile(
        "quick",
        SegmenterConfig(size=64, base_width=8, num_levels=3, batch_size=8, num_steps=120,
                        eval_every=40, batch_norm=False),
        gan_profile="tiny", gan_overrides={"size": 64, "epochs": 2},
        seeds=(0,), subset_gan="retrain", out=RESULTS / "quick",
        note="smoke run: 64 px, tiny networks, 120 steps, 1 seed; it checks the plumbing, its numbers mean nothing",
    ),
    "cpu": BenchProfile(
        "cpu",
        # No batch norm: it cost 55 % more time per step on the 2-core machine (0.40 s vs
        # 0.26 s at batch 8) and the plain U-Net (as in Ronneberger et al.) trains fine at 1e-3.
        # Base width 8 (0.12 s/step on a quiet 2-core machine; width 16: 0.29 s) buys the time
        # for 300 steps, a GAN per subset and the two GAN variants inside 60 minutes.
        SegmenterConfig(size=128, base_width=8, num_levels=4, batch_size=8, num_steps=300,
                        eval_every=25, batch_norm=False),
        gan_profile="cpu",
        subset_gan="retrain",
        note="128 px, sized to finish in 60 minutes on 2 CPU cores, GAN training included",
    ),
    "converge": BenchProfile(
        "converge",
        # The cpu profile's 300 steps stop before classical transforms show what they are worth
        # (1,000 steps lifted classical from 0.505 to 0.585 test Dice in an earlier check), so
        # every condition trains to convergence: at least 1,500 steps, then on until validation
        # Dice has not improved for 300 steps (at most 2,000); the best-validation weights kept.
        SegmenterConfig(size=128, base_width=8, num_levels=4, batch_size=8, num_steps=2000,
                        eval_every=50, batch_norm=False, min_steps=1500, patience_steps=300),
        gan_profile="cpu", num_real=(30,), out=RESULTS / "converge",
        conditions=("none", "classical") + LESION_CONDITIONS + LESIONGAN_CONDITIONS
        + ("classical+gan",) + TISSUE_CONDITIONS,
        val_sweeps=(LESION_CONDITIONS, LESIONGAN_CONDITIONS, ("classical+gan",) + TISSUE_CONDITIONS),
        selection_seed=100,  # choices on their own seed (results before it chose on seed 0)
        note="128 px, every condition trained to convergence (1,500-2,000 steps, early stop on "
             "validation Dice); lesion transplant (lesionmix), lesion painting (lesiongan) and "
             "whole-slice pix2pix (mask or tissue map) against classical transforms",
    ),
    "brats": BenchProfile(
        "brats", _BRATS_CONVERGE, gan_profile="cpu", out=RESULTS / "brats", **_BRATS,
        note="BraTS: 30 tumour slices drawn by case from the 4 training cases, four modalities, 128 px, "
             "whole tumour trained and selected on, tumour core and enhancing tumour scored beside it; "
             "every condition to convergence as the LGG converge profile; lesion shares chosen on validation",
    ),
    "brats-quick": BenchProfile(
        "brats-quick",
        SegmenterConfig(size=64, base_width=8, num_levels=3, batch_size=8, num_steps=120, eval_every=40,
                        batch_norm=False, regions=BRATS_REGIONS),
        gan_profile="tiny", gan_overrides={"size": 64, "epochs": 2}, seeds=(0,), out=RESULTS / "brats_quick",
        **{**_BRATS, "conditions": ("none", "classical") + LESION_CONDITIONS, "val_sweeps": (LESION_CONDITIONS,)},
        note="smoke run of the BraTS profile: 64 px, 120 steps, 1 seed, no GAN training; it checks the "
             "plumbing, its numbers mean nothing",
    ),
    "brats-smoke": BenchProfile(
        "brats-smoke",
        dataclasses.replace(_BRATS_CONVERGE, num_steps=200, min_steps=0, patience_steps=None),
        gan_profile="cpu", seeds=(0,), out=RESULTS / "brats_smoke",
        **{**_BRATS, "conditions": ("none", "classical") + LESION_CONDITIONS + LESIONGAN_CONDITIONS},
        note="SMOKE RUN of the BraTS profile, not the converge figure: its U-Net at 128 px but 200 steps "
             "(no early stop), 1 seed, lesiongan from a short CPU run (--lesiongan-model), no pix2pix tissue; "
             "it checks the plumbing and times a run, its Dice numbers show no gain or loss",
    ),
    "converge-curve": BenchProfile(
        "converge-curve", dataclasses.replace(_BRATS_CONVERGE, regions=()),
        gan_profile="cpu", num_real=(10, 20, 30), out=RESULTS / "converge_curve",
        conditions=("classical",) + LESION_CONDITIONS + LESIONGAN_CONDITIONS,
        val_sweeps=(LESION_CONDITIONS + LESIONGAN_CONDITIONS,), selection_seed=100,
        curve_conditions=("classical", "chosen"),
        note="LGG learning curve of the lesion conditions: 10 / 20 / 30 real slices (nested subsets), "
             "classical against the lesion condition with the best validation Dice at 30 slices (one "
             "sweep over lesionmix and lesiongan shares), each trained to convergence as the converge profile",
    ),
    "paper": BenchProfile(
        "paper",
        # Seed 001: U-Net trained 50 epochs on the 300-slice set at 256×256. Batch size is not
        # given there; 8 → 50 × 300 / 8 = 1875 steps, checked once per 300 samples (an epoch).
        SegmenterConfig(size=256, base_width=64, num_levels=4, batch_size=8, num_steps=1875,
                        eval_every=38, batch_norm=False),
        gan_profile="paper", subset_gan="retrain", out=RESULTS / "paper",
        note="seed 001's resolution and schedule; needs a GPU",
    ),
}


# --------------------------------------------------------------------------- small helpers
def lesion_generator(condition: str) -> tuple[str, str] | None:
    """The lesion generator a condition uses and its tag (the generator and its variant, which
    names its cached model and its report entry): ``("lesionmix", "lesionmix-k2")``; None for
    conditions without one (pix2pix's ``classical+lesion`` paints a whole slice's lesion region)."""
    for kind in ("lesiongan", "lesionmix"):
        if kind in condition:
            return kind, condition.split("+", 1)[1].split("@")[0]
    return None


def log(message: str) -> None:
    print(f"[dice_gain {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rel(path: Path) -> str:
    """A path as the repository sees it (../shared/data/...), so results read the same anywhere."""
    import os

    return os.path.relpath(Path(path).resolve(), REPO)


@functools.lru_cache(maxsize=None)
def code_hash() -> str:
    """The hash of the library code (``augkit.evaluate.provenance.code_hash``), once per process."""
    from augkit.evaluate.provenance import code_hash as hash_of_code

    return hash_of_code()


def read_cached(path: Path) -> dict | None:
    """A cached JSON record (a finished run, a GAN's info.json), or None when there is none.
    Raises ``ProvenanceError`` naming the file when it was made on other code than this."""
    from augkit.evaluate.provenance import check_same_code

    if not Path(path).exists():
        return None
    record = json.loads(Path(path).read_text())
    check_same_code(record, code_hash(), path)
    return record


def fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def patient_of(sample) -> str:
    """The patient a slice belongs to (``patient_of_id`` of its id)."""
    return patient_of_id(sample.id)


def patient_of_id(sid: str) -> str:
    """The patient of a slice id: the case folder (LGG, BraTS) or the id without its trailing
    slice number."""
    if "/" in sid:
        return sid.split("/")[0]
    return re.sub(r"[_-]?\d+$", "", sid) or sid


def check_segmentation(dataset, role: str) -> None:
    from augkit.errors import DataError

    if len(dataset) == 0:
        raise DataError(dataset.root, f"the {role} folder holds no samples", "give a folder of image/mask pairs")
    missing = [s.id for s in dataset.samples if s.mask is None]
    if missing:
        raise DataError(dataset.root, f"{len(missing)} {role} samples have no mask (first: {missing[0]!r})",
                        "pair every image with a mask")


def check_disjoint(splits: dict) -> None:
    """Refuse (one line) train/val/test folders that share a patient (LGG) or case (BraTS):
    ``splits`` maps a role to (folder, samples)."""
    from augkit.errors import DataError

    roles = list(splits)
    for i, a in enumerate(roles):
        for b in roles[i + 1:]:
            shared = sorted({patient_of(s) for s in splits[a][1]} & {patient_of(s) for s in splits[b][1]})
            if shared:
                raise DataError(splits[b][0], f"{len(shared)} patient(s) of the {b} folder are also in the {a} "
                                f"folder {splits[a][0]} (first: {shared[0]!r})",
                                f"give --{b} and --{a} folders of different patients")


def draw_by_case(samples, num: int, seed: int = DRAW_SEED) -> list[int]:
    """Indices of ``num`` samples spread over cases (``Sample.group``, else ``patient_of``): the
    cases in a seeded order, each case's slices in its own seeded order, one slice of each case in
    turn until ``num`` are taken (so 30 of 4 cases is 8/8/7/7). Sorted; the same for the same seed."""
    from augkit.errors import UsageError
    from augkit.seeding import rng_for

    if not 1 <= num <= len(samples):
        raise UsageError(f"cannot draw {num} slices from {len(samples)}. Fix: draw between 1 and {len(samples)}.")
    by_case: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        by_case.setdefault(getattr(s, "group", None) or patient_of(s), []).append(i)
    names = sorted(by_case)
    queues = [[by_case[c][j] for j in rng_for(seed, k + 1).permutation(len(by_case[c]))]
              for k, c in enumerate(names)]
    queues = [queues[j] for j in rng_for(seed).permutation(len(names))]
    picked: list[int] = []
    while len(picked) < num:
        for q in queues:
            if q and len(picked) < num:
                picked.append(q.pop(0))
    return sorted(picked)


def subset_indices(num_train: int, num_real: int) -> list[int]:
    """Nested subsets: the first ``num_real`` of one fixed permutation."""
    from augkit.seeding import rng_for

    return sorted(int(i) for i in rng_for(SUBSET_SEED).permutation(num_train)[:num_real])
