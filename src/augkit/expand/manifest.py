"""``manifest.csv``: one row per sample of an expand output, saying how it was made."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from augkit.sample import Sample

MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ["index", "id", "source", "parent_id", "generator", "checkpoint_hash", "seed",
                    "files", "params"]
NEAR_COPIES = "near_copies.csv"


def manifest_row(index: int, sample: Sample, files: list[str]) -> dict[str, Any]:
    p = sample.provenance
    return {
        "index": index, "id": p.id, "source": p.source, "parent_id": p.parent_id or "",
        "generator": p.generator or "", "checkpoint_hash": p.checkpoint_hash or "",
        "seed": "" if p.seed is None else p.seed, "files": ";".join(files),
        "params": json.dumps(p.params, sort_keys=True, separators=(",", ":")),
    }


NEAR_COPY_COLUMNS = ["index", "id", "attempt", "seed", "nearest_real_id", "ncc", "nearest_row_id",
                     "row_distance", "outcome"]


def csv_bytes(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda r: int(r["index"])))
    return buf.getvalue().encode()


def manifest_bytes(rows: list[dict[str, Any]]) -> bytes:
    return csv_bytes(rows, MANIFEST_COLUMNS)


def read_manifest(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))
