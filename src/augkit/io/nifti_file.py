"""One NIfTI file at a time: load it (checked for truncation and NaN/inf), read its header
alone, check its shape and labels, and encode an array back into NIfTI bytes with a source
file's affine and header, gzip'd with ``mtime=0`` so the same arrays give the same bytes.
Shared by the slice reader (``augkit.io.nifti``) and the whole-case one (``augkit.io.volumes``)."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from augkit.errors import DataError
from augkit.io.arrays import as_labels, check_finite

LOAD_ERRORS = (OSError, EOFError, ValueError, zlib.error, nib.filebasedimages.ImageFileError)
# gzip level 1 for whole cases: a 240×240×155 int16 volume compresses ~4× faster than at level 6
# and only a few per cent larger; the writer is otherwise the slowest step of a case.
COMPRESS_LEVEL = 1


def load_volume(path: Path, what: str = "volume") -> tuple[np.ndarray, nib.Nifti1Image]:
    """Load (header and data, so truncated files fail here) and check for NaN/inf."""
    try:
        img = nib.load(path)
        data = np.asanyarray(img.dataobj)
    except LOAD_ERRORS as exc:
        raise DataError(path, f"cannot read NIfTI {what} ({type(exc).__name__}: {exc})",
                        "replace it with an intact copy (a truncated download is the usual cause)") from None
    check_finite(data, path, what)
    return data, img


def slice_affine(affine, k: int) -> np.ndarray:
    """The affine of ``volume[:, :, k:k+1]``: the source affine after a shift of k voxels."""
    shift = np.eye(4)
    shift[2, 3] = k
    return np.asarray(affine, dtype=float) @ shift


def encode_slice(data: np.ndarray, volume: dict | None, k: int) -> bytes:
    """One-slice NIfTI (``data`` is H×W×1[×C]) with the source volume's header, gzip'd
    deterministically."""
    affine = np.eye(4) if volume is None else slice_affine(volume["affine"], k)
    return encode_nifti(data, volume, affine)


def encode_nifti(data: np.ndarray, volume: dict | None, affine: np.ndarray,
                 compresslevel: int = 6) -> bytes:
    """NIfTI bytes of ``data`` with the source volume's header (a plain one without a source)
    and ``affine``, gzip'd with mtime 0 (same arrays, same bytes)."""
    header = nib.Nifti1Header() if volume is None else nib.Nifti1Header(binaryblock=volume["header"])
    header.set_data_dtype(data.dtype)
    header.set_slope_inter(None, None)  # values are stored as they are in memory
    img = nib.Nifti1Image(data, affine, header=header)
    # Nifti1Image drops a qform that differs from the new affine; keep both codes as they were.
    img.set_qform(affine, code=int(header["qform_code"]) or 1)
    img.set_sform(affine, code=int(header["sform_code"]) or 1)
    return gzip.compress(img.to_bytes(), compresslevel=compresslevel, mtime=0)


def header_shape(path: Path, what: str) -> tuple[int, ...]:
    """The volume's shape from its header alone."""
    return header_info(path, what)[0]


def header_info(path: Path, what: str) -> tuple[tuple[int, ...], str]:
    """The volume's shape and stored dtype from its header alone."""
    try:
        img = nib.load(path)
        return tuple(int(n) for n in img.shape), str(img.get_data_dtype())
    except LOAD_ERRORS as exc:
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
    load_volume(path, what)


def encode_volume(data: np.ndarray, volume: dict[str, Any] | None) -> bytes:
    """A NIfTI volume with the source's affine and header (dtype set to ``data``'s), gzip'd
    deterministically."""
    affine = np.eye(4) if volume is None else np.asarray(volume["affine"], dtype=float)
    return encode_nifti(data, volume, affine, compresslevel=COMPRESS_LEVEL)


__all__ = ["COMPRESS_LEVEL", "LOAD_ERRORS", "check_3d", "check_loadable", "encode_nifti", "encode_slice",
           "encode_volume", "header_info", "header_shape", "label_summary", "load_volume", "slice_affine"]
