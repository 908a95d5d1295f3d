"""``shards``: the folder ``augkit.generate.bulk.generate_shards`` writes, read back as Samples.

Layout: ``shard-00000/``, ``shard-00001/``, ... each holding the images (``<id>.png`` for uint8,
``<id>.npy`` otherwise), masks when there are any (``<id>_mask.png`` / ``.npy``) and one
``table.csv`` with one row per sample: ``id``, ``image``, ``mask``, the feature columns, then
``label`` and the provenance columns (``source``, ``parent_id``, ``generator``,
``checkpoint_hash``, ``seed``, ``params`` as JSON). ``bulk.json`` at the top records the run's
settings. A shard folder appears only when complete (it is renamed into place), so whatever
``shard-*/table.csv`` exists can be read.

Read option ``shards=[0, 3]`` reads only those shards. The writer (used when a shards folder is
expanded) adds samples to ``shard-00000/`` in the same layout.
"""

from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from augkit.errors import DataError, UsageError
from augkit.io.base import Dataset, DatasetFormat, atomic_write_bytes
from augkit.io.folder2d import safe_name
from augkit.io.images import read_image
from augkit.io.table_csv import TableAppender
from augkit.sample import SOURCES, Provenance, Sample

SHARD_TABLE = "table.csv"
SUMMARY = "bulk.json"
SHARD_RE = re.compile(r"^shard-(\d{5,})$")
#: table columns that are not features (the writer refuses features with these names)
LEAD_COLUMNS = ("id", "image", "mask")
TAIL_COLUMNS = ("label", "source", "parent_id", "generator", "checkpoint_hash", "seed", "params")
RESERVED = frozenset(LEAD_COLUMNS + TAIL_COLUMNS)


def shard_name(index: int) -> str:
    return f"shard-{index:05d}"


def shard_dirs(root: Path) -> list[tuple[int, Path]]:
    found = []
    for p in root.iterdir() if root.is_dir() else []:
        m = SHARD_RE.match(p.name)
        if m and (p / SHARD_TABLE).is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def encode_array_kind(array: np.ndarray) -> str:
    """``.png`` for uint8 with 1, 3 or 4 channels, ``.npy`` for anything else."""
    squeezed = array[..., 0] if array.ndim == 3 and array.shape[-1] == 1 else array
    return ".png" if array.dtype == np.uint8 and (squeezed.ndim == 2 or squeezed.shape[-1] in (3, 4)) \
        else ".npy"


def encode_array(array: np.ndarray) -> tuple[bytes, str]:
    """PNG for uint8 (1, 3 or 4 channels), ``.npy`` for anything else: lossless either way.

    PNGs use zlib level 1: for 256×256 slices it encodes ~3.5× faster than level 6 for files
    ~20 % larger, and encoding is what bulk generation spends most of its time on."""
    squeezed = array[..., 0] if array.ndim == 3 and array.shape[-1] == 1 else array
    if encode_array_kind(array) == ".png":
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(squeezed)).save(buf, format="PNG", compress_level=1)
        return buf.getvalue(), ".png"
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue(), ".npy"


def sample_row(sample: Sample, sample_id: str, image_file: str, mask_file: str) -> dict[str, Any]:
    """One ``table.csv`` row (before CSV quoting)."""
    features = sample.features or {}
    clash = sorted(RESERVED & set(features))
    if clash:
        raise UsageError(f"feature column(s) {clash} clash with the shard table's own columns "
                         f"{sorted(RESERVED)}. Fix: rename them in the input table.")
    p = sample.provenance
    return {"id": sample_id, "image": image_file, "mask": mask_file, **features,
            "label": sample.label, "source": p.source, "parent_id": p.parent_id,
            "generator": p.generator, "checkpoint_hash": p.checkpoint_hash, "seed": p.seed,
            "params": json.dumps(p.params, sort_keys=True, separators=(",", ":"), default=str)}


def _load_array(path: Path, role: str) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataError(path, f"cannot read {role} array ({type(exc).__name__}: {exc})",
                            "re-generate this shard (delete its folder and run again)") from None
    return read_image(path, role=role)


