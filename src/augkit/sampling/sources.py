"""Where synthetic samples come from for the mixing sampler: a list of Samples, the folder
``augkit expand`` wrote (``FolderSource``, its real samples split off by the manifest), or a live
generator producing in batches (``GeneratorSource``)."""

from __future__ import annotations

import abc
import os
import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from augkit.errors import DataError, UsageError
from augkit.generators.contract import Generator, condition_for
from augkit.sample import Sample
from augkit.seeding import derive_seed, rng_for
from augkit.transforms.pipeline import ClassicalPipeline

SYNTHETIC_SOURCES = ("classical", "gan", "gan+classical")
# Stream tag for the live generator's own draws, so they never coincide with the sampler's
# rng_for(seed, epoch, k) when both are given the same seed.
_GENERATOR_STREAM = 0x67656E


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
        # Lazily read cases (anything with ``metas``) stay lazy: a list would load them all.
        self.samples = samples if hasattr(samples, "metas") else list(samples)

    def __len__(self) -> int:
        return len(self.samples)

    def get(self, index: int, *, epoch: int = 0) -> Sample:
        return self.samples[index]

    def labels(self) -> list[Any]:
        if hasattr(self.samples, "metas"):  # without loading the cases
            return [m.get("label") for m in self.samples.metas]
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


def split_expanded(path: str | Path, *, cases: bool = False,
                   **read_options: Any) -> tuple[Sequence[Sample], Sequence[Sample]]:
    """The real and the synthetic samples of a folder written by ``augkit expand``.

    Reading the folder back gives every sample real provenance; ``manifest.csv`` says which
    ones were made, so each Sample gets its manifest provenance back (joined on id, else on the
    files the writer listed for it). A whole-case (3D NIfTI) output is refused unless ``cases``
    (the sampler's way in): then both parts are ``ManifestCases``, read lazily, a case a time.
    """
    from augkit.expand.manifest import MANIFEST, read_manifest
    from augkit.io import read_dataset, read_slices

    path = Path(path)
    manifest = path / MANIFEST
    if not manifest.is_file():
        raise DataError(manifest, "no manifest.csv in this folder, so real and synthetic samples "
                        "cannot be told apart", "give a folder written by `augkit expand`")
    rows = read_manifest(manifest)
    volumes = read_options.get("unit") in (None, "case") and _holds_volumes(path, rows)
    if volumes and not cases:
        raise UsageError(f"{path} holds whole 3D cases (an expand of NIfTI volumes); evaluate works "
                         "on 2D samples: expand with --unit slice for it (the sampler reads cases).")
    by_id = {r["id"]: r for r in rows}
    by_file = {f: r for r in rows for f in r.get("files", "").split(";") if f}

    def row_of(sample_id: str, relpaths) -> dict[str, str]:
        row = by_id.get(sample_id) or next((by_file[f] for f in relpaths if f in by_file), None)
        if row is None:
            raise DataError(manifest, f"sample {sample_id!r} read from the folder has no manifest row",
                            "re-run `augkit expand` into a fresh --out; do not add files by hand")
        return row

    if volumes:
        lazy = read_dataset(path, **{**read_options, "unit": "case"}).samples
        real, synthetic = [], []
        for i, meta in enumerate(lazy.metas):
            rel = [Path(os.path.relpath(f, path.resolve())).as_posix()
                   for f in meta.get("source_files", [])]
            row = row_of(_case_id(meta), rel)
            (real if row["source"] == "real" else synthetic).append((i, row))
        return ManifestCases(lazy, real), ManifestCases(lazy, synthetic)
    real, synthetic = [], []
    for sample in read_slices(path, **read_options).samples:
        row = row_of(sample.id, (sample.meta.get("relpath") or {}).values())
        if row["source"] == "real":
            real.append(sample)
        else:
            synthetic.append(_with_row(sample, row))
    return real, synthetic


def _case_id(meta: dict[str, Any]) -> str:
    """The id a NIfTI case reader gives a case, from its meta (without loading it)."""
    from pathlib import PurePosixPath

    rel_dir, case = meta.get("rel_dir", ""), meta.get("case", "")
    if meta.get("format") == "brats":
        return rel_dir if PurePosixPath(rel_dir).name == case else f"{rel_dir}/{case}".lstrip("/")
    return meta.get("group", case)


def _with_row(sample: Sample, row: dict[str, str]) -> Sample:
    """``sample`` with the provenance its manifest row records."""
    if row["source"] == "real":
        return sample
    prov = dataclasses.replace(
        sample.provenance, id=row["id"], source=row["source"],
        parent_id=row.get("parent_id") or None, generator=row.get("generator") or None,
        checkpoint_hash=row.get("checkpoint_hash") or None,
        seed=int(row["seed"]) if row.get("seed") else None,
    )
    return dataclasses.replace(sample, provenance=prov)


