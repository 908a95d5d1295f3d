"""``expand``: keep the real samples, fill up to N with classical variants and GAN samples.

Every output index i has its own seed derived from (seed, i) and its own parent (from a plan
that is a pure function of the dataset, the target and the seed, see ``plan_parents``), so any
subset of indices can be produced independently: that is what makes a run reproducible byte for
byte, splittable into shards, and resumable after a kill.

Work goes into a hidden staging folder beside the output; each finished index leaves a small
row file there. A rerun of the same command skips finished indices; on success the manifest is
assembled and the staging folder is renamed into place, so a half dataset is never visible.
One run at a time writes an output (``augkit.outputs.OutputLock``), and ``--overwrite``
replaces only a folder augkit wrote (its ``.augkit.json`` marker lists what is there).
"""

from __future__ import annotations

import csv
import errno
import hashlib
import json
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from augkit import engines
from augkit.blend import GAN_REGIONS
from augkit.engines import Engine
from augkit.errors import UsageError
from augkit.generators import Generator
from augkit.io import Dataset, read_dataset
from augkit.io.base import atomic_write_bytes
from augkit.manifest import (MANIFEST, MANIFEST_COLUMNS, NEAR_COPIES, NEAR_COPY_COLUMNS, csv_bytes,
                             manifest_bytes, manifest_row)
from augkit.manifest import read_manifest  # noqa: F401  (kept importable from here for scripts)
from augkit.outputs import (MARKER, OutputLock, absolute, check_output, check_writable_parent,
                            foreign_by_marker, is_permission_error, marker_bytes, permission_error,
                            replace_output)
from augkit.maker import SampleMaker, real_resize_for
from augkit.plan import plan_parents, plan_sources
from augkit.transforms import ClassicalPipeline

_STATE = ".augkit"  # inside the staging folder: run.json + one row file per finished index


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        try:
            i, k = (int(part) for part in text.split("/"))
        except ValueError:
            raise UsageError(f"--shard must look like i/k (e.g. 0/4). Received: {text!r}") from None
        if not (k >= 1 and 0 <= i < k):
            raise UsageError(f"--shard i/k needs 0 <= i < k. Received: {text!r}")
        return cls(i, k)

    def owns(self, index: int) -> bool:
        return index % self.count == self.index


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


def _check_paths(in_dir: Path, out_dir: Path, overwrite: bool) -> None:
    src, dst = in_dir.resolve(), absolute(out_dir)
    check_output(dst, overwrite, foreign=foreign_entries)
    dst = dst.resolve()
    if dst == src or src in dst.parents:
        raise UsageError(
            f"{out_dir}: the output folder is inside the input folder {in_dir}; the next read of "
            "the input would pick the outputs up as real data. Choose an --out outside it."
        )
    if dst in src.parents:
        raise UsageError(f"{out_dir}: the output folder contains the input folder; choose another --out.")


def foreign_entries(out_dir: Path) -> list[str] | None:
    """What in ``out_dir`` an expand did not write: entries its marker does not list. An output
    of an augkit without markers is known by its manifest (augkit's header; the files it
    lists). None when the folder is not an expand output at all."""
    found = foreign_by_marker(out_dir)
    if found is not None:
        return found
    try:
        with open(out_dir / MANIFEST, newline="") as fh:
            reader = csv.reader(fh)
            if next(reader) != MANIFEST_COLUMNS:
                return None
            at = MANIFEST_COLUMNS.index("files")
            allowed = {f.split("/")[0] for row in reader for f in row[at].split(";") if f}
    except (OSError, StopIteration, csv.Error, IndexError, UnicodeDecodeError):
        return None
    from augkit.io.tabimage import TABLE_NAME

    allowed |= {MANIFEST, NEAR_COPIES, TABLE_NAME}
    return sorted(p.name for p in out_dir.iterdir() if p.name not in allowed)