def _value(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if isinstance(v, np.generic) else v


class ShardsFormat(DatasetFormat):
    name = "shards"
    priority = 25  # a bulk folder with masks also looks like paired2d, its shards like classes

    def detect(self, root: Path) -> bool:
        return bool(shard_dirs(root))

    def read(self, root: Path, **options: Any) -> Dataset:
        unknown = sorted(k for k, v in options.items() if k != "shards" and v is not None)
        if unknown:
            raise UsageError(f"format {self.name!r} knows only the option 'shards'; received {unknown}")
        root = Path(root)
        found = shard_dirs(root)
        if not found:
            raise DataError(root, "no finished shard-*/table.csv here",
                            "point at the folder augkit generate wrote (or wait for a shard to finish)")
        wanted = options.get("shards")
        if wanted is not None:
            wanted = {int(w) for w in ([wanted] if isinstance(wanted, (int, str)) else wanted)}
            found = [(i, p) for i, p in found if i in wanted]
        feature_columns = self._feature_columns(root)
        samples = []
        for _, shard in found:
            samples += self._read_shard(shard, feature_columns)
        return Dataset(root=root, format=self.name, samples=samples,
                       options={"shards": [i for i, _ in found]} if wanted is not None else {})

    @staticmethod
    def _feature_columns(root: Path) -> list[str] | None:
        try:
            summary = json.loads((root / SUMMARY).read_text())
            return list(summary["features"]) if summary.get("features") is not None else None
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _read_shard(self, shard: Path, feature_columns: list[str] | None) -> list[Sample]:
        table = shard / SHARD_TABLE
        try:
            df = pd.read_csv(table, dtype={"id": str, "image": str, "mask": str, "parent_id": str,
                                           "generator": str, "checkpoint_hash": str, "params": str})
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise DataError(table, f"cannot read the shard table ({type(exc).__name__}: {exc})",
                            "re-generate this shard (delete its folder and run again)") from None
        missing = [c for c in ("id", "image", "source") if c not in df.columns]
        if missing:
            raise DataError(table, f"shard table lacks the column(s) {missing}",
                            "re-generate this shard (delete its folder and run again)")
        features = feature_columns if feature_columns is not None else \
            [c for c in df.columns if c not in RESERVED]
        samples = []
        for row in df.to_dict("records"):
            image = _load_array(shard / row["image"], "image")
            mask_file = row.get("mask")
            mask = None
            if isinstance(mask_file, str) and mask_file:
                mask = _load_array(shard / mask_file, "mask")
            source = row.get("source")
            if source not in SOURCES:
                raise DataError(table, f"row {row['id']!r} has source {source!r}, expected one of {SOURCES}",
                                "re-generate this shard")
            seed = _value(row.get("seed"))
            params = row.get("params")
            prov = Provenance(id=row["id"], source=source, parent_id=_value(row.get("parent_id")),
                              generator=_value(row.get("generator")),
                              checkpoint_hash=_value(row.get("checkpoint_hash")),
                              seed=None if seed is None else int(seed),
                              params=json.loads(params) if isinstance(params, str) and params else {})
            feats = {c: (float("nan") if _value(row[c]) is None else _value(row[c])) for c in features} \
                if features else None
            samples.append(Sample(image=image, mask=mask, label=_value(row.get("label")),
                                  features=feats, provenance=prov,
                                  meta={"format": self.name, "shard": shard.name,
                                        "source_files": [str((shard / row["image"]).resolve())]}))
        return samples

    def write(self, sample: Sample, out_dir: Path) -> list[str]:
        shard = Path(out_dir) / shard_name(0)
        sample_id = safe_name(sample.id.rsplit("/", 1)[-1])
        data, ext = encode_array(sample.image)
        written = [(f"{sample_id}{ext}", data)]
        if sample.mask is not None:
            mdata, mext = encode_array(sample.mask)
            written.append((f"{sample_id}_mask{mext}", mdata))
        for name, payload in written:
            atomic_write_bytes(shard / name, payload)
        row = sample_row(sample, sample_id, written[0][0], written[1][0] if len(written) > 1 else "")
        TableAppender.shared(shard / SHARD_TABLE).append(row)
        return [f"{shard.name}/{name}" for name, _ in written]
