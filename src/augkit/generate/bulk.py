"""Bulk generation: millions of samples from any generator, streamed into shard folders.

``generate_shards(generator, n, out_dir)`` splits the indices 0..n-1 into shards of
``shard_size``. Shard k is made by calling ``generator.generate`` on blocks of ``BLOCK_SIZE``
samples with the seed ``derive_seed(seed, k, block)``, so a shard depends only on (seed,
shard_size, k) and the weights: shards can be made on different machines (``shards=[...]``) and
merged, and a rerun makes the same bytes. Each shard is written into a hidden temporary folder
and renamed to ``shard-00000/`` when complete, so a killed run leaves finished shards (skipped
on the rerun) and no half shard. Memory stays flat in n: at most one block of samples and one
shard's open table are held at a time. The folder reads back with ``read_dataset`` (format
``shards``, see ``augkit.io.shards``).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from augkit import engines
from augkit.engines.base import Engine
from augkit.errors import UsageError
from augkit.generators.contract import Generator
from augkit.io.base import atomic_write_bytes
from augkit.io.shards import (LEAD_COLUMNS, SHARD_TABLE, SUMMARY, TAIL_COLUMNS, encode_array,
                              encode_array_kind, sample_row, shard_name)
from augkit.io.table_csv import csv_cell
from augkit.seeding import derive_seed

#: samples per ``generate`` call; part of what a shard's bytes depend on, so never change it
#: for an existing output folder (``bulk.json`` records it)
BLOCK_SIZE = 1024
BULK_FORMAT = 1
ID_WIDTH = 9
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once at import: os.umask can only be read by setting it


def shard_ranges(num_samples: int, shard_size: int) -> list[tuple[int, int]]:
    """(first index, count) of every shard."""
    return [(start, min(shard_size, num_samples - start)) for start in range(0, num_samples, shard_size)]


def generate_shards(generator: Generator, num_samples: int, out_dir: str | Path, *, seed: int = 0,
                    shard_size: int = 10_000, batch_size: int = 256,
                    conditions: Callable[[int], Any] | None = None, progress: bool = True,
                    shards: Iterable[int] | None = None, workers: int | None = None,
                    engine: Engine | None = None, drop_rows=None) -> dict[str, Any]:
    """Write ``num_samples`` generated samples into ``out_dir/shard-*/``; return a summary.

    ``conditions``: for generators that need one per sample (pix2pix: a mask), a function from
    the global sample index to that condition; it is called one block at a time.
    ``shards``: make only these shard numbers (the others may come from other machines).
    ``workers``: threads that encode and write image files while the model makes the next
    batch (default: the CPU count, at most 4; 1 writes in the calling thread).
    ``engine``: ``augkit.engines.Engine("ray", ...)`` makes each missing shard as one Ray task
    (the shard is the unit of work: its bytes depend on ``shard_size``, not on the workers).
    ``drop_rows``: an ``augkit.evaluate.table_privacy.NearestRecord`` of the real rows; a
    generated sample whose row is a near copy of one is not written (its index is left out of the
    shard, listed with the nearest real row in the shard's ``near_copies.csv``).
    """
    start_time = time.perf_counter()
    num_samples, shard_size, batch_size = int(num_samples), int(shard_size), int(batch_size)
    if num_samples < 1 or shard_size < 1 or batch_size < 1:
        raise UsageError(f"generate_shards needs num_samples, shard_size and batch_size >= 1. Received: "
                         f"num_samples={num_samples}, shard_size={shard_size}, batch_size={batch_size}")
    if conditions is not None and not callable(conditions):
        raise UsageError("generate_shards: conditions must be a function index -> condition "
                         f"(e.g. lambda i: masks[i % len(masks)]). Received: {type(conditions).__name__}")
    out_dir = Path(out_dir)
    engine = check_engine(engine)
    engines.check(engine)  # before bulk.json is claimed
    workers = min(4, os.cpu_count() or 1) if workers is None else max(1, int(workers))
    ranges = shard_ranges(num_samples, shard_size)
    selected = _select(shards, len(ranges))
    settings = {"format": BULK_FORMAT, "generator": generator.name,
                "checkpoint_hash": generator.checkpoint_hash, "seed": int(seed),
                "num_samples": num_samples, "shard_size": shard_size, "block_size": BLOCK_SIZE,
                "num_shards": len(ranges)}
    if drop_rows is not None:  # only then: the settings of runs without it stay as they were
        settings["drop_near_copy_rows_closer_than"] = round(float(drop_rows.threshold), 9)
    summary_path = _claim(out_dir, settings)

    done = [k for k in selected if (out_dir / shard_name(k) / SHARD_TABLE).is_file()]
    todo = [k for k in selected if k not in done]
    total = sum(ranges[k][1] for k in selected)
    from tqdm import tqdm

    bar = tqdm(total=total, initial=sum(ranges[k][1] for k in done), unit="sample", desc="generate",
               disable=not progress, file=sys.stderr, dynamic_ncols=True, smoothing=0.1)
    features: list[str] | None = None
    with engines.interruptible(bar, f"finished shards are kept in {out_dir}. Run the same command again "
                                    "to make the rest."):
        if engine.name == "local":
            for k in todo:
                first, count = ranges[k]
                features = _write_shard(generator, out_dir, k, first, count, int(seed), batch_size,
                                        conditions, bar, workers, drop_rows) or features
        else:
            made: list[list[str]] = []

            def done(shards: list[int], results: list[Any]) -> None:
                bar.update(sum(ranges[k][1] for k in shards))
                made.extend(r for r in results if r)

            engines.run(ShardWork(generator, out_dir, ranges, int(seed), batch_size, conditions, drop_rows),
                        todo, engine, done)
            features = made[-1] if made else None
    if features is not None:
        _record_features(summary_path, features)
    seconds = time.perf_counter() - start_time
    made = sum(ranges[k][1] for k in todo)
    extra = {}
    if drop_rows is not None:
        dropped = sum(_count_dropped(out_dir / shard_name(k)) for k in todo)
        made -= dropped
        extra = {"near_copies_dropped": dropped}
    return {"out_dir": str(out_dir), "num_samples": num_samples, "num_shards": len(ranges),
            "shard_size": shard_size, "seed": int(seed), "generator": generator.name,
            "checkpoint_hash": generator.checkpoint_hash, "shards_written": todo,
            "shards_skipped": done, "samples_written": made, "seconds": seconds,
            "samples_per_second": made / seconds if seconds > 0 else float("nan"), **extra}


NEAR_COPIES = "near_copies.csv"


def _count_dropped(shard: Path) -> int:
    path = shard / NEAR_COPIES
    return max(0, len(path.read_text().splitlines()) - 1) if path.is_file() else 0


def check_engine(engine: Engine | None) -> Engine:
    """Shards are generate's unit of work on Ray: refuse a chunk size, which would not apply."""
    engine = engine or Engine()
    if engine.chunk_size is not None:
        raise UsageError("generate runs one shard per Ray task, so --chunk-size does not apply; size "
                         "the work with --shard-size instead.")
    return engine


@dataclass
class ShardWork:
    """One shard made by a Ray task: the same ``_write_shard`` as the local loop, with one
    writer thread (the task holds one CPU) and progress counted by the driver."""

    generator: Generator
    out_dir: Path
    ranges: list[tuple[int, int]]
    seed: int
    batch_size: int
    conditions: Callable[[int], Any] | None
    drop_rows: Any = None

    def run(self, k: int) -> list[str] | None:
        first, count = self.ranges[k]
        return _write_shard(self.generator, self.out_dir, k, first, count, self.seed, self.batch_size,
                            self.conditions, _NoBar(), 1, self.drop_rows)


class _NoBar:
    def update(self, n: int) -> None:
        pass


def _select(shards: Iterable[int] | None, num_shards: int) -> list[int]:
    if shards is None:
        return list(range(num_shards))
    try:
        chosen = sorted({int(k) for k in shards})
    except (TypeError, ValueError):
        raise UsageError(f"shards must be shard numbers. Received: {shards!r}") from None
    bad = [k for k in chosen if not 0 <= k < num_shards]
    if bad:
        raise UsageError(f"shard number(s) {bad} out of range: this run has {num_shards} shard(s), "
                         f"0..{num_shards - 1}.")
    return chosen


def _claim(out_dir: Path, settings: dict[str, Any]) -> Path:
    """Write ``bulk.json`` or check that an existing one was made with the same settings."""
    path = out_dir / SUMMARY
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            old = {}
        differ = sorted(k for k in settings if old.get(k) != settings[k])
        if differ:
            detail = ", ".join(f"{k}: {old.get(k)!r} there, {settings[k]!r} now" for k in differ)
            raise UsageError(f"{out_dir} holds shards made with other settings ({detail}); mixing them "
                             "would give an inconsistent set. Fix: use a new output folder, or the "
                             "same settings to resume.")
        return path
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir} is a file; generate_shards needs a folder.")
    if out_dir.is_dir() and any(p for p in out_dir.iterdir() if not p.name.startswith(".")):
        raise UsageError(f"{out_dir} is not empty and is not a generate_shards output. Fix: give a new "
                         "or empty folder.")
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(settings, indent=1).encode())
    return path