def staging_dir(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.augkit-partial"


def _fingerprint(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


_ROW_GLOB = "[0-9]*.json"  # finished rows only; atomic writes use ".tmp-*" names alongside


def _prepare_staging(stage: Path, settings: dict[str, Any]) -> int:
    """Reuse the staging folder of an interrupted identical run; start clean otherwise."""
    state = stage / _STATE
    marker = state / "run.json"
    fingerprint = _fingerprint(settings)
    if stage.exists():
        try:
            same = json.loads(marker.read_text()).get("fingerprint") == fingerprint
        except (OSError, ValueError):
            same = False
        if same:
            # A killed run can leave half-written temporary files (".tmp-*.json" among the rows):
            # they are not finished work, so they go before anything counts or reads the rows.
            for leftover in stage.rglob(".tmp-*"):
                leftover.unlink()
            return len(list((state / "rows").glob(_ROW_GLOB)))
        if not marker.exists():
            raise UsageError(
                f"{stage}: a folder with augkit's staging name exists but was not made by augkit; "
                "move it away and run again."
            )
        shutil.rmtree(stage)  # an interrupted run with other settings: its files are not ours to keep
    (state / "rows").mkdir(parents=True)
    atomic_write_bytes(marker, json.dumps({"fingerprint": fingerprint, "settings": settings},
                                          indent=2, default=str).encode())
    return 0


def expand(in_dir: str | Path, target: int, out_dir: str | Path, *, seed: int = 0,
           format: str | None = None, read_options: dict[str, Any] | None = None,
           pipeline: ClassicalPipeline | None = None, generator: Generator | None = None,
           gan_fraction: float = 0.5, shard: Shard | None = None, overwrite: bool = False,
           progress: bool = True, dataset: Dataset | None = None,
           drop_near_copies: float | None = None, balance: bool | None = None,
           gan_region: str = "image", engine: Engine | None = None) -> ExpandResult:
    """Grow the dataset in ``in_dir`` to ``target`` samples written to ``out_dir``.

    The real samples are kept as they are; the rest are classical variants of real samples,
    and with a ``generator`` a ``gan_fraction`` of them are GAN-painted. With
    ``drop_near_copies`` (an NCC threshold, e.g. 0.95) a GAN sample that close to a real image
    — or, for image + table data, whose row is closer to a real row than the real rows' 5 %
    closest neighbours (``evaluate.table_privacy.NearestRecord``) — is painted again from a fresh
    seed; after a few failed attempts that index is dropped. Both are listed in
    ``near_copies.csv``. ``balance`` (default: on for labelled data without
    masks) brings every class to the same count where the reals allow it. ``gan_region``
    ("image" or "lesion", segmentation data only): the GAN paints the whole image, or only the
    lesion, blended into the real image under the same geometric transform (``augkit.blend``).
    ``engine`` (``augkit.engines.Engine``): where the indices are made, here (default) or as
    chunks on a Ray cluster; the bytes are the same either way.
    """
    start = time.perf_counter()
    in_dir, out_dir = Path(in_dir), absolute(out_dir)
    shard = shard or Shard(0, 1)
    _check_paths(in_dir, out_dir, overwrite)
    check_writable_parent(out_dir)
    engines.check(engine)  # Ray missing or its cluster not answering: refused before anything is written
    if not 0.0 <= gan_fraction <= 1.0:
        raise UsageError(f"--gan-fraction must be in [0, 1]. Received: {gan_fraction}")
    if gan_region not in GAN_REGIONS:
        raise UsageError(f"--gan-region must be one of {', '.join(GAN_REGIONS)}. Received: {gan_region!r}")
    if dataset is None:
        dataset = read_dataset(in_dir, format=format, **(read_options or {}))
    volumes = is_volume_dataset(dataset)
    if target < len(dataset):
        raise UsageError(
            f"--to {target} is smaller than the {len(dataset)} real "
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
    if gan_region == "lesion" and dataset.samples[0].mask is None:
        raise UsageError(f"--gan-region lesion needs masks (the lesion is the mask), and {in_dir} "
                         "has none; leave --gan-region at image.")
    if gan_region == "lesion" and getattr(generator, "condition", "mask") == "sample":
        raise UsageError(f"generator {generator.name!r} edits real samples itself, so --gan-region "
                         "lesion has no meaning for it; leave --gan-region at image.")
    pipeline = pipeline or ClassicalPipeline()
    if volumes:  # the same config on volumes; ops with no 3D meaning are refused here
        from augkit.transforms3d import VolumePipeline

        pipeline = VolumePipeline(config=pipeline.get_config())
        balance = False  # cases have masks, not classes (and asking would load every case)
    real_resize = None if volumes else real_resize_for(dataset, pipeline)  # refuses before anything is written
    if balance is None:
        balance = all(s.label is not None and s.mask is None for s in dataset.samples)
    plan = plan_sources(len(dataset), target, gan_fraction if generator is not None else 0.0)

    settings = {
        "input": str(in_dir.resolve()), "format": dataset.format, "options": dataset.options,
        "target": target, "seed": seed, "transforms": pipeline.get_config(), "shard": [shard.index, shard.count],
        "generator": None if generator is None else [generator.name, generator.checkpoint_hash],
        "gan_fraction": gan_fraction, "drop_near_copies": drop_near_copies, "balance": balance,
        **({"gan_region": gan_region} if gan_region != "image" else {}),  # old staging folders still resume
        "parents": "cases-round-robin",  # parents were taken in id order before: no resume across
    }
    check_writable_parent(out_dir, create=True)
    with OutputLock(out_dir, command="expand"):
        _check_paths(in_dir, out_dir, overwrite)  # again: the folder may have changed before we held the lock
        stage = staging_dir(out_dir)
        fresh = not stage.exists()
        try:
            resumed = _prepare_staging(stage, settings)
            fresh = fresh or resumed == 0
            maker = SampleMaker(dataset, pipeline, seed, generator, drop_near_copies,
                                plan_parents(dataset, target, balance, seed), gan_region, real_resize)
            result = _run(stage, out_dir, overwrite, target, shard,
                          IndexWork(maker, plan, dataset.format, stage), resumed, progress, settings,
                          drop_near_copies, engine)
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
        row_file = self.stage / _STATE / "rows" / f"{index:07d}.json"
        if row_file.exists():
            return  # finished by an earlier try of the same chunk (a Ray worker killed after it)
        sample, events = self.maker.make(index, self.plan[index])
        row = {"index": index, "dropped": True} if sample is None \
            else manifest_row(index, sample, _writer_for(self.format)(sample, self.stage))
        row["near_copy_events"] = events
        atomic_write_bytes(row_file, json.dumps(row).encode())


def _run(stage: Path, out_dir: Path, overwrite: bool, target: int, shard: Shard, work: IndexWork,
         resumed: int, progress: bool, settings: dict[str, Any], drop_near_copies: float | None,
         engine: Engine | None) -> ExpandResult:
    """Make the missing indices of this shard in ``stage``, then move the finished folder to
    ``out_dir``. The caller holds the output lock."""
    rows_dir = stage / _STATE / "rows"
    todo = [i for i in range(target) if shard.owns(i) and not (rows_dir / f"{i:07d}.json").exists()]
    bar = _progress(total=sum(1 for i in range(target) if shard.owns(i)), initial=resumed,
                    enabled=progress)
    try:
        engines.run(work, todo, engine, lambda done, _: bar.update(len(done)))
    except KeyboardInterrupt:
        bar.close()
        print(f"augkit: interrupted; finished work is kept in {stage}. Run the same command "
              "again to resume.", file=sys.stderr)
        raise
    bar.close()
    # A worker killed mid-write (Ray retried its chunk elsewhere) can leave a temporary file.
    for leftover in stage.rglob(".tmp-*"):
        leftover.unlink()

    records = [json.loads(p.read_text()) for p in sorted(rows_dir.glob(_ROW_GLOB))]
    events = [e for r in records for e in r.pop("near_copy_events")]
    rows = [r for r in records if not r.get("dropped")]
    atomic_write_bytes(stage / MANIFEST, manifest_bytes(rows))
    if drop_near_copies is not None:
        atomic_write_bytes(stage / NEAR_COPIES, csv_bytes(events, NEAR_COPY_COLUMNS))
    # Checked once more before anything is deleted: files put into the old output meanwhile
    # stop --overwrite, and the finished work stays resumable.
    check_output(out_dir, overwrite, foreign=foreign_entries)
    write_expand_marker(stage, settings)
    replace_output(stage, out_dir, scratch=_STATE)
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


def write_expand_marker(folder: Path, settings: dict[str, Any]) -> None:
    """The marker of an expand output: what it holds and the settings that made it (the input's
    path left out, so the bytes do not depend on where the data lives); ``augkit merge`` reads
    the settings to check that parts belong together."""
    kept = {k: v for k, v in settings.items() if k not in ("input", "shard")}
    atomic_write_bytes(folder / MARKER, marker_bytes(
        "augkit expand", [p.name for p in folder.iterdir() if p.name != _STATE], settings=kept,
        shard=settings["shard"]))


def _writer_for(format_name: str):
    from augkit.io import get_format

    return get_format(format_name).write


def _progress(total: int, initial: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="sample", disable=not enabled,
                desc="expand", file=sys.stderr, dynamic_ncols=True)
