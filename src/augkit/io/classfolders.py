"""Classification datasets: one label per image, no masks.

- ``classfolders``: ``DIR/<class>/*.png`` (also TIFF and JPEG; sub-folders inside a class folder
  are allowed). ``Sample.label`` is the class folder's name. It never claims a folder that
  ``paired2d`` would read: a tree with ``x_mask.*`` files or ``image/`` + ``label/`` folders is
  a segmentation dataset.
- ``classcsv``: a CSV with ``file,label`` columns (``labels.csv`` at the top is detected; read
  option ``csv=PATH`` names another). ``file`` is relative to the CSV's folder. Other columns are
  kept in ``meta['csv_row']`` and written back.

Sample ids are the image path relative to the dataset root (classcsv: the CSV's folder) without
extension, ``/``-separated: ``G2/TCGA_CS_4941_12``. Samples are in natural id order.

Writers: a real sample is copied byte for byte to its relative path; a new one goes to
``<out>/<class>/<name>.png`` (classfolders) or beside its parent with its label in the CSV
(classcsv), ``<name>`` being the last part of its id. New images are PNG (TIFF when PNG cannot
hold the dtype), never JPEG, so the bytes are exact and deterministic. Every file is written
atomically; the classcsv writer rewrites ``labels.csv`` (sorted by file) after each sample.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path, PurePosixPath
from typing import Any

from augkit.errors import DataError, UsageError
from augkit.io.arrays import cast_like, check_finite
from augkit.io.base import Dataset, DatasetFormat, atomic_copy, atomic_write_bytes
from augkit.io.folder2d import (MASK_SUFFIX, Paired2DFormat, natural_key, safe_name, safe_relpath,
                                walk_visible)
from augkit.io.images import encode_image, is_image_file, png_compatible, read_image
from augkit.sample import Provenance, Sample

LABELS_CSV = "labels.csv"
FILE_COLUMN, LABEL_COLUMN = "file", "label"


def _no_options(options: dict[str, Any], fmt: str, allowed: tuple[str, ...] = ()) -> dict[str, Any]:
    given = {k: v for k, v in options.items() if v is not None}  # None: the default
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        what = f"the read option(s) {', '.join(allowed)} only" if allowed else "no read options"
        raise UsageError(f"format {fmt!r} takes {what}; received {unknown}")
    return given


def _check_not_mask(path: Path, fmt: str) -> None:
    if path.stem.lower().endswith(MASK_SUFFIX):
        raise DataError(path, f"file name ends in {MASK_SUFFIX!r} like a segmentation mask; {fmt} "
                        "datasets hold one labelled image per file",
                        "read this folder as --format paired2d, or rename the file")


def _read_one(path: Path, sample_id: str, label: str, rel: str, fmt: str,
              extra: dict[str, Any] | None = None) -> Sample:
    image = read_image(path, role="image")
    check_finite(image, path)
    meta = {"format": fmt, "source_files": [str(path.resolve())], "relpath": {"image": rel},
            "image_ext": path.suffix, "image_dtype": str(image.dtype)}
    if extra is not None:
        meta["csv_row"] = extra
    return Sample(image=image, label=label, provenance=Provenance(id=sample_id), meta=meta)


def _new_image_bytes(sample: Sample, fmt: str) -> tuple[bytes, str]:
    """Encoded bytes and extension for a sample that is not a byte-for-byte copy."""
    image = sample.image
    meta = sample.meta if sample.meta.get("format") == fmt else {}
    if meta.get("image_dtype"):
        image = cast_like(image, meta["image_dtype"])
    ext = ".png" if png_compatible(image) else ".tif"
    return encode_image(image, ext), ext


def _copy_real(sample: Sample, out_dir: Path, fmt: str) -> str | None:
    """Copy a real sample's own file; the relative path written, or None if it has none."""
    meta = sample.meta if sample.meta.get("format") == fmt else {}
    if sample.provenance.source != "real" or not meta.get("source_files") or not meta.get("relpath"):
        return None
    src = Path(meta["source_files"][0])
    if not src.is_file():
        return None
    rel = meta["relpath"]["image"]
    atomic_copy(src, out_dir / safe_relpath(rel))
    return rel


def _label_text(sample: Sample, fmt: str) -> str:
    if sample.label is None:
        raise UsageError(f"sample {sample.id!r} has no label; the {fmt} format stores a class per "
                         "image. Fix: give every sample a label (Sample.label).")
    return str(sample.label)


