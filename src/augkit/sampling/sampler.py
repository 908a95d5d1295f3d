"""The mixing sampler: which sample sits at position k of epoch e of a training run.

Which positions of epoch e are synthetic is a seeded plan: exactly ``round(fraction × epoch
size)`` of them, placed by a permutation drawn from (seed, e), so an asked 0.30 is 0.30 in every
epoch, not 0.24 or 0.36. Each position then draws its class (with class balancing) and item on its
own from ``rng_for(seed, epoch, k)``, and classical transforms are applied on the fly with
``derive_seed(seed, epoch, k)``. Nothing depends on the order positions are asked for, so a
map-style dataset, several DataLoader workers or parallel tf.data calls all get the same sequence
for the same seed, and no two workers share a position.

Epochs follow the DistributedSampler convention: the caller says which epoch it is
(``set_epoch``, or ``epoch=`` of the tf.data adapter). Serving a position of an epoch a second
time (a loop that forgot ``set_epoch``) repeats that epoch's draws; it is warned about once
(``EpochRepeatWarning``). ``augkit.sampling.tfdata`` and ``augkit.sampling.torch`` turn a sampler into framework
datasets; the ``Encoder`` here turns a Sample into the arrays a model expects, shared by both.

Volumes (whole NIfTI cases, X×Y×Z×C) are served whole, or as one patch per position with
``patch_size=(x, y, z)``: the patch is drawn from (seed, epoch, k) too (``augkit.sampling.patches``),
optionally centred on a labelled voxel (``patch_foreground``), after the on-the-fly transforms,
which for volumes are the ``VolumePipeline`` of the same config.

Synthetic sources (a list of Samples, an ``augkit expand`` folder, a live generator) live in
``augkit.sampling.sources``; their names are importable from here too.
"""

from __future__ import annotations

import dataclasses
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from augkit.errors import DataError, UsageError
from augkit.sample import Sample
from augkit.seeding import derive_seed, rng_for
from augkit.sampling.sources import SYNTHETIC_SOURCES, SampleListSource, as_source, split_expanded
from augkit.sampling.sources import FolderSource, SyntheticSource  # noqa: F401  (augkit.sampler's old names, to 0.3)
from augkit.sampling.patches import check_patch_size, crop_padded, draw_patch_start, labelled_voxels
from augkit.transforms.pipeline import ClassicalPipeline
from augkit.transforms.volume import VolumePipeline

# Stream tag of the per-epoch plan (which positions are synthetic).
_PLAN_STREAM = 0x706C616E
# Stream tag of a position's patch draws (kept apart from its class/item draws).
_PATCH_STREAM = 0x7061746368
_PLANS_KEPT = 4  # epoch plans cached per process (tf.data runs a little ahead into the next epoch)
_SERVED_KEPT = 8  # epochs whose served positions are remembered for the repeat warning
# volumes whose labelled voxels and intensity range are kept per process, so a patch does not
# rescan its whole case (52 % of a 3D training step's CPU time on BraTS 64³ patches)
_CASE_STATS_KEPT = 128


class EpochRepeatWarning(UserWarning):
    """A position of an epoch was served again: the loop did not move to a new epoch."""


def repeat_message(epoch: int) -> str:
    return (f"epoch {epoch} of the augkit sampler is being served a second time, so it repeats the "
            f"same draws and transforms. Fix: call set_epoch(e) before each epoch (as with "
            f"DistributedSampler), or build the tf.data dataset with num_epochs/epoch=; call "
            f"set_epoch({epoch}) to repeat it on purpose. Warned once.")


# ---- the sampler --------------------------------------------------------------------------
@dataclass(frozen=True)
class Draw:
    """What position k of an epoch holds: ``source`` "real" or "synthetic", and the item."""

    source: str
    index: int