def _record_features(path: Path, features: list[str]) -> None:
    summary = json.loads(path.read_text())
    if summary.get("features") != features:
        summary["features"] = features
        atomic_write_bytes(path, json.dumps(summary, indent=1).encode())


def _write_files(folder: Path, sample_id: str, image, mask) -> tuple[str, str]:
    """Encode and write one sample's image (and mask); runs in a worker thread (Pillow and
    zlib release the GIL while encoding, so this overlaps with the model making the next batch)."""
    image_bytes, ext = encode_array(image)
    image_file = sample_id + ext
    (folder / image_file).write_bytes(image_bytes)
    mask_file = ""
    if mask is not None:
        mask_bytes, mext = encode_array(mask)
        mask_file = f"{sample_id}_mask{mext}"
        (folder / mask_file).write_bytes(mask_bytes)
    return image_file, mask_file


def _write_shard(generator: Generator, out_dir: Path, k: int, first: int, count: int, seed: int,
                 batch_size: int, conditions, bar, workers: int, drop_rows=None) -> list[str] | None:
    final = out_dir / shard_name(k)
    for stale in out_dir.glob(f".tmp-{shard_name(k)}-*"):  # left by a kill; never another shard's
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{shard_name(k)}-", dir=out_dir))
    os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp makes it private; a finished shard is a normal folder
    features: list[str] | None = None
    pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
    pending: deque = deque()  # (future or files, row) in sample order; bounded, so memory stays flat
    dropped: list[list[Any]] = []
    try:
        with open(tmp / SHARD_TABLE, "w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            header: list[str] | None = None
            for b, block_start in enumerate(range(0, count, BLOCK_SIZE)):
                m = min(BLOCK_SIZE, count - block_start)
                base = first + block_start
                conds = None if conditions is None else [conditions(base + j) for j in range(m)]
                block_seed = derive_seed(seed, k, b)
                made = 0
                for j, sample in enumerate(generator.generate(m, seed=block_seed, conditions=conds,
                                                              batch_size=batch_size)):
                    if j >= m:
                        raise UsageError(f"generator {generator.name!r} yielded more than the {m} "
                                         "samples asked for.")
                    sample_id = f"{base + j:0{ID_WIDTH}d}"
                    if drop_rows is not None and sample.features is not None:
                        nearest_id, distance = drop_rows.nearest(sample.features)
                        if drop_rows.is_near_copy(distance):
                            dropped.append([sample_id, nearest_id, round(distance, 6)])
                            made += 1
                            if made % 64 == 0:
                                bar.update(64)
                            continue
                    ext = ".png" if _is_png(sample.image) else ".npy"
                    mext = "" if sample.mask is None else (".png" if _is_png(sample.mask) else ".npy")
                    row = sample_row(sample, sample_id, sample_id + ext,
                                     f"{sample_id}_mask{mext}" if mext else "")
                    row["params"] = json.dumps({**sample.provenance.params, "shard": k, "block": b,
                                                "index": j}, sort_keys=True, separators=(",", ":"),
                                               default=str)
                    names = list(row)
                    if header is None:
                        header = names
                        features = [c for c in names if c not in LEAD_COLUMNS + TAIL_COLUMNS]
                        writer.writerow(header)
                    elif names != header:
                        raise UsageError(f"generator {generator.name!r} gave sample {sample_id} the "
                                         f"columns {names}, earlier samples {header}.")
                    if pool is None:
                        _write_files(tmp, sample_id, sample.image, sample.mask)
                    else:
                        pending.append(pool.submit(_write_files, tmp, sample_id, sample.image, sample.mask))
                        while len(pending) > 4 * batch_size:
                            pending.popleft().result()
                    writer.writerow([csv_cell(v) for v in row.values()])
                    made += 1
                    if made % 64 == 0:
                        bar.update(64)
                bar.update(made % 64)
                if made != m:
                    raise UsageError(f"generator {generator.name!r} yielded {made} samples, {m} were "
                                     "asked for.")
            while pending:
                pending.popleft().result()
            fh.flush()
            os.fsync(fh.fileno())
        if drop_rows is not None:
            with open(tmp / NEAR_COPIES, "w", newline="") as fh:
                near = csv.writer(fh, lineterminator="\n")
                near.writerow(["id", "nearest_real_id", "row_distance"])
                near.writerows(dropped)
        if final.exists():  # a finished shard appeared meanwhile (another process): keep it
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)  # no worker may write into tmp after this
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    return features


def _is_png(array) -> bool:
    return encode_array_kind(array) == ".png"
