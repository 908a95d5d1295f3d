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
(``EpochRepeatWarning``). ``augkit.tfdata`` and ``augkit.torch`` turn a sampler into framework
datasets; the ``Encoder`` here turns a Sample into the arrays a model expects, shared by both.

Synthetic sources: a list of Samples, the folder ``augkit expand`` wrote (``FolderSource``), or a
live generator producing in batches (``GeneratorSource``).
"""

from __future__ import annotations

import abc
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
from augkit.generators import Generator
from augkit.sample import Sample
from augkit.seeding import derive_seed, rng_for
from augkit.transforms import ClassicalPipeline

SYNTHETIC_SOURCES = ("classical", "gan", "gan+classical")
# Stream tag for the live generator's own draws, so they never coincide with the sampler's
# rng_for(seed, epoch, k) when both are given the same seed.
_GENERATOR_STREAM = 0x67656E
# Stream tag of the per-epoch plan (which positions are synthetic).
_PLAN_STREAM = 0x706C616E
_PLANS_KEPT = 4  # epoch plans cached per process (tf.data runs a little ahead into the next epoch)
_SERVED_KEPT = 8  # epochs whose served positions are remembered for the repeat warning


class EpochRepeatWarning(UserWarning):
    """A position of an epoch was served again: the loop did not move to a new epoch."""


def repeat_message(epoch: int) -> str:
    return (f"epoch {epoch} of the augkit sampler is being served a second time, so it repeats the "
            f"same draws and transforms. Fix: call set_epoch(e) before each epoch (as with "
            f"DistributedSampler), or build the tf.data dataset with num_epochs/epoch=; call "
            f"set_epoch({epoch}) to repeat it on purpose. Warned once.")


# ---- sources ------------------------------------------------------------------------------
class SyntheticSource(abc.ABC):
    """Random access to synthetic samples: ``get(index, epoch=)`` for ``0 <= index < len``."""

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def get(self, index: int, *, epoch: int = 0) -> Sample: ...

    def labels(self) -> list[Any] | None:
        """The class label of every index, when known without producing the samples."""
        return None

    @staticmethod
    def from_folder(path: str | Path, **options: Any) -> "FolderSource":
        return FolderSource(path, **options)

    @staticmethod
    def from_generator(generator: Generator, real: Sequence[Sample] | None = None,
                       **options: Any) -> "GeneratorSource":
        return GeneratorSource(generator, real, **options)


class SampleListSource(SyntheticSource):
    """Samples already in memory."""

    def __init__(self, samples: Sequence[Sample]):
        self.samples = list(samples)

    def __len__(self) -> int:
        return len(self.samples)

    def get(self, index: int, *, epoch: int = 0) -> Sample:
        return self.samples[index]

    def labels(self) -> list[Any]:
        return [s.label for s in self.samples]


def _holds_volumes(path: Path, rows: list[dict[str, str]]) -> bool:
    """Whether an expand output's samples are whole NIfTI cases (from a file header)."""
    first = next((f for r in rows for f in r.get("files", "").split(";") if f), "")
    if not first.lower().endswith((".nii", ".nii.gz")):
        return False
    import nibabel as nib

    try:
        shape = nib.load(path / first).shape
    except Exception:  # an unreadable file is the reader's to report, in its own words
        return False
    return len(shape) >= 3 and shape[2] > 1


