"""``expand``: keep the real samples, fill up to N with classical variants and GAN samples.

Every output index i has its own seed derived from (seed, i) and its own parent (from a plan
that is a pure function of the dataset, the target and the seed, see ``plan_parents``), so any
subset of indices can be produced independently: that is what makes a run reproducible byte for
byte, splittable into shards, and resumable after a kill.

Work goes into a hidden staging folder beside the output; each finished index leaves a small
row file there. A rerun of the same command skips finished indices; on success the manifest is
assembled and the staging folder is renamed into place, so a half dataset is never visible.
The staging folder is ``augkit.expand.staging``'s. One run at a time writes an output (``augkit.outputs.OutputLock``), and ``--overwrite``
replaces only a folder augkit wrote (its ``.augkit.json`` marker lists what is there).
"""

from __future__ import annotations

import errno
import json
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from augkit import engines
from augkit.errors import UsageError
from augkit.expand.maker import SampleMaker, real_resize_for
from augkit.expand.manifest import NEAR_COPIES, NEAR_COPY_COLUMNS, MANIFEST, csv_bytes, manifest_bytes, manifest_row
from augkit.expand.options import ExpandOptions, Shard
from augkit.expand.plan import plan_parents, plan_sources
from augkit.expand.staging import (ROW_GLOB, STATE, check_paths, foreign_entries, prepare_staging, staging_dir,
                                   write_expand_marker)
from augkit.generators.contract import Generator, is_sample_conditioned
from augkit.io import Dataset, read_dataset
from augkit.io.base import atomic_write_bytes
from augkit.outputs import (OutputLock, absolute, check_output, check_writable_parent, is_permission_error,
                            permission_error, replace_output)
from augkit.transforms.pipeline import ClassicalPipeline

__all__ = ["ExpandOptions", "ExpandResult", "Shard", "expand", "expand_dataset"]


@dataclass
class ExpandResult:
    out_dir: Path
    num_samples: int
    counts: dict[str, int]
    seconds: float
    resumed: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    near_copies: int = 0  # GAN attempts that were too close to a real image
    dropped: int = 0  # indices left out after every attempt was a near-copy
    generator_note: str = ""  # what --generator auto chose and why ("" when a generator was named)


def expand(in_dir: str | Path, target: int, out_dir: str | Path, *, pipeline: ClassicalPipeline | None = None,
           generator: Generator | None = None, dataset: Dataset | None = None, **options: Any) -> ExpandResult:
    """Grow the dataset in ``in_dir`` to ``target`` samples written to ``out_dir``.

    The real samples are kept as they are; the rest are classical variants of real samples
    (``pipeline``; default: the seeds' set), and with a ``generator`` a ``gan_fraction`` of them
    are generated. ``options`` are the fields of ``ExpandOptions`` (``seed``, ``shard``,
    ``engine``, ``drop_near_copies``, ``balance``, ``gan_region``, ``read_options``, …; see
    there). A ``dataset`` already read from ``in_dir`` is used as it is."""
    return expand_dataset(in_dir, out_dir, ExpandOptions.build(target, **options), dataset=dataset,
                          pipeline=pipeline, generator=generator)


