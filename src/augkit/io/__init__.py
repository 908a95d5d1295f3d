"""Readers and writers. The format of a folder is detected from its file names; ``format=``
overrides. Formats are plugins: see ``augkit.io.builtin`` for the shipped ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from augkit.errors import DataError, UsageError
from augkit.io.base import Dataset, DatasetFormat


def _formats() -> dict[str, DatasetFormat]:
    from augkit.registry.host import registry

    return registry().formats


def detect_format(root: str | Path) -> DatasetFormat:
    root = Path(root)
    if not root.exists():
        raise DataError(root, "input folder does not exist", "check the path given to --in")
    if not root.is_dir():
        raise DataError(root, "input is a file, not a folder", "give the folder that holds the dataset")
    from augkit.io.folder2d import walk_visible  # follows symlinked case folders, unlike rglob

    if not any(files for _, _, files in walk_visible(root)):
        raise DataError(root, "input folder is empty", "point --in at a folder of images and masks")
    found = [f for f in _formats().values() if f.detect(root)]
    if not found:
        known = ", ".join(sorted(_formats()))
        raise DataError(
            root,
            "no known dataset layout found (expected x.tif + x_mask.tif pairs, image/ + label/ "
            "folders, BraTS <case>_{flair,t1,t1ce,t2,seg}.nii.gz case folders, class sub-folders "
            "<class>/*.png, images + labels.csv, or images + one table CSV)",
            f"arrange the files in one of those layouts or pass --format (one of: {known})",
        )
    return max(found, key=lambda f: f.priority)


def get_format(name: str) -> DatasetFormat:
    from augkit.registry.host import get_format as _get

    return _get(name)


def read_dataset(root: str | Path, format: str | None = None, **options: Any) -> Dataset:
    """Read every real sample of ``root`` (format detected unless given)."""
    root = Path(root)
    fmt = get_format(format) if format else detect_format(root)
    if format and not root.is_dir():
        raise DataError(root, "input folder does not exist", "check the path given to --in")
    table_keys = sorted(k for k in TABLE_OPTIONS if options.get(k) is not None)
    if not format and table_keys and fmt.name != "tabimage":
        raise UsageError(f"{root}: the read option(s) {', '.join(table_keys)} join a table to images "
                         f"(format 'tabimage'), but this folder was detected as {fmt.name!r}. "
                         "Fix: add --format tabimage (Python: format='tabimage').")
    return fmt.read(root, **options)


#: read options that only the image + table format knows: given without a format, they mean it
TABLE_OPTIONS = ("table", "id_column", "id_pattern")


#: formats whose 3D volumes are read as whole cases by default (``unit="case"``)
VOLUME_FORMATS = ("brats", "nifti")


def read_slices(root: str | Path, format: str | None = None, **options: Any) -> Dataset:
    """``read_dataset`` for the 2D tools (evaluate, mask conditions, the sampler): NIfTI volumes
    as axial slices (``unit="slice"``) unless ``options`` ask otherwise."""
    fmt = get_format(format) if format else detect_format(root)
    if fmt.name in VOLUME_FORMATS and not options.get("unit"):
        options["unit"] = "slice"
    return read_dataset(root, format=fmt.name, **options)


__all__ = ["Dataset", "DatasetFormat", "detect_format", "get_format", "read_dataset", "read_slices"]
