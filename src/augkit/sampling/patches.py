"""Patches of volumes for training: where a patch starts (drawn) and the padded crop (pure).

A patch start is drawn from a generator the caller seeds (the sampler's per-position stream).
With probability ``foreground`` the patch is centred on a labelled voxel (mask > 0) drawn
uniformly, as nnU-Net's foreground oversampling does; otherwise its start is uniform over the
volume. Either way the start is kept inside the volume where the patch fits, so the asked
voxel stays in the patch; along an axis shorter than the patch the volume is centred. Whatever
lies outside the volume is padded with 0 (image and mask), so every patch has the asked shape.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from augkit.errors import UsageError


def check_patch_size(patch_size: Sequence[int] | None) -> tuple[int, int, int] | None:
    if patch_size is None:
        return None
    try:
        size = tuple(int(n) for n in patch_size)
    except (TypeError, ValueError):
        size = ()
    if len(size) != 3 or min(size) < 1:
        raise UsageError("patch_size must be three positive voxel counts (x, y, z), e.g. "
                         f"(128, 128, 128). Received: patch_size={patch_size!r}")
    return size


def draw_patch_start(rng: np.random.Generator, shape: Sequence[int], patch_size: Sequence[int],
                     foreground: float = 0.0, mask: np.ndarray | None = None,
                     labelled: np.ndarray | None = None) -> tuple[int, ...]:
    """The corner of one patch. Draw order is fixed (the foreground coin, then the voxel or the
    start), so the same generator state gives the same patch. ``labelled``: the mask's
    ``labelled_voxels``, when the caller keeps them per case (else they come from ``mask``)."""
    shape, size = np.asarray(shape[:3]), np.asarray(patch_size)
    low, high = np.minimum(0, shape - size), np.maximum(0, shape - size)
    centred = (shape - size) // 2  # where the patch is longer than the volume
    use_foreground = foreground > 0 and rng.random() < foreground
    if use_foreground and (mask is not None or labelled is not None):
        if labelled is None:
            labelled = labelled_voxels(mask)
        if labelled.size:
            voxel = np.unravel_index(int(labelled[rng.integers(labelled.size)]), tuple(shape))
            start = np.clip(np.asarray(voxel) - size // 2, low, high)
            return tuple(int(v) for v in np.where(shape < size, centred, start))
    start = np.array([rng.integers(0, h + 1) for h in high])
    return tuple(int(v) for v in np.where(shape < size, centred, start))


def labelled_voxels(mask: np.ndarray) -> np.ndarray:
    """Flat indices of the labelled voxels (mask > 0), int32 where they fit (half the memory
    of a case's list kept for the next patch)."""
    flat = np.flatnonzero(mask)
    return flat.astype(np.int32) if mask.size < 2**31 else flat


def crop_padded(array: np.ndarray, start: Sequence[int], patch_size: Sequence[int]) -> np.ndarray:
    """``array[start : start + patch_size]`` over its first three axes, 0 outside the array."""
    out = np.zeros((*patch_size, *array.shape[3:]), dtype=array.dtype)
    src, dst = [], []
    for a, (s, n) in enumerate(zip(start, patch_size)):
        lo, hi = max(s, 0), min(s + n, array.shape[a])
        src.append(slice(lo, max(hi, lo)))
        dst.append(slice(lo - s, lo - s + max(hi - lo, 0)))
    out[tuple(dst)] = array[tuple(src)]
    return out


__all__ = ["check_patch_size", "crop_padded", "draw_patch_start", "labelled_voxels"]
