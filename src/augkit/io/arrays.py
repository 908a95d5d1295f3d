"""Checks every reader runs on decoded arrays, and the cast writers use to store arrays that
came back from transforms in the source's dtype."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from augkit.errors import DataError


def check_finite(array: np.ndarray, path: Path, what: str = "image") -> None:
    if np.issubdtype(array.dtype, np.inexact) and not np.isfinite(array).all():
        num_bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise DataError(path, f"{what} has {num_bad} NaN or infinite values",
                        "fix or remove the file; augkit cannot train on undefined intensities")


def as_labels(array: np.ndarray, path: Path, what: str = "mask") -> np.ndarray:
    """Validate a label array and return it with an integer dtype, values unchanged.

    Integer arrays keep their dtype; float arrays whose values are all whole numbers become the
    smallest of int16/int32 that holds them. Fractions, NaN and negative labels are errors.
    """
    if array.dtype == bool:
        return array.astype(np.uint8)
    if np.issubdtype(array.dtype, np.inexact):
        check_finite(array, path, what)
        if np.iscomplexobj(array) or not np.array_equal(array, np.round(array)):
            raise DataError(path, f"{what} has non-integer values (e.g. {_first_fraction(array)}); "
                            "expected integer class labels",
                            "save the mask with integer labels (no interpolation or smoothing)")
    elif not np.issubdtype(array.dtype, np.integer):
        raise DataError(path, f"{what} has dtype {array.dtype}; expected integer labels",
                        "save the mask as an integer image")
    if array.size and array.min() < 0:
        raise DataError(path, f"{what} has negative label values (min {array.min()}); "
                        "expected labels >= 0", "relabel the mask with non-negative class ids")
    if np.issubdtype(array.dtype, np.inexact):
        top = array.max() if array.size else 0
        array = array.astype(np.int16 if top <= np.iinfo(np.int16).max else np.int32)
    return array


def _first_fraction(array: np.ndarray) -> float:
    flat = array.ravel()
    return float(flat[np.flatnonzero(flat != np.round(flat))[0]])


def cast_like(array: np.ndarray, dtype: np.dtype | str) -> np.ndarray:
    """``array`` in ``dtype``: integers by rounding and clipping to the dtype's range."""
    dtype = np.dtype(dtype)
    if array.dtype == dtype:
        return array
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        if np.issubdtype(array.dtype, np.inexact):
            array = np.rint(np.nan_to_num(array, nan=0.0))
        return np.clip(array, info.min, info.max).astype(dtype)
    if dtype == bool:
        return array != 0
    return array.astype(dtype)


def cast_labels(mask: np.ndarray, dtype: np.dtype | str, path: Path) -> np.ndarray:
    """A mask in the source's label dtype; a label that does not fit is an error, not clipped."""
    dtype = np.dtype(dtype)
    if mask.dtype == dtype:
        return mask
    mask = np.rint(mask) if np.issubdtype(mask.dtype, np.inexact) else mask
    if np.issubdtype(dtype, np.integer) and mask.size:
        info = np.iinfo(dtype)
        low, high = mask.min(), mask.max()
        if low < info.min or high > info.max:
            raise DataError(path, f"mask labels {low}..{high} do not fit the source mask dtype {dtype}",
                            "keep label values within the range of the input masks")
    return mask.astype(dtype)