def split_expanded(path: str | Path, **read_options: Any) -> tuple[list[Sample], list[Sample]]:
    """The real and the synthetic samples of a folder written by ``augkit expand``.

    Reading the folder back gives every sample real provenance; ``manifest.csv`` says which
    ones were made, so each Sample gets its manifest provenance back (joined on id, else on the
    files the writer listed for it).
    """
    from augkit.engine import MANIFEST, read_manifest
    from augkit.io import read_slices

    path = Path(path)
    manifest = path / MANIFEST
    if not manifest.is_file():
        raise DataError(manifest, "no manifest.csv in this folder, so real and synthetic samples "
                        "cannot be told apart", "give a folder written by `augkit expand`")
    rows = read_manifest(manifest)
    if not read_options.get("unit") and _holds_volumes(path, rows):
        raise UsageError(f"{path} holds whole 3D cases (an expand of NIfTI volumes); the sampler and "
                         "evaluate work on 2D samples: expand with --unit slice for them.")
    by_id = {r["id"]: r for r in rows}
    by_file = {f: r for r in rows for f in r.get("files", "").split(";") if f}
    real, synthetic = [], []
    for sample in read_slices(path, **read_options).samples:
        row = by_id.get(sample.id)
        if row is None:
            rel = (sample.meta.get("relpath") or {}).values()
            row = next((by_file[f] for f in rel if f in by_file), None)
        if row is None:
            raise DataError(manifest, f"sample {sample.id!r} read from the folder has no manifest row",
                            "re-run `augkit expand` into a fresh --out; do not add files by hand")
        if row["source"] == "real":
            real.append(sample)
            continue
        prov = dataclasses.replace(
            sample.provenance, id=row["id"], source=row["source"],
            parent_id=row.get("parent_id") or None, generator=row.get("generator") or None,
            checkpoint_hash=row.get("checkpoint_hash") or None,
            seed=int(row["seed"]) if row.get("seed") else None,
        )
        synthetic.append(dataclasses.replace(sample, provenance=prov))
    return real, synthetic


class FolderSource(SampleListSource):
    """The synthetic samples of an ``augkit expand`` output folder (its real ones are skipped:
    pass the real set to the sampler yourself, or use ``MixedSampler.from_expanded``).

    ``sources`` picks which kinds to keep, e.g. ``("gan",)`` for GAN samples only.
    """

    def __init__(self, path: str | Path, *, sources: Sequence[str] = SYNTHETIC_SOURCES,
                 **read_options: Any):
        bad = sorted(set(sources) - set(SYNTHETIC_SOURCES))
        if bad:
            raise UsageError(f"FolderSource sources must be among {SYNTHETIC_SOURCES}. Received: {bad}")
        self.path = Path(path)
        _, synthetic = split_expanded(self.path, **read_options)
        super().__init__([s for s in synthetic if s.provenance.source in sources])
        if not self.samples:
            raise DataError(self.path, f"no samples of source {'/'.join(sources)} in this folder",
                            "expand it with a larger --to (or --generator for GAN samples)")


