"""``tabimage``: images joined to the rows of one CSV table by an id (the image + tabular case).

Layout it detects: a folder with exactly one ``*.csv`` at its top level (``manifest.csv``, which
augkit writes beside every output, does not count) plus images anywhere below. Any other layout
is read with ``--format tabimage`` and options:

- ``table=PATH``: the CSV (default: the one CSV at the top level); a relative path that does not
  exist from the working directory is looked up inside the dataset folder;
- ``id_column=NAME``: the table's id column (default ``id`` if there is one, else the first);
- ``id_pattern=REGEX``: how an image's id is found in its path (relative to the folder, ``/``
  separators, no extension): the first group of the first match, or the whole match; default:
  the file name without extension. For the LGG slices joined to the per-patient table:
  ``id_pattern=r"(TCGA_[A-Z0-9]+_[A-Z0-9]+)"``, ``id_column=Patient``;
- ``image_glob=PATTERN``: which images to take (``root.glob``; default every PNG/TIFF/JPEG
  below the folder); masks (``*_mask.*``, files inside ``label(s)/``, ``mask(s)/``) never count;
- ``label_column=NAME``: a column that becomes the sample's ``label`` instead of a feature;
- ``drop_columns=NAME[,NAME]``: columns left out of the features (a second id, such as the LGG
  table's ``case`` beside ``Patient``: a generator should not learn patient names);
- ``channels=1`` or ``0,2``: keep only these image channels (e.g. FLAIR of the LGG slices).

On the command line each option is one ``--read-option KEY=VALUE`` (with ``--format tabimage``
when the folder holds no table of its own), e.g. for an LGG split and its patient table::

    augkit info lgg/train30 --format tabimage --read-option table=lgg/patients_train30.csv \
        --read-option id_column=case --read-option 'id_pattern=^([^/]+)/' --read-option drop_columns=Patient

Several images may share one row (slices of one patient); images without a row are an error
naming every id that has none (one line), rows without images are ignored. Sample ids are the image paths without extension, so they are
unique; the joined row id is kept in ``meta["table_id"]``.

The writer puts each sample's image in ``images/<name><ext>`` (a real one, unless channels were
picked, copied byte for byte) and its row in ``table.csv``
(``id`` = the image's name, the feature columns, ``label`` when samples have one), so the output
reads back with this format. Rows are appended one line at a time; a row re-written after an
interrupted run replaces the earlier one.
"""

from __future__ import annotations

import math
import re
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from augkit.errors import DataError, UsageError
from augkit.io.arrays import cast_like, check_finite
from augkit.io.base import Dataset, DatasetFormat, atomic_copy, atomic_write_bytes
from augkit.io.folder2d import MASK_DIRS, MASK_SUFFIX, natural_key, safe_name, walk_visible
from augkit.io.images import encode_image, is_image_file, png_compatible, read_image
from augkit.io.table_csv import TableAppender
from augkit.sample import Provenance, Sample

TABLE_NAME = "table.csv"
IMAGES_DIR = "images"
#: written by augkit beside every output (near_copies.csv: with --drop-near-copies); never
#: the table of a dataset
IGNORED_CSVS = frozenset({"manifest.csv", "near_copies.csv"})
OPTIONS = ("table", "id_column", "id_pattern", "image_glob", "label_column", "drop_columns", "channels")


def cli_option(key: str, value: str) -> str:
    """How a user passes a read option on the command line (named in error messages)."""
    return f"--read-option {key}={value}"



def top_level_csvs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.suffix.lower() == ".csv" and p.is_file()
                  and not p.name.startswith(".") and p.name.lower() not in IGNORED_CSVS)


def read_table(path: Path, id_column: str | None) -> tuple[pd.DataFrame, str]:
    """The CSV with its id column as strings; errors name the file."""
    try:
        header = pd.read_csv(path, nrows=0)
    except FileNotFoundError:
        raise DataError(path, "table file does not exist",
                        f"check the path given to table= ({cli_option('table', 'PATH')})") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(path, f"cannot read the table as CSV ({type(exc).__name__}: {exc})",
                        "give a comma-separated file with a header row") from None
    columns = [str(c) for c in header.columns]
    if id_column is None:
        id_column = "id" if "id" in columns else (columns[0] if columns else None)
    if id_column not in columns:
        raise DataError(path, f"table has no id column {id_column!r} (columns: {columns})",
                        f"pass the column that names each image's row as id_column= "
                        f"({cli_option('id_column', 'NAME')})")
    try:
        df = pd.read_csv(path, dtype={id_column: str})
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(path, f"cannot read the table as CSV ({type(exc).__name__}: {exc})",
                        "give a comma-separated file with a header row") from None
    if len(df) == 0:
        raise DataError(path, "table has a header but no rows",
                        "fill the table with one row per id (or point table= at the filled copy)")
    ids = df[id_column]
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0]) + 2
        raise DataError(path, f"id column {id_column!r} is empty on line {row}", "give every row an id")
    duplicated = ids[ids.duplicated()].tolist()
    if duplicated:
        raise DataError(path, f"id {duplicated[0]!r} appears on more than one row of column {id_column!r}",
                        "keep one row per id")
    return df, id_column