class ManifestCases(Sequence):
    """Some cases of a lazily read expand output, each given its manifest provenance when
    indexed. Nothing is loaded before ``seq[i]`` and nothing is kept after; ``metas`` (shape,
    label values) are known up front."""

    def __init__(self, cases: Sequence[Sample], picked: list[tuple[int, dict[str, str]]]):
        self.cases = cases
        self.picked = picked
        self.metas = [cases.metas[i] for i, _ in picked]

    def __len__(self) -> int:
        return len(self.picked)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(len(self))[i]]
        index, row = self.picked[i]
        return _with_row(self.cases[index], row)

    def subset(self, keep: Sequence[int]) -> "ManifestCases":
        return ManifestCases(self.cases, [self.picked[i] for i in keep])


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
        _, synthetic = split_expanded(self.path, cases=True, **read_options)
        if isinstance(synthetic, ManifestCases):  # whole cases: picked by row, not loaded
            synthetic = synthetic.subset([i for i, (_, row) in enumerate(synthetic.picked)
                                          if row["source"] in sources])
        else:
            synthetic = [s for s in synthetic if s.provenance.source in sources]
        super().__init__(synthetic)
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

    ``conditions``: "masks" (segmentation), "labels" (class-conditional, each item asks for the
    class of a real sample drawn per pool epoch, so the classes keep the reals' proportions),
    "classes" (class-conditional, item i asks for class ``i % k`` of the reals' k sorted
    classes: balanced, and known in advance for every epoch, so ``MixedSampler(...,
    balance_classes=True)`` can serve it with fresh pools), None (unconditional), or "auto"
    (masks when the generator does segmentation and the real samples have masks). A "classes"
    sample has no parent: it owes its image to no particular real sample.
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
        if conditions not in ("masks", "labels", "classes", None):
            raise UsageError("conditions must be 'masks', 'labels', 'classes', None or 'auto'. "
                             f"Received: {conditions!r}")
        if conditions and not self.real:
            raise UsageError(f"conditions={conditions!r} are drawn from the real samples; pass them "
                             "as GeneratorSource(generator, real_samples, ...)")
        if conditions == "masks" and any(s.mask is None for s in self.real):
            raise UsageError("conditions='masks' needs every real sample to have a mask.")
        if conditions in ("labels", "classes") and any(s.label is None for s in self.real):
            raise UsageError(f"conditions={conditions!r} needs a class label on every real sample "
                             "(class sub-folders when reading a folder).")
        from augkit.expand.balance import label_order

        self.classes = sorted({s.label for s in self.real}, key=label_order) \
            if conditions == "classes" else []
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
        if self.conditions == "classes":
            return [self._class_of(i) for i in range(self.pool_size)]
        return None

    def _class_of(self, index: int) -> Any:
        return self.classes[index % len(self.classes)]

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
        parents = [self._parent(pool_epoch, i) if self.conditions in ("masks", "labels") else None
                   for i in indices]
        conditions = None
        if self.conditions == "masks":
            conditions = []
            for i, parent in zip(indices, parents):
                image, mask = parent.image, parent.mask
                if self.mask_transforms is not None:
                    seed = derive_seed(self.seed, _GENERATOR_STREAM, pool_epoch, i)
                    image, mask, _ = self.mask_transforms.apply(image, mask, seed)
                conditions.append(condition_for(self.generator, parent, image, mask))
        elif self.conditions == "labels":
            conditions = [p.label for p in parents]
        elif self.conditions == "classes":
            conditions = [self._class_of(i) for i in indices]
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
                # the generator's own mask: the condition's, or the edit's (condition "sample")
                mask = sample.mask if sample.mask is not None else parent.mask
                sample = dataclasses.replace(parent, image=sample.image, mask=mask, provenance=prov)
            else:
                sample = dataclasses.replace(sample, provenance=prov)
            if self.label is not None:
                sample = dataclasses.replace(sample, label=self.label)
            if self.conditions == "classes" and sample.label != self._class_of(i):
                raise UsageError(f"generator {self.generator.name!r} was asked for class "
                                 f"{self._class_of(i)!r} and returned a sample labelled "
                                 f"{sample.label!r}; it breaks the Generator.generate contract.")
            out.append(sample)
        return out


def as_source(obj: Any) -> SyntheticSource | None:
    if obj is None or isinstance(obj, SyntheticSource):
        return obj
    if isinstance(obj, (str, Path)):
        return FolderSource(obj)
    if isinstance(obj, Generator):
        raise UsageError("wrap a live generator as SyntheticSource.from_generator(generator, "
                         "real_samples, pool_size=...) so the sampler knows its pool and conditions.")
    return SampleListSource(obj)