class GeneratorSource(SyntheticSource):
    """A live generator as a pool of ``pool_size`` samples, made in batches on first use.

    Item i of the pool is made in batch ``i // batch_size`` with a seed derived from (seed, pool
    epoch, batch); for a segmentation generator its condition is the mask of a real sample drawn
    from (seed, pool epoch, i), optionally moved by the label-safe part of ``mask_transforms``.
    So item i is the same whichever process asks for it first. ``refresh_each_epoch`` makes a
    new pool every epoch (fresh samples); otherwise one pool serves all epochs. The last
    ``cache_batches`` batches are kept in memory.

    ``conditions``: "masks" (segmentation), "labels" (class-conditional), None (unconditional),
    or "auto" (masks when the generator does segmentation and the real samples have masks).
    ``label`` sets the class of every sample of an unconditional per-class generator.
    """

    def __init__(self, generator: Generator, real: Sequence[Sample] | None = None, *,
                 pool_size: int = 256, batch_size: int = 16, seed: int = 0,
                 conditions: str | None = "auto", mask_transforms: ClassicalPipeline | None = None,
                 refresh_each_epoch: bool = True, cache_batches: int = 8, label: Any = None):
        if pool_size < 1 or batch_size < 1 or cache_batches < 1:
            raise UsageError("GeneratorSource needs pool_size, batch_size and cache_batches >= 1. "
                             f"Received: {pool_size}, {batch_size}, {cache_batches}")
        self.real = list(real or [])
        if conditions == "auto":
            has_masks = bool(self.real) and self.real[0].mask is not None
            conditions = "masks" if has_masks and "segmentation" in generator.tasks else None
        if conditions not in ("masks", "labels", None):
            raise UsageError(f"conditions must be 'masks', 'labels', None or 'auto'. Received: {conditions!r}")
        if conditions and not self.real:
            raise UsageError(f"conditions={conditions!r} are drawn from the real samples; pass them "
                             "as GeneratorSource(generator, real_samples, ...)")
        if conditions == "masks" and any(s.mask is None for s in self.real):
            raise UsageError("conditions='masks' needs every real sample to have a mask.")
        self.generator = generator
        self.pool_size, self.batch_size, self.seed = int(pool_size), int(batch_size), int(seed)
        self.conditions = conditions
        self.mask_transforms = None if mask_transforms is None else mask_transforms.geometric_only()
        self.refresh_each_epoch = refresh_each_epoch
        self.cache_batches = cache_batches
        self.label = label
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._cache: OrderedDict[tuple[int, int], list[Sample]] = OrderedDict()
        self._lock = threading.Lock()  # tf.data calls get() from several threads

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_cache"], state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime()

    def __len__(self) -> int:
        return self.pool_size

    def _pool_epoch(self, epoch: int) -> int:
        return epoch if self.refresh_each_epoch else 0

    def _parent(self, pool_epoch: int, index: int) -> Sample | None:
        if not self.real:
            return None
        rng = rng_for(self.seed, _GENERATOR_STREAM, pool_epoch, index)
        return self.real[int(rng.integers(len(self.real)))]

    def labels(self) -> list[Any] | None:
        if self.label is not None:
            return [self.label] * self.pool_size
        if self.conditions == "labels" and not self.refresh_each_epoch:
            return [self._parent(0, i).label for i in range(self.pool_size)]
        return None

    def get(self, index: int, *, epoch: int = 0) -> Sample:
        if not 0 <= index < self.pool_size:
            raise IndexError(f"GeneratorSource index {index} outside 0..{self.pool_size - 1}")
        key = (self._pool_epoch(epoch), index // self.batch_size)
        with self._lock:
            batch = self._cache.get(key)
            if batch is None:
                batch = self._make_batch(*key)
                self._cache[key] = batch
                while len(self._cache) > self.cache_batches:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(key)
        return batch[index % self.batch_size]

    def _make_batch(self, pool_epoch: int, batch: int) -> list[Sample]:
        indices = range(batch * self.batch_size, min((batch + 1) * self.batch_size, self.pool_size))
        # Only a conditioned sample has a parent: an unconditional one owes nothing to any real.
        parents = [self._parent(pool_epoch, i) if self.conditions else None for i in indices]
        conditions = None
        if self.conditions == "masks":
            conditions = []
            for i, parent in zip(indices, parents):
                mask = parent.mask
                if self.mask_transforms is not None:
                    seed = derive_seed(self.seed, _GENERATOR_STREAM, pool_epoch, i)
                    _, mask, _ = self.mask_transforms.apply(parent.image, mask, seed)
                conditions.append(mask)
        elif self.conditions == "labels":
            conditions = [p.label for p in parents]
        seed = derive_seed(self.seed, _GENERATOR_STREAM, pool_epoch, batch)
        made = list(self.generator.generate(len(indices), seed=seed, conditions=conditions,
                                            batch_size=self.batch_size))
        if len(made) != len(indices):
            raise UsageError(f"generator {self.generator.name!r} returned {len(made)} samples for "
                             f"{len(indices)} asked; it breaks the Generator.generate contract.")
        out = []
        for i, parent, sample in zip(indices, parents, made):
            prov = dataclasses.replace(sample.provenance, id=f"{self.generator.name}_e{pool_epoch}_{i:06d}",
                                       parent_id=None if parent is None else parent.id)
            if parent is not None:  # keeps the parent's label, features and meta
                mask = conditions[i - indices.start] if self.conditions == "masks" else sample.mask
                sample = dataclasses.replace(parent, image=sample.image, mask=mask, provenance=prov)
            else:
                sample = dataclasses.replace(sample, provenance=prov)
            if self.label is not None:
                sample = dataclasses.replace(sample, label=self.label)
            out.append(sample)
        return out


# ---- the sampler --------------------------------------------------------------------------
@dataclass(frozen=True)
class Draw:
    """What position k of an epoch holds: ``source`` "real" or "synthetic", and the item."""

    source: str
    index: int


def _as_source(obj: Any) -> SyntheticSource | None:
    if obj is None or isinstance(obj, SyntheticSource):
        return obj
    if isinstance(obj, (str, Path)):
        return FolderSource(obj)
    if isinstance(obj, Generator):
        raise UsageError("wrap a live generator as SyntheticSource.from_generator(generator, "
                         "real_samples, pool_size=...) so the sampler knows its pool and conditions.")
    return SampleListSource(obj)


class MixedSampler:
    """Mix real and synthetic samples with a (scheduled) synthetic fraction.

    ``synthetic_fraction`` is a float or ``callable(epoch) -> float``; ``balance_classes`` draws
    the class uniformly first (classification, ``Sample.label``); ``transforms`` is applied on the
    fly to every drawn sample. ``epoch_size`` defaults to len(real) + len(synthetic).
    """

    def __init__(self, real: Sequence[Sample], synthetic: Any = None, *,
                 synthetic_fraction: float | Callable[[int], float] = 0.5,
                 transforms: ClassicalPipeline | None = None, balance_classes: bool = False,
                 seed: int = 0, epoch_size: int | None = None):
        self.real = SampleListSource(real.samples if hasattr(real, "samples") else real)
        if len(self.real) == 0:
            raise UsageError("MixedSampler needs at least one real sample; the real set is empty.")
        self.synthetic = _as_source(synthetic)
        if self.synthetic is not None and len(self.synthetic) == 0:
            raise UsageError("the synthetic source is empty; pass synthetic=None to train on real data only.")
        if not callable(synthetic_fraction):
            _check_fraction(synthetic_fraction, None)
        self.synthetic_fraction = synthetic_fraction
        self.transforms = transforms
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

    @classmethod
    def from_expanded(cls, path: str | Path, **options: Any) -> "MixedSampler":
        """Sampler over an ``augkit expand`` output folder: its real and synthetic samples."""
        real, synthetic = split_expanded(path)
        if not real:
            raise DataError(Path(path) / "manifest.csv", "no real rows in the manifest",
                            "give a complete `augkit expand` output folder")
        return cls(real, synthetic or None, **options)

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
                                 "advance; for a live generator give GeneratorSource(label=...) or "
                                 "conditions='labels' with refresh_each_epoch=False.")
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
        for name in ("_local", "_plans", "_served", "_warned", "_lock"):
            state.pop(name)
        state["transforms"] = None if self.transforms is None else self.transforms.get_config()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        config = state.pop("transforms")
        self.__dict__.update(state)
        self.transforms = None if config is None else ClassicalPipeline(config=config)
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
        if self.transforms is None:
            return sample, origin
        return self._pipeline()(sample, seed=derive_seed(self.seed, epoch, k),
                                new_id=f"{sample.id}~e{epoch}k{k}"), origin

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

    def _pipeline(self) -> ClassicalPipeline:
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


