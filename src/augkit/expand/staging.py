"""The staging folder of an ``expand`` run and the checks around it.

Work goes into a hidden folder beside the output (``.OUT.augkit-partial``); each finished index
leaves a row file there, so a rerun of the same command (same settings fingerprint) skips what
is done. ``check_paths`` refuses an output inside the input (or around it) and one that augkit
did not write; ``write_expand_marker`` lists what the finished output holds.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from augkit.errors import UsageError
from augkit.expand.manifest import MANIFEST, MANIFEST_COLUMNS, NEAR_COPIES
from augkit.io.base import atomic_write_bytes
from augkit.outputs import MARKER, absolute, check_output, foreign_by_marker, marker_bytes

STATE = ".augkit"  # inside the staging folder: run.json + one row file per finished index
ROW_GLOB = "[0-9]*.json"  # finished rows only; atomic writes use ".tmp-*" names alongside


def check_paths(in_dir: Path, out_dir: Path, overwrite: bool) -> None:
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


def settings_fingerprint(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def prepare_staging(stage: Path, settings: dict[str, Any]) -> int:
    """Reuse the staging folder of an interrupted identical run; start clean otherwise."""
    state = stage / STATE
    marker = state / "run.json"
    fingerprint = settings_fingerprint(settings)
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
            return len(list((state / "rows").glob(ROW_GLOB)))
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


def write_expand_marker(folder: Path, settings: dict[str, Any]) -> None:
    """The marker of an expand output: what it holds and the settings that made it (the input's
    path left out, so the bytes do not depend on where the data lives); ``augkit merge`` reads
    the settings to check that parts belong together."""
    kept = {k: v for k, v in settings.items() if k not in ("input", "shard")}
    atomic_write_bytes(folder / MARKER, marker_bytes(
        "augkit expand", [p.name for p in folder.iterdir() if p.name != STATE], settings=kept,
        shard=settings["shard"]))