def parse_channels(value: Any) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, int):
        return [value]
    if isinstance(value, str):
        try:
            return [int(v) for v in value.replace(" ", "").split(",") if v != ""]
        except ValueError:
            raise UsageError(f"channels must be channel numbers like '1' or '0,2'. Received: {value!r}") from None
    return [int(v) for v in value]


def parse_names(value: Any) -> list[str]:
    """``"a,b"`` or a list → column names (``drop_columns=``)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


class TabImageFormat(DatasetFormat):
    name = "tabimage"
    # below paired2d (10): a folder of image/mask pairs stays paired2d unless asked; above
    # classfolders (5): a table beside an images/ folder is not a class called "images"
    priority = 7

    # ---- detect ---------------------------------------------------------------------------
    def detect(self, root: Path) -> bool:
        if len(top_level_csvs(root)) != 1:
            return False
        return any(is_image_file(Path(f)) for _, _, files in walk_visible(root) for f in files)

    # ---- read -----------------------------------------------------------------------------
    def read(self, root: Path, **options: Any) -> Dataset:
        unknown = sorted(k for k, v in options.items() if k not in OPTIONS and v is not None)
        if unknown:
            raise UsageError(f"format {self.name!r} does not know the option(s) {unknown}; "
                             f"known: {', '.join(OPTIONS)}")
        root = Path(root)
        if not root.is_dir():
            raise DataError(root, "input folder does not exist", "check the path given to --in")
        table = self._table_path(root, options.get("table"))
        df, id_column = read_table(table, options.get("id_column"))
        label_column = options.get("label_column")
        if label_column is not None and label_column not in df.columns:
            raise DataError(table, f"table has no label column {label_column!r} (columns: "
                            f"{list(df.columns)})", "pass an existing column as label_column")
        dropped = parse_names(options.get("drop_columns"))
        absent = [c for c in dropped if c not in df.columns or c in (id_column, label_column)]
        if absent:
            raise DataError(table, f"drop_columns names {absent}, which are not feature columns of the "
                            f"table (columns: {list(df.columns)})", "drop existing columns other than the id")
        rows = {str(r[id_column]): r for r in df.to_dict("records")}
        pattern = self._pattern(options.get("id_pattern"))
        channels = parse_channels(options.get("channels"))
        images = self._images(root, options.get("image_glob"))
        if not images:
            raise DataError(root, "no images found next to the table"
                            + (f" matching {options['image_glob']!r}" if options.get("image_glob") else ""),
                            "put PNG/TIFF/JPEG images below the folder or fix image_glob")
        joined = []
        for path in images:
            rel = path.relative_to(root).as_posix()
            sample_id = str(PurePosixPath(rel).with_suffix(""))
            joined.append((path, rel, sample_id, self._table_id(sample_id, pattern, path)))
        unmatched = {}  # table id -> its first image, in image order
        for path, _, _, table_id in joined:
            if table_id not in rows:
                unmatched.setdefault(table_id, path)
        if unmatched:
            ids, first = list(unmatched), next(iter(unmatched.values()))
            named = ", ".join(repr(i) for i in ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
            raise DataError(first, f"{len(ids)} image id(s) have no row in {table} (column "
                            f"{id_column!r}): {named}",
                            "add the rows, narrow image_glob, or fix id_pattern")
        samples = [self._sample(root, path, rel, sample_id, table_id, rows[table_id], table, id_column,
                                label_column, channels, dropped)
                   for path, rel, sample_id, table_id in joined]
        options_used = {"table": str(table), "id_column": id_column,
                        "id_pattern": options.get("id_pattern"), "image_glob": options.get("image_glob"),
                        "label_column": label_column, "drop_columns": dropped or None, "channels": channels}
        return Dataset(root=root, format=self.name, samples=samples,
                       options={k: v for k, v in options_used.items() if v is not None})

    @staticmethod
    def _table_path(root: Path, table: Any) -> Path:
        if table is not None:
            path = Path(table)
            if not path.is_absolute() and not path.exists() and (root / path).exists():
                path = root / path
            return path
        csvs = top_level_csvs(root)
        if len(csvs) != 1:
            found = ", ".join(p.name for p in csvs) or "none"
            raise DataError(root, f"expected exactly one CSV table at the top level, found {found}",
                            f"pass table=PATH ({cli_option('table', 'PATH')}, with --format tabimage)")
        return csvs[0]

    @staticmethod
    def _pattern(id_pattern: str | None) -> re.Pattern | None:
        if id_pattern is None:
            return None
        try:
            return re.compile(id_pattern)
        except re.error as exc:
            raise UsageError(f"id_pattern {id_pattern!r} is not a valid regular expression ({exc}).") from None

    @staticmethod
    def _table_id(sample_id: str, pattern: re.Pattern | None, path: Path) -> str:
        if pattern is None:
            return PurePosixPath(sample_id).name
        match = pattern.search(sample_id)
        if match is None:
            raise DataError(path, f"id_pattern {pattern.pattern!r} does not match the image path "
                            f"{sample_id!r}", "fix id_pattern or narrow image_glob to the images it fits")
        return match.group(1) if pattern.groups else match.group(0)

    @staticmethod
    def _images(root: Path, image_glob: str | None) -> list[Path]:
        if image_glob:
            found = [p for p in root.glob(image_glob) if p.is_file()]
        else:
            found = [dirpath / f for dirpath, _, files in walk_visible(root) for f in files]

        def wanted(path: Path) -> bool:  # masks are never images here: tabimage needs none
            parts = path.relative_to(root).parts
            return is_image_file(path) and not path.stem.lower().endswith(MASK_SUFFIX) \
                and not any(p.startswith(".") or p.lower() in MASK_DIRS for p in parts)

        return sorted((p for p in found if wanted(p)), key=lambda p: natural_key(p.relative_to(root).as_posix()))

    def _sample(self, root, path, rel, sample_id, table_id, row, table, id_column, label_column,
                channels, dropped=()) -> Sample:
        image = read_image(path, role="image")
        check_finite(image, path)
        if image.ndim == 2:
            image = image[..., None]
        if channels is not None:
            bad = [c for c in channels if not -image.shape[-1] <= c < image.shape[-1]]
            if bad:
                raise DataError(path, f"image has {image.shape[-1]} channel(s); channels={channels} "
                                "asks for others", "pick channels that every image has")
            image = np.ascontiguousarray(image[..., channels])
        features = {k: _clean(v) for k, v in row.items() if k not in (id_column, label_column, *dropped)}
        label = None if label_column is None else _clean(row[label_column])
        if isinstance(label, float) and math.isnan(label):
            label = None
        meta = {"format": self.name, "source_files": [str(path.resolve()), str(table.resolve())],
                "relpath": {"image": rel}, "image_ext": path.suffix, "image_dtype": str(image.dtype),
                "table_id": table_id, "id_column": id_column, "channels": channels,
                "group": str(table_id)}  # the patient: the slices that share a row
        return Sample(image=image, provenance=Provenance(id=sample_id), label=label,
                      features=features, meta=meta)

    # ---- write ----------------------------------------------------------------------------
    def write(self, sample: Sample, out_dir: Path) -> list[str]:
        out_dir = Path(out_dir)
        if sample.features is None:
            raise UsageError(f"sample {sample.id!r} has no table row; the tabimage format writes an "
                             "image and its row. Fix: write it in an image format instead.")
        meta = sample.meta if sample.meta.get("format") == self.name else {}
        name = safe_name(sample.id.rsplit("/", 1)[-1])
        image = sample.image
        if meta.get("image_dtype"):
            image = cast_like(image, meta["image_dtype"])
        ext = meta.get("image_ext") if meta.get("image_ext") and sample.provenance.source == "real" else None
        ext = ext or (".png" if png_compatible(image) else ".tif")
        rel = f"{IMAGES_DIR}/{name}{ext}"
        source = Path(meta["source_files"][0]) if meta.get("source_files") else None
        if sample.provenance.source == "real" and meta.get("channels") is None and source is not None \
                and source.is_file() and source.suffix == ext:
            atomic_copy(source, out_dir / rel)  # a real image goes out byte for byte
        else:
            atomic_write_bytes(out_dir / rel, encode_image(image, ext))
        row = {"id": name, **sample.features}
        table = TableAppender.shared(out_dir / TABLE_NAME)
        if sample.label is not None or "label" in table.current_columns():
            row["label"] = sample.label
        table.append(row)
        return [rel]


def _clean(value: Any) -> Any:
    """pandas' NaN/NA/None all become float NaN (one missing marker for every column kind)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return float("nan")
    return value.item() if isinstance(value, np.generic) else value