def expand_dataset(in_dir: str | Path, out_dir: str | Path, options: ExpandOptions, *,
                   dataset: Dataset | None = None, pipeline: ClassicalPipeline | None = None,
                   generator: Generator | None = None) -> ExpandResult:
    """The run itself, for ``options`` with the objects the caller resolved (the dataset read
    from ``in_dir``, the classical ``pipeline``, a fitted ``generator``). With
    ``drop_near_copies`` (an NCC threshold, e.g. 0.95) a generated sample that close to a real
    image is made again from a fresh mask; after a few failed attempts that index is dropped.
    Both are listed in ``near_copies.csv``. ``gan_region="lesion"``: the generator paints only
    the lesion, blended into the real image under the same geometric transform
    (``augkit.transforms.blend``). The engine decides where the indices are made, here or as
    chunks on a Ray cluster; the bytes are the same either way."""
    start = time.perf_counter()
    in_dir, out_dir = Path(in_dir), absolute(out_dir)
    check_paths(in_dir, out_dir, options.overwrite)
    check_writable_parent(out_dir)
    engines.check(options.engine)  # Ray missing or its cluster not answering: refused before anything is written
    if dataset is None:
        dataset = read_dataset(in_dir, format=options.format, **options.read_options)
    check_dataset_fits(dataset, in_dir, options, generator)
    volumes = is_volume_dataset(dataset)
    pipeline = pipeline or ClassicalPipeline()
    balance = options.balance
    if volumes:  # the same config on volumes; ops with no 3D meaning are refused here
        from augkit.transforms.volume import VolumePipeline

        pipeline = VolumePipeline(config=pipeline.get_config())
        balance = False  # cases have masks, not classes (and asking would load every case)
    real_resize = None if volumes else real_resize_for(dataset, pipeline)  # refuses before anything is written
    if balance is None:
        balance = all(s.label is not None and s.mask is None for s in dataset.samples)
    plan = plan_sources(len(dataset), options.target, options.gan_fraction if generator is not None else 0.0)

    shard = options.shard
    settings = {
        "input": str(in_dir.resolve()), "format": dataset.format, "options": dataset.options,
        "target": options.target, "seed": options.seed, "transforms": pipeline.get_config(),
        "shard": [shard.index, shard.count],
        "generator": None if generator is None else [generator.name, generator.checkpoint_hash],
        "gan_fraction": options.gan_fraction, "drop_near_copies": options.drop_near_copies, "balance": balance,
        **({"gan_region": options.gan_region} if options.gan_region != "image" else {}),  # old staging folders still resume
        "parents": "cases-round-robin",  # parents were taken in id order before: no resume across
    }
    check_writable_parent(out_dir, create=True)
    with OutputLock(out_dir, command="expand"):
        check_paths(in_dir, out_dir, options.overwrite)  # again: the folder may have changed before we held the lock
        stage = staging_dir(out_dir)
        fresh = not stage.exists()
        try:
            resumed = prepare_staging(stage, settings)
            fresh = fresh or resumed == 0
            maker = SampleMaker(dataset, pipeline, options.seed, generator, options.drop_near_copies,
                                plan_parents(dataset, options.target, balance, options.seed),
                                options.gan_region, real_resize)
            result = _run(stage, out_dir, options, IndexWork(maker, plan, dataset.format, stage), resumed,
                          settings)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise UsageError(f"{exc.filename or stage}: no space left on the device; the finished "
                                 f"samples are kept in {stage}. Fix: free some space and run the same "
                                 "command again to resume.") from None
            if not is_permission_error(exc):
                raise
            # Clean up only what this run made: an earlier run's resumable work stays.
            if fresh:
                shutil.rmtree(stage, ignore_errors=True)
            raise permission_error(exc) from None
    result.seconds = time.perf_counter() - start
    return result


def check_dataset_fits(dataset: Dataset, in_dir: Path, options: ExpandOptions, generator: Generator | None) -> None:
    """The options against what was read: enough room for every real sample, a generator that
    can make this kind of sample, a mask for ``--gan-region lesion``."""
    volumes = is_volume_dataset(dataset)
    if options.target < len(dataset):
        raise UsageError(
            f"--to {options.target} is smaller than the {len(dataset)} real "
            f"{'cases' if volumes else 'samples'} in {in_dir}; augkit keeps every real "
            f"{'case' if volumes else 'sample'}, so ask for at least --to {len(dataset)}"
            + (" (or expand axial slices with --unit slice)." if volumes else ".")
        )
    if volumes and generator is not None and not generator.volumes:
        raise UsageError(volume_generator_message(generator.name, in_dir))
    if generator is not None and dataset.samples[0].mask is not None and \
            "segmentation" not in generator.tasks:
        raise UsageError(f"generator {generator.name!r} cannot make segmentation pairs (its tasks: "
                         f"{', '.join(sorted(generator.tasks))}); use pix2pix for image + mask data.")
    if options.gan_region == "lesion" and dataset.samples[0].mask is None:
        raise UsageError(f"--gan-region lesion needs masks (the lesion is the mask), and {in_dir} "
                         "has none; leave --gan-region at image.")
    if options.gan_region == "lesion" and is_sample_conditioned(generator):
        raise UsageError(f"generator {generator.name!r} edits real samples itself, so --gan-region "
                         "lesion has no meaning for it; leave --gan-region at image.")