class ClassFoldersFormat(DatasetFormat):
    """``DIR/<class>/*.png``: the class is the folder name."""

    name = "classfolders"
    priority = 5  # below paired2d: masks or image/+label/ folders make it a segmentation set

    def detect(self, root: Path) -> bool:
        root = Path(root)
        if ClassCsvFormat().detect(root) or Paired2DFormat().detect(root):
            return False
        top = True
        found = False
        for dirpath, _, filenames in walk_visible(root):
            images = [f for f in filenames if is_image_file(Path(f))]
            if top:
                if images:  # loose images at the top: not a class-folder layout
                    return False
                top = False
                continue
            found = found or bool(images)
        return found

    def read(self, root: Path, **options: Any) -> Dataset:
        _no_options(options, self.name)
        root = Path(root)
        if not root.is_dir():
            raise DataError(root, "input folder does not exist", "check the path given to --in")
        files: dict[str, Path] = {}
        class_dirs: list[Path] = []
        for dirpath, dirnames, filenames in walk_visible(root):
            images = [dirpath / f for f in filenames if is_image_file(Path(f))]
            if dirpath == root:
                if images:
                    raise DataError(images[0], "image lies at the top, outside any class folder",
                                    "move it into a <class>/ sub-folder named after its class")
                class_dirs = [root / d for d in dirnames]
                continue
            for path in images:
                _check_not_mask(path, self.name)
                sample_id = path.relative_to(root).with_suffix("").as_posix()
                if sample_id in files:
                    raise DataError(path, f"this image and {files[sample_id].name} map to the same "
                                    "sample id", "keep one image per name (rename or remove one)")
                files[sample_id] = path
        if not class_dirs:
            raise DataError(root, "no class sub-folders found",
                            "put the images in one sub-folder per class: DIR/<class>/x.png")
        for d in class_dirs:
            if not any(sid.split("/", 1)[0] == d.name for sid in files):
                raise DataError(d, "class folder holds no PNG, TIFF or JPEG images",
                                "add images of this class or remove the folder")
        samples = [
            _read_one(files[sid], sid, sid.split("/", 1)[0], files[sid].relative_to(root).as_posix(),
                      self.name)
            for sid in sorted(files, key=natural_key)
        ]
        return Dataset(root=root, format=self.name, samples=samples, options={})

    def write(self, sample: Sample, out_dir: Path) -> list[str]:
        out_dir = Path(out_dir)
        copied = _copy_real(sample, out_dir, self.name)
        if copied is not None:
            return [copied]
        label = safe_name(_label_text(sample, self.name))
        data, ext = _new_image_bytes(sample, self.name)
        path = out_dir / label / f"{safe_name(sample.id.rsplit('/', 1)[-1])}{ext}"
        atomic_write_bytes(path, data)
        return [path.relative_to(out_dir).as_posix()]


