"""NIfTI cases as whole volumes (``unit="case"``, the default for 3D input).

A case becomes one Sample whose image is X×Y×Z×C (nibabel's voxel order, modalities or image
channels last) and whose mask is the X×Y×Z label volume. A BraTS case is ~71 MB of int16, so
reading a folder does not load the cases: ``read`` checks every file's header (shape, a 2D file
among 3D ones) and every label volume's values (integer labels; they are loaded once and let
go; the image volumes too, so a truncated file or NaN voxels fail before anything is
written), and the dataset's ``samples`` is a ``LazySamples`` sequence that loads a case when it is
indexed and keeps nothing. ``LazySamples.metas`` gives each case's ``meta`` (group, shape,
label values, slice counts) without loading anything, for planning and ``augkit info``.

Writing: a real case is copied byte for byte (its ``meta["source_files"]``); a new case is
written in the source layout with the source volume's affine and header (transforms work in
voxel space on the same grid, so the affine stays true), gzip'd with ``mtime=0`` so the same
arrays give the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from augkit.errors import DataError
from augkit.io.arrays import as_labels
from augkit.sample import Sample

# gzip level 1: a 240×240×155 int16 volume compresses ~4× faster than at level 6 and only a
# few per cent larger; the writer is otherwise the slowest step of a case.
COMPRESS_LEVEL = 1


class LazySamples(Sequence):
    """Samples loaded on demand: ``seq[i]`` reads case i from disk (nothing is cached, so one
    case at a time is in memory); ``metas`` are known without loading."""

    def __init__(self, metas: list[dict[str, Any]], load: Callable[[int], Sample]):
        self.metas = metas
        self._load = load

    def __len__(self) -> int:
        return len(self.metas)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._load(j) for j in range(len(self))[i]]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return self._load(i % len(self))

    def __iter__(self):
        return (self._load(i) for i in range(len(self)))


def header_shape(path: Path, what: str) -> tuple[int, ...]:
    """The volume's shape from its header alone."""
    return header_info(path, what)[0]


def header_info(path: Path, what: str) -> tuple[tuple[int, ...], str]:
    """The volume's shape and stored dtype from its header alone."""
    from augkit.io.nifti import _LOAD_ERRORS

    try:
        img = nib.load(path)
        return tuple(int(n) for n in img.shape), str(img.get_data_dtype())
    except _LOAD_ERRORS as exc:
        raise DataError(path, f"cannot read NIfTI {what} ({type(exc).__name__}: {exc})",
                        "replace it with an intact copy (a truncated download is the usual cause)") from None


def check_3d(path: Path, shape: tuple[int, ...], what: str, channels_ok: bool = False) -> None:
    """A case volume must be 3D (or 4D with channels last where ``channels_ok``); a 2D image or
    a one-slice volume among 3D cases is refused, naming the way to read slices."""
    if len(shape) == 2 or (len(shape) >= 3 and shape[2] == 1):
        raise DataError(path, f"{what} is 2D (shape {shape}) in a set of 3D cases",
                        "remove it or replace it with its full volume, or read axial slices with --unit slice")
    if len(shape) != 3 and not (channels_ok and len(shape) == 4) and not (len(shape) == 4 and shape[3] == 1):
        raise DataError(path, f"{what} has shape {shape}; expected a 3D volume"
                        + (" (or 4D with channels last)" if channels_ok else ""),
                        "give one 3D volume per file")


def label_summary(path: Path, what: str) -> dict[str, Any]:
    """Load a label volume once to check it (integer, non-negative, finite) and summarise it."""
    from augkit.io.nifti import load_volume

    data, _ = load_volume(path, what)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    labels = as_labels(data, path, what)
    per_slice = labels.reshape(-1, labels.shape[2]).any(axis=0)
    return {"label_values": [int(v) for v in np.unique(labels)],
            "num_tumour_slices": int(per_slice.sum())}


def check_loadable(path: Path, what: str) -> None:
    """Load a volume once and let it go: a truncated file or NaN voxels fail at read time, in
    one line, before a run writes anything (not cases later, half-way through it)."""
    from augkit.io.nifti import load_volume

    load_volume(path, what)


def encode_volume(data: np.ndarray, volume: dict[str, Any] | None) -> bytes:
    """A NIfTI volume with the source's affine and header (dtype set to ``data``'s), gzip'd
    deterministically."""
    from augkit.io.nifti import encode_nifti

    affine = np.eye(4) if volume is None else np.asarray(volume["affine"], dtype=float)
    return encode_nifti(data, volume, affine, compresslevel=COMPRESS_LEVEL)


__all__ = ["LazySamples", "check_3d", "check_loadable", "encode_volume", "header_shape", "label_summary"]