class MixedSampler:
    """Mix real and synthetic samples with a (scheduled) synthetic fraction.

    ``synthetic_fraction`` is a float or ``callable(epoch) -> float``; ``balance_classes`` draws
    the class uniformly first (classification, ``Sample.label``); ``transforms`` is applied on the
    fly to every drawn sample (a ``VolumePipeline``, or the ``ClassicalPipeline`` config run as
    one, for volumes). ``epoch_size`` defaults to len(real) + len(synthetic).

    Volumes: ``patch_size=(x, y, z)`` serves one patch per position instead of the whole case,
    padded with 0 where it passes the volume's edge; ``patch_foreground`` is the share of
    patches centred on a labelled voxel (nnU-Net oversamples foreground at 0.33).
    """

    def __init__(self, real: Sequence[Sample], synthetic: Any = None, *,
                 synthetic_fraction: float | Callable[[int], float] = 0.5,
                 transforms: ClassicalPipeline | VolumePipeline | None = None,
                 balance_classes: bool = False, seed: int = 0, epoch_size: int | None = None,
                 patch_size: Sequence[int] | None = None, patch_foreground: float = 0.0):
        self.real = SampleListSource(real.samples if hasattr(real, "samples") else real)
        if len(self.real) == 0:
            raise UsageError("MixedSampler needs at least one real sample; the real set is empty.")
        self.synthetic = as_source(synthetic)
        if self.synthetic is not None and len(self.synthetic) == 0:
            raise UsageError("the synthetic source is empty; pass synthetic=None to train on real data only.")
        if not callable(synthetic_fraction):
            _check_fraction(synthetic_fraction, None)
        self.synthetic_fraction = synthetic_fraction
        self.transforms = transforms
        self.patch_size = check_patch_size(patch_size)
        if not 0.0 <= float(patch_foreground) <= 1.0:
            raise UsageError(f"patch_foreground must be in [0, 1]. Received: {patch_foreground!r}")
        self.patch_foreground = float(patch_foreground)
        self.seed = int(seed)
        size = len(self.real) + (len(self.synthetic) if self.synthetic is not None else 0)
        self.epoch_size = int(epoch_size) if epoch_size is not None else size
        if self.epoch_size < 1:
            raise UsageError(f"epoch_size must be >= 1. Received: {epoch_size}")
        self.balance_classes = balance_classes
        if balance_classes:
            self._index_classes()
        self.epoch = 0
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._local = threading.local()
        self._plans: OrderedDict[int, np.ndarray] = OrderedDict()
        self._served: OrderedDict[int, np.ndarray] = OrderedDict()
        self._warned = False
        self._lock = threading.Lock()
        self._case_stats: OrderedDict[tuple[str, int], tuple] = OrderedDict()

    @classmethod
    def from_expanded(cls, path: str | Path, **options: Any) -> "MixedSampler":
        """Sampler over an ``augkit expand`` output folder: its real and synthetic samples."""
        real, synthetic = split_expanded(path, cases=True)
        if not real:
            raise DataError(Path(path) / "manifest.csv", "no real rows in the manifest",
                            "give a complete `augkit expand` output folder")
        return cls(real, synthetic if len(synthetic) else None, **options)

    def _index_classes(self) -> None:
        real_labels = self.real.labels()
        if any(label is None for label in real_labels):
            raise UsageError("balance_classes needs a class label on every real sample "
                             "(Sample.label; class sub-folders when reading a folder).")
        syn_labels = None
        if self.synthetic is not None:
            syn_labels = self.synthetic.labels()
            if syn_labels is None or any(label is None for label in syn_labels):
                raise UsageError("balance_classes needs the class of every synthetic sample in "
                                 "advance; for a live generator give GeneratorSource(label=...), "
                                 "conditions='classes', or conditions='labels' with "
                                 "refresh_each_epoch=False.")
        self.classes = sorted(set(real_labels) | set(syn_labels or []), key=repr)
        self._real_by_class = {c: [i for i, l in enumerate(real_labels) if l == c] for c in self.classes}
        self._syn_by_class = {c: [i for i, l in enumerate(syn_labels or []) if l == c] for c in self.classes}

    # -- state ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.epoch_size

    def set_epoch(self, epoch: int) -> None:
        """Say which epoch comes next (before iterating it). The caller now manages epochs:
        what was served before no longer counts, so serving an epoch again after this is on
        purpose and not warned about."""
        self.epoch = int(epoch)
        with self._lock:
            self._served.clear()

    def fraction(self, epoch: int) -> float:
        if self.synthetic is None:
            return 0.0
        f = self.synthetic_fraction
        return _check_fraction(f(epoch) if callable(f) else f, epoch if callable(f) else None)

    def __getstate__(self) -> dict[str, Any]:
        # Rebuilt per process from its config: locks and albumentations state stay behind.
        state = dict(self.__dict__)
        for name in ("_local", "_plans", "_served", "_warned", "_lock", "_case_stats"):
            state.pop(name)
        state["transforms"] = None if self.transforms is None else (
            type(self.transforms).__name__, self.transforms.get_config())
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        transforms = state.pop("transforms")
        self.__dict__.update(state)
        if transforms is not None:
            kind, config = transforms
            pipeline = VolumePipeline if kind == "VolumePipeline" else ClassicalPipeline
            transforms = pipeline(config=config)
        self.transforms = transforms
        self._init_runtime()

    # -- drawing -------------------------------------------------------------------------
    def num_synthetic(self, epoch: int) -> int:
        """How many positions of ``epoch`` the plan makes synthetic: round(fraction × size)."""
        return int(np.floor(self.fraction(epoch) * self.epoch_size + 0.5))

    def synthetic_positions(self, epoch: int) -> np.ndarray:
        """Boolean mask over the positions of ``epoch``: True where the plan puts a synthetic
        sample. Exactly ``num_synthetic(epoch)`` of them, placed by a permutation drawn from
        (seed, epoch), so the share is exact per epoch and spread over the whole epoch."""
        plan = self._plans.get(epoch)
        if plan is None:
            count = self.num_synthetic(epoch)
            plan = np.zeros(self.epoch_size, dtype=bool)
            if count:
                order = rng_for(self.seed, _PLAN_STREAM, epoch).permutation(self.epoch_size)
                plan[order[:count]] = True
            plan.flags.writeable = False
            with self._lock:
                self._plans[epoch] = plan
                while len(self._plans) > _PLANS_KEPT:
                    self._plans.popitem(last=False)
        return plan

    def draw(self, epoch: int, k: int) -> Draw:
        """Source and item of position ``k`` of ``epoch``; depends on (seed, epoch, k) and the
        settings only. The source comes from the epoch's plan; with ``balance_classes`` a class
        with no sample of the planned kind takes the other kind (the only case where an epoch's
        synthetic share moves off the plan)."""
        if not 0 <= k < self.epoch_size:
            raise IndexError(f"position {k} outside the epoch of {self.epoch_size} samples")
        use_synthetic = bool(self.synthetic_positions(epoch)[k])
        rng = rng_for(self.seed, epoch, k)
        # Fixed draw order (class, item) so that a position never depends on settings it does
        # not use.
        if self.balance_classes:
            cls = self.classes[int(rng.integers(len(self.classes)))]
            pool = self._syn_by_class[cls] if use_synthetic else self._real_by_class[cls]
            if not pool:  # this class has no sample of the asked kind: take the other kind
                use_synthetic = not use_synthetic
                pool = self._syn_by_class[cls] if use_synthetic else self._real_by_class[cls]
            return Draw("synthetic" if use_synthetic else "real", pool[int(rng.integers(len(pool)))])
        size = len(self.synthetic) if use_synthetic else len(self.real)
        return Draw("synthetic" if use_synthetic else "real", int(rng.integers(size)))

    def plan(self, epoch: int | None = None) -> list[Draw]:
        epoch = self.epoch if epoch is None else epoch
        return [self.draw(epoch, k) for k in range(self.epoch_size)]

    def get(self, epoch: int, k: int) -> Sample:
        """The sample at position ``k`` of ``epoch``, transformed if transforms were given.
        Random access: any position, any number of times, no bookkeeping (see ``serve``)."""
        return self.get_with_origin(epoch, k)[0]

    def get_with_origin(self, epoch: int, k: int) -> tuple[Sample, dict[str, str]]:
        """``get`` plus where the sample came from: ``{"source": real | classical | gan |
        gan+classical, "id": ...}`` of the stored sample drawn, before on-the-fly transforms."""
        d = self.draw(epoch, k)
        source = self.synthetic if d.source == "synthetic" else self.real
        sample = source.get(d.index, epoch=epoch)
        kind = sample.provenance.source
        if d.source == "synthetic" and kind not in SYNTHETIC_SOURCES:
            kind = "synthetic"  # a synthetic list whose Samples do not say how they were made
        elif d.source == "real":
            kind = "real"
        origin = {"source": kind, "id": sample.id}
        if self.transforms is not None:
            sample = self._pipeline(sample)(sample, seed=derive_seed(self.seed, epoch, k),
                                            new_id=f"{sample.id}~e{epoch}k{k}")
        if self.patch_size is not None:
            # a fixed sample (in memory or read from a folder) is the same volume at every draw,
            # so what a patch needs from the whole case is kept; transformed or generated ones differ
            fixed = self.transforms is None and isinstance(source, SampleListSource)
            sample = self._patch(sample, epoch, k, key=(d.source, d.index) if fixed else None)
        return sample, origin

    def _patch(self, sample: Sample, epoch: int, k: int, key: tuple[str, int] | None = None) -> Sample:
        """One patch of a volume, its start drawn from (seed, epoch, k). The patch keeps the
        case's per-channel [min, max] in ``meta["intensity_range"]`` so the Encoder scales
        every patch of a case alike. ``key``: where a fixed sample comes from, to keep its
        whole-case numbers for its next patch (the same bytes either way)."""
        if not sample.is_volume:
            raise UsageError(f"patch_size is for volumes (X×Y×Z×C); sample {sample.id!r} is 2D with "
                             f"image.shape={sample.image.shape}. Drop patch_size for 2D samples (a "
                             "'resize' transform sets their size).")
        rng = rng_for(self.seed, _PATCH_STREAM, epoch, k)
        labelled, low, high = self._whole_case(sample, key)
        start = draw_patch_start(rng, sample.image.shape, self.patch_size,
                                 self.patch_foreground, sample.mask, labelled=labelled)
        meta = {**sample.meta, "patch_start": list(start), "intensity_range": (list(low), list(high))}
        mask = None if sample.mask is None else crop_padded(sample.mask, start, self.patch_size)
        return dataclasses.replace(sample, image=crop_padded(sample.image, start, self.patch_size),
                                   mask=mask, meta=meta)

    def _whole_case(self, sample: Sample, key: tuple[str, int] | None):
        """(labelled voxels or None, per-channel min, per-channel max) of a whole volume: kept
        per ``key`` (checked against the sample's id and shape), else computed."""
        if key is not None:
            with self._lock:
                hit = self._case_stats.get(key)
                if hit is not None and hit[0] == (sample.id, sample.image.shape):
                    self._case_stats.move_to_end(key)
                    return hit[1]
        axes = tuple(range(sample.image.ndim - 1))
        labelled = None if sample.mask is None or not self.patch_foreground else labelled_voxels(sample.mask)
        stats = (labelled, sample.image.min(axis=axes).tolist(), sample.image.max(axis=axes).tolist())
        if key is not None:
            with self._lock:
                self._case_stats[key] = ((sample.id, sample.image.shape), stats)
                while len(self._case_stats) > _CASE_STATS_KEPT:
                    self._case_stats.popitem(last=False)
        return stats

    def serve(self, epoch: int, k: int) -> Sample:
        """``get`` for a training loop: also notes that position k of ``epoch`` was served and
        warns once (``EpochRepeatWarning``) when it is served again without ``set_epoch``."""
        self.note_served(epoch, k)
        return self.get(epoch, k)

    def note_served(self, epoch: int, k: int) -> None:
        with self._lock:
            served = self._served.get(epoch)
            if served is None:
                served = self._served[epoch] = np.zeros(self.epoch_size, dtype=bool)
                while len(self._served) > _SERVED_KEPT:
                    self._served.popitem(last=False)
            again, served[k] = bool(served[k]), True
            warn = again and not self._warned
            if warn:
                self._warned = True
        if warn:
            warnings.warn(repeat_message(epoch), EpochRepeatWarning, stacklevel=3)

    def _pipeline(self, sample: Sample) -> ClassicalPipeline | VolumePipeline:
        if sample.is_volume:
            if isinstance(self.transforms, VolumePipeline):  # pure: shared by all threads
                return self.transforms
            pipe = getattr(self._local, "volume_pipeline", None)
            if pipe is None:  # a 2D config given for volumes: the same ops in 3D
                pipe = self._local.volume_pipeline = VolumePipeline(config=self.transforms.get_config())
            return pipe
        if isinstance(self.transforms, VolumePipeline):
            raise UsageError(f"a VolumePipeline cannot transform the 2D sample {sample.id!r}; give "
                             "a ClassicalPipeline for 2D samples.")
        # albumentations keeps its random state on the transform objects: one copy per thread
        # so parallel tf.data calls cannot reseed each other mid-sample.
        pipe = getattr(self._local, "pipeline", None)
        if pipe is None:
            pipe = self._local.pipeline = ClassicalPipeline(config=self.transforms.get_config())
        return pipe

    def __getitem__(self, k: int) -> Sample:
        return self.serve(self.epoch, k)

    def __iter__(self):
        epoch = self.epoch
        return (self.serve(epoch, k) for k in range(self.epoch_size))


def _check_fraction(value: Any, epoch: int | None) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        f = float("nan")
    if not 0.0 <= f <= 1.0:
        where = f" (schedule at epoch {epoch})" if epoch is not None else ""
        raise UsageError(f"synthetic_fraction must be in [0, 1]{where}. Received: {value!r}")
    return f