@dataclass
class IndexWork:
    """What makes one output index and writes it into the staging folder: its sample files,
    then its row file, written last, whose presence marks the index as done. Both engines run
    this, the Ray one on workers (so it pickles: the reals, the plan, the format's name)."""

    maker: SampleMaker
    plan: list[str]
    format: str
    stage: Path

    def run(self, index: int) -> None:
        row_file = self.stage / STATE / "rows" / f"{index:07d}.json"
        if row_file.exists():
            return  # finished by an earlier try of the same chunk (a Ray worker killed after it)
        sample, events = self.maker.make(index, self.plan[index])
        row = {"index": index, "dropped": True} if sample is None \
            else manifest_row(index, sample, _writer_for(self.format)(sample, self.stage))
        row["near_copy_events"] = events
        atomic_write_bytes(row_file, json.dumps(row).encode())


def _run(stage: Path, out_dir: Path, options: ExpandOptions, work: IndexWork, resumed: int,
         settings: dict[str, Any]) -> ExpandResult:
    """Make the missing indices of this shard in ``stage``, then move the finished folder to
    ``out_dir``. The caller holds the output lock."""
    target, shard = options.target, options.shard
    rows_dir = stage / STATE / "rows"
    todo = [i for i in range(target) if shard.owns(i) and not (rows_dir / f"{i:07d}.json").exists()]
    bar = _progress(total=sum(1 for i in range(target) if shard.owns(i)), initial=resumed,
                    enabled=options.progress)
    with engines.interruptible(bar, f"finished work is kept in {stage}. Run the same command again to resume."):
        engines.run(work, todo, options.engine, lambda done, _: bar.update(len(done)))
    # A worker killed mid-write (Ray retried its chunk elsewhere) can leave a temporary file.
    for leftover in stage.rglob(".tmp-*"):
        leftover.unlink()

    records = [json.loads(p.read_text()) for p in sorted(rows_dir.glob(ROW_GLOB))]
    events = [e for r in records for e in r.pop("near_copy_events")]
    rows = [r for r in records if not r.get("dropped")]
    atomic_write_bytes(stage / MANIFEST, manifest_bytes(rows))
    if options.drop_near_copies is not None:
        atomic_write_bytes(stage / NEAR_COPIES, csv_bytes(events, NEAR_COPY_COLUMNS))
    # Checked once more before anything is deleted: files put into the old output meanwhile
    # stop --overwrite, and the finished work stays resumable.
    check_output(out_dir, options.overwrite, foreign=foreign_entries)
    write_expand_marker(stage, settings)
    replace_output(stage, out_dir, scratch=STATE)
    counts = dict(Counter(r["source"] for r in rows))
    dropped = sum(1 for r in records if r.get("dropped"))
    return ExpandResult(out_dir, len(rows), counts, 0.0, resumed, rows,
                        near_copies=len(events), dropped=dropped)


def is_volume_dataset(dataset: Dataset) -> bool:
    """Whole NIfTI cases (``unit="case"``), as opposed to 2D samples or slices."""
    return dataset.options.get("unit") == "case"


def volume_generator_message(name: str, in_dir) -> str:
    return (f"generator {name!r} paints 2D slices and {in_dir} holds 3D cases; add --unit slice to "
            "expand axial slices with it, or use --generator none to expand whole cases.")


def _writer_for(format_name: str):
    from augkit.io import get_format

    return get_format(format_name).write


def _progress(total: int, initial: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="sample", disable=not enabled,
                desc="expand", file=sys.stderr, dynamic_ncols=True)