class ClassCsvFormat(DatasetFormat):
    """Images anywhere under the CSV's folder, labelled by a ``file,label`` CSV."""

    name = "classcsv"
    priority = 12  # an explicit labels.csv with file,label columns outranks folder guesses

    def detect(self, root: Path) -> bool:
        path = Path(root) / LABELS_CSV
        if not path.is_file():
            return False
        try:
            with open(path, newline="", encoding="utf-8-sig") as fh:
                header = next(csv.reader(fh), [])
        except (OSError, UnicodeDecodeError, csv.Error):
            return True  # ours; read() reports what is wrong with it
        names = {h.strip().lower() for h in header}
        return {FILE_COLUMN, LABEL_COLUMN} <= names

    def read(self, root: Path, **options: Any) -> Dataset:
        given = _no_options(options, self.name, ("csv",))
        root = Path(root)
        if not root.is_dir():
            raise DataError(root, "input folder does not exist", "check the path given to --in")
        csv_path = Path(given.get("csv", root / LABELS_CSV))
        if not csv_path.is_absolute() and "csv" in given:
            csv_path = root / csv_path
        rows, columns = self._rows(csv_path)
        base = csv_path.parent
        samples, seen = [], {}
        for line, row in rows:
            rel = row[columns[FILE_COLUMN]].strip()
            label = row[columns[LABEL_COLUMN]].strip()
            where = f"{csv_path.name} line {line}"
            if not rel or not label:
                raise DataError(csv_path, f"{where} has an empty file or label cell",
                                "give every row a file path and a label")
            posix = PurePosixPath(rel.replace("\\", "/"))
            if posix.is_absolute() or ".." in posix.parts:
                raise DataError(csv_path, f"{where}: file {rel!r} is not inside {base}",
                                "give paths relative to the CSV's folder")
            path = base / Path(*posix.parts)
            if not is_image_file(path):
                raise DataError(csv_path, f"{where}: {rel!r} is not a PNG, TIFF or JPEG file",
                                "list image files only")
            if not path.is_file():
                raise DataError(path, f"listed in {where} but missing",
                                "add the file or remove its row")
            _check_not_mask(path, self.name)
            sample_id = posix.with_suffix("").as_posix()
            if sample_id in seen:
                raise DataError(csv_path, f"{where} repeats {seen[sample_id]!r} (same sample id "
                                f"{sample_id!r})", "list every image once")
            seen[sample_id] = rel
            extra = {k: v for k, v in row.items() if k not in (columns[FILE_COLUMN], columns[LABEL_COLUMN])}
            samples.append(_read_one(path, sample_id, label, posix.as_posix(), self.name, extra))
        samples.sort(key=lambda s: natural_key(s.id))
        options_used = {"csv": str(csv_path)} if "csv" in given else {}
        return Dataset(root=root, format=self.name, samples=samples, options=options_used)

    @staticmethod
    def _rows(csv_path: Path) -> tuple[list[tuple[int, dict[str, str]]], dict[str, str]]:
        try:
            text = csv_path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise DataError(csv_path, "label table not found",
                            f"put a {LABELS_CSV} with file,label columns at the top or pass csv=PATH"
                            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(csv_path, f"label table is unreadable ({type(exc).__name__})",
                            "save it as UTF-8 CSV") from None
        try:
            reader = csv.DictReader(io.StringIO(text))
            header = reader.fieldnames or []
            columns = {h.strip().lower(): h for h in header}
            if FILE_COLUMN not in columns or LABEL_COLUMN not in columns:
                raise DataError(csv_path, f"label table has columns {header}; expected 'file' and "
                                "'label'", "name the image column 'file' and the class column 'label'")
            rows = [(reader.line_num, row) for row in reader]
        except csv.Error as exc:
            raise DataError(csv_path, f"label table is not valid CSV ({exc})",
                            "fix the quoting on that line") from None
        if not rows:
            raise DataError(csv_path, "label table has no rows", "add one file,label row per image")
        for line, row in rows:
            if None in row or any(v is None for v in row.values()):
                raise DataError(csv_path, f"{csv_path.name} line {line} has "
                                f"{'more' if None in row else 'fewer'} cells than the header",
                                "give every row one cell per column")
        return rows, {FILE_COLUMN: columns[FILE_COLUMN], LABEL_COLUMN: columns[LABEL_COLUMN]}

    def write(self, sample: Sample, out_dir: Path) -> list[str]:
        out_dir = Path(out_dir)
        label = _label_text(sample, self.name)
        rel = _copy_real(sample, out_dir, self.name)
        if rel is None:
            meta = sample.meta if sample.meta.get("format") == self.name else {}
            parent_dir = PurePosixPath(meta["relpath"]["image"]).parent.as_posix() \
                if meta.get("relpath") else safe_name(label)
            data, ext = _new_image_bytes(sample, self.name)
            path = out_dir / safe_relpath(parent_dir) / f"{safe_name(sample.id.rsplit('/', 1)[-1])}{ext}"
            atomic_write_bytes(path, data)
            rel = path.relative_to(out_dir).as_posix()
        extra = dict(sample.meta.get("csv_row") or {}) if sample.meta.get("format") == self.name else {}
        self._add_row(out_dir / LABELS_CSV, {FILE_COLUMN: rel, LABEL_COLUMN: label, **extra})
        return [rel, LABELS_CSV]

    @staticmethod
    def _add_row(csv_path: Path, row: dict[str, str]) -> None:
        """Rewrite the CSV with ``row`` added (replacing a row for the same file), sorted by file,
        so the bytes depend only on the set of rows, not on the order they came in."""
        rows: dict[str, dict[str, str]] = {}
        if csv_path.is_file():
            with open(csv_path, newline="", encoding="utf-8") as fh:
                rows = {r[FILE_COLUMN]: r for r in csv.DictReader(fh)}
        rows[row[FILE_COLUMN]] = row
        extra = sorted({k for r in rows.values() for k in r} - {FILE_COLUMN, LABEL_COLUMN})
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=[FILE_COLUMN, LABEL_COLUMN, *extra],
                                lineterminator="\n", restval="")
        writer.writeheader()
        writer.writerows(rows[k] for k in sorted(rows, key=natural_key))
        atomic_write_bytes(csv_path, buf.getvalue().encode("utf-8"))
