"""``augkit merge``: join the outputs of ``expand --shard i/k`` runs into one output.

Shards run at the same time each write their own ``--out`` (one writer per output, see
``augkit.outputs``), on one machine or many. The merge checks from each part's marker that the
parts come from the same settings and cover every shard once, then builds the joined folder
beside the output (files hard-linked from the parts where the filesystem allows, copied
otherwise), assembles the manifest, and renames it into place: the same bytes as one
un-sharded run. The parts are left as they are.
"""

from __future__ import annotations

import csv
import os
import shutil
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from augkit.expand.run import ExpandResult
from augkit.expand.staging import foreign_entries, write_expand_marker
from augkit.errors import UsageError
from augkit.io.base import atomic_write_bytes
from augkit.expand.manifest import (MANIFEST, NEAR_COPIES, NEAR_COPY_COLUMNS, csv_bytes, manifest_bytes,
                             read_manifest)
from augkit.outputs import (MARKER, OutputLock, absolute, check_output, check_writable_parent,
                            is_permission_error, permission_error, read_marker, replace_output)

_OWN_FILES = {MARKER, MANIFEST, NEAR_COPIES}  # per part; rebuilt for the whole


def _part_info(part: Path) -> tuple[dict[str, Any], tuple[int, int]]:
    marker = read_marker(part)
    if marker is None or marker.get("written_by") != "augkit expand" or "settings" not in marker:
        raise UsageError(f"{part}: not an output of `augkit expand --shard i/k` (no {MARKER} marker). "
                         "Fix: give the --out folders of the shard runs (made by this augkit version).")
    i, k = marker["shard"]
    return marker["settings"], (int(i), int(k))


def _check_parts(parts: list[Path]) -> tuple[dict[str, Any], int]:
    infos = [_part_info(p) for p in parts]
    settings, (_, count) = infos[0]
    seen: dict[int, Path] = {}
    for part, (other, (i, k)) in zip(parts, infos):
        if other != settings:
            differ = sorted(key for key in set(settings) | set(other) if settings.get(key) != other.get(key))
            raise UsageError(f"{part}: made with other settings than {parts[0]} ({', '.join(differ)} "
                             "differ); parts of one merge must come from the same expand command.")
        if k != count:
            raise UsageError(f"{part}: is shard {i}/{k}, {parts[0]} is one of {count}; give the parts "
                             "of one split.")
        if i in seen:
            raise UsageError(f"{part}: shard {i}/{k} is given twice (also {seen[i]}).")
        seen[i] = part
    missing = [f"{i}/{count}" for i in range(count) if i not in seen]
    if missing:
        raise UsageError(f"shard{'s' if len(missing) > 1 else ''} {', '.join(missing)} missing: the "
                         "merge needs every part of the split. Fix: run the missing shards, then merge.")
    return settings, count


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or links not allowed: copy the bytes
        shutil.copyfile(src, dst)


def _gather(part: Path, stage: Path, taken: dict[str, Path]) -> None:
    for dirpath, dirnames, filenames in os.walk(part):
        here = Path(dirpath)
        rel_dir = here.relative_to(part)
        dirnames.sort()
        (stage / rel_dir).mkdir(exist_ok=True)
        for name in sorted(filenames):
            rel = str(rel_dir / name) if str(rel_dir) != "." else name
            if rel in _OWN_FILES:
                continue
            if rel in taken:
                raise UsageError(f"{rel}: written by two parts ({taken[rel]} and {part}); this format "
                                 "keeps a shared file, so its shards cannot be merged. Fix: run expand "
                                 "without --shard.")
            taken[rel] = part
            _link_or_copy(here / name, stage / rel)


def merge_shards(parts: list[str | Path], out_dir: str | Path, *, overwrite: bool = False) -> ExpandResult:
    """Join the ``--out`` folders of ``expand --shard i/k`` runs into ``out_dir``."""
    start = time.perf_counter()
    parts = [absolute(p) for p in parts]
    out_dir = absolute(out_dir)
    if not parts:
        raise UsageError("give the --out folders of the shard runs to merge.")
    for part in parts:
        if not part.is_dir():
            raise UsageError(f"{part}: no such folder; give the --out folders of the shard runs.")
        if out_dir.resolve() == part.resolve() or part.resolve() in out_dir.resolve().parents:
            raise UsageError(f"{out_dir}: --out is one of the parts or inside one ({part}); choose a new folder.")
    settings, _ = _check_parts(parts)
    check_output(out_dir, overwrite, foreign=foreign_entries)
    check_writable_parent(out_dir, create=True)
    with ExitStack() as locks:
        locks.enter_context(OutputLock(out_dir, command="merge"))
        for part in parts:  # no shard run may still be writing a part
            locks.enter_context(OutputLock(part, command="merge (reading)", if_writable=True))
        _check_parts(parts)
        check_output(out_dir, overwrite, foreign=foreign_entries)
        stage = out_dir.parent / f".{out_dir.name}.augkit-merging"
        try:
            if stage.exists():
                shutil.rmtree(stage)  # a killed merge's; we hold the output's lock
            rows, events = _build(parts, stage, settings)
            check_output(out_dir, overwrite, foreign=foreign_entries)
            replace_output(stage, out_dir)
        except BaseException as exc:
            shutil.rmtree(stage, ignore_errors=True)
            if is_permission_error(exc):
                raise permission_error(exc) from None
            raise
    counts = dict(Counter(r["source"] for r in rows))
    dropped = sum(1 for e in events if e["outcome"] == "dropped")
    return ExpandResult(out_dir, len(rows), counts, time.perf_counter() - start, rows=rows,
                        near_copies=len(events), dropped=dropped)


def _build(parts: list[Path], stage: Path, settings: dict[str, Any]):
    stage.mkdir()
    taken: dict[str, Path] = {}
    rows: list[dict[str, str]] = []
    events: list[dict[str, str]] = []
    for part in sorted(parts, key=lambda p: _part_info(p)[1][0]):
        _gather(part, stage, taken)
        rows += read_manifest(part / MANIFEST)
        if (part / NEAR_COPIES).exists():
            with open(part / NEAR_COPIES, newline="") as fh:
                events += list(csv.DictReader(fh))
    done = [int(r["index"]) for r in rows] + [int(e["index"]) for e in events if e["outcome"] == "dropped"]
    if sorted(done) != list(range(settings["target"])):
        raise UsageError(f"the parts' manifests do not cover indices 0..{settings['target'] - 1} once "
                         "each; a part was changed after its run. Fix: run that shard again.")
    atomic_write_bytes(stage / MANIFEST, manifest_bytes(rows))
    if settings.get("drop_near_copies") is not None:
        atomic_write_bytes(stage / NEAR_COPIES, csv_bytes(events, NEAR_COPY_COLUMNS))
    write_expand_marker(stage, {**settings, "shard": [0, 1]})
    return rows, events