# ---- encoding for models ------------------------------------------------------------------
class Encoder:
    """Sample -> (image H×W×C float, target) as a model expects them; shared by both adapters.

    Images: uint8 is divided by 255; other dtypes (MRI int16, 12-bit data in uint16, floats) are
    scaled per image and channel from [min, max] to [0, 1] (``scale=False`` only casts). Segmentation targets are the
    class index of each mask value in ``label_values`` (e.g. {0, 255} -> {0, 1}), or one-hot;
    classification targets are the index of ``Sample.label`` in ``label_values``. Unset
    ``label_values`` are read from the sampler's real samples (sorted).
    """

    def __init__(self, sampler: MixedSampler, *, task: str = "segmentation", one_hot: bool = False,
                 num_classes: int | None = None, label_values: Sequence[Any] | None = None,
                 image_dtype: str = "float32", scale: bool = True):
        if task not in ("segmentation", "classification"):
            raise UsageError(f"task must be 'segmentation' or 'classification'. Received: {task!r}")
        self.task, self.one_hot, self.scale = task, one_hot, scale
        self.image_dtype = np.dtype(image_dtype)
        reals = sampler.real.samples
        if task == "segmentation" and reals[0].mask is None:
            raise UsageError("task='segmentation' needs masks, but the real samples have none; "
                             "use task='classification'.")
        if task == "classification" and label_values is None and any(s.label is None for s in reals):
            raise UsageError("task='classification' needs Sample.label on every real sample "
                             "(class sub-folders when reading a folder).")
        if label_values is None:
            if task == "segmentation":
                label_values = np.unique(np.concatenate([np.unique(s.mask) for s in reals])).tolist()
            else:
                label_values = sorted({s.label for s in reals}, key=repr)
        self.label_values = list(label_values)
        self.num_classes = len(self.label_values) if num_classes is None else int(num_classes)
        if self.num_classes < len(self.label_values):
            raise UsageError(f"num_classes={num_classes} is smaller than the {len(self.label_values)} "
                             f"label values {self.label_values}; raise num_classes or drop values.")
        self._index = {v: i for i, v in enumerate(self.label_values)}
        self.image_shape = reals[0].image.shape
        if task == "segmentation":
            self._values = np.asarray(self.label_values)
            if self._values.dtype.kind not in "iu":
                raise UsageError(f"segmentation label_values must be integers. Received: {self.label_values}")
            order = np.argsort(self._values)
            self._sorted, self._order = self._values[order], order

    @property
    def target_shape(self) -> tuple[int, ...]:
        h, w = self.image_shape[:2]
        if self.task == "segmentation":
            return (h, w, self.num_classes) if self.one_hot else (h, w)
        return (self.num_classes,) if self.one_hot else ()

    @property
    def target_dtype(self) -> np.dtype:
        return np.dtype("float32") if self.one_hot else np.dtype("int64")

    def image(self, sample: Sample) -> np.ndarray:
        img = sample.image
        if img.shape != self.image_shape:
            raise DataError(None, f"sample {sample.id!r} has image shape {img.shape} but the real "
                            f"samples have {self.image_shape}; a batch needs one shape",
                            "add a 'resize' transform (height/width) to the sampler's transforms")
        if not self.scale:
            return img.astype(self.image_dtype)
        if img.dtype == np.uint8:
            return (img.astype(np.float32) / 255.0).astype(self.image_dtype)
        work = img.astype(np.float32)
        low = work.min(axis=(0, 1), keepdims=True)
        span = work.max(axis=(0, 1), keepdims=True) - low
        return ((work - low) / np.where(span == 0, 1.0, span)).astype(self.image_dtype)

    def target(self, sample: Sample) -> np.ndarray:
        if self.task == "segmentation":
            mask = sample.mask
            pos = np.clip(np.searchsorted(self._sorted, mask), 0, len(self._sorted) - 1)
            bad = self._sorted[pos] != mask
            if bad.any():
                raise DataError(None, f"sample {sample.id!r} has mask value {mask[bad].flat[0]} "
                                f"outside label_values {self.label_values}",
                                "pass label_values listing every mask value")
            index = self._order[pos]
        else:
            if sample.label not in self._index:
                raise DataError(None, f"sample {sample.id!r} has label {sample.label!r} outside "
                                f"label_values {self.label_values}", "pass label_values listing every class")
            index = np.asarray(self._index[sample.label])
        if self.one_hot:
            return np.eye(self.num_classes, dtype=np.float32)[index]
        return index.astype(np.int64)

    def __call__(self, sample: Sample) -> tuple[np.ndarray, np.ndarray]:
        return self.image(sample), self.target(sample)
