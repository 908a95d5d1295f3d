"""Images between a dataset's own form (value range, size) and the [-1, 1] float arrays the GAN
generators train on and emit, and those arrays as uint8 pictures for sample grids. Kept free of
Keras so that plugin data code imports fast."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def robust_range(images: Sequence[np.ndarray]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (low, high) to scale H×W×C images of one dtype by. uint8 maps exactly
    (0..255); other dtypes by a robust range: low = 0 for non-negative data, else the 0.5th
    percentile; high = the 99.5th percentile of the values above low, so a few hot voxels do
    not squash the rest."""
    first = images[0]
    channels = first.shape[-1]
    if np.dtype(first.dtype) == np.uint8:
        return (0.0,) * channels, (255.0,) * channels
    stacked = np.concatenate([image.reshape(-1, channels) for image in images])
    low, high = [], []
    for c in range(channels):
        v = stacked[:, c].astype(np.float64)
        lo = 0.0 if v.min() >= 0 else float(np.percentile(v, 0.5))
        above = v[v > lo]
        hi = float(np.percentile(above, 99.5)) if above.size else lo + 1.0
        low.append(lo)
        high.append(hi if hi > lo else lo + 1.0)
    return tuple(low), tuple(high)


def scale_to_unit(image: np.ndarray, low, high) -> np.ndarray:
    """Per-channel [low, high] -> [-1, 1] float32 (the tanh range every GAN here emits), clipped."""
    low, high = np.asarray(low, np.float32), np.asarray(high, np.float32)
    return np.clip((image.astype(np.float32) - low) / (high - low) * 2.0 - 1.0, -1.0, 1.0)


def scale_from_unit(x: np.ndarray, low, high, dtype) -> np.ndarray:
    """Inverse of ``scale_to_unit`` back to the source dtype (integers rounded and clipped)."""
    low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    y = (np.clip(x.astype(np.float64), -1.0, 1.0) + 1.0) / 2.0 * (high - low) + low
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        y = np.clip(np.rint(y), info.min, info.max)
    return y.astype(dtype)


@dataclass(frozen=True)
class IntensityScale:
    """A trained model's per-channel intensity range and source dtype: what maps its training
    images to [-1, 1] and its outputs back. Generators' data specs extend it.

    A spec that declares the field ``per_image: bool`` may scale each slice by its own robust
    range instead (``range_of``): MRI intensities have no fixed unit, and one BraTS training
    case reaches 20,000 where the others stop at 300-1,300, so one range for all would squash
    most cases into a few percent of [-1, 1]. ``low``/``high`` then stand for a slice that has
    no range of its own (an image made from a bare mask)."""

    num_channels: int
    dtype: str
    low: tuple[float, ...]  # per channel: low → -1, high → +1
    high: tuple[float, ...]

    per_image = False  # not a field here: the specs that support it declare it

    def range_of(self, image: np.ndarray | None) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per channel (low, high) that map ``image`` (a whole slice) to [-1, 1]: its own robust
        range with ``per_image``, else (or for None) the spec's."""
        return robust_range([image]) if self.per_image and image is not None else (self.low, self.high)

    def to_unit(self, image: np.ndarray, value_range=None) -> np.ndarray:
        """``image`` in [-1, 1] by ``value_range`` (default ``range_of(image)``: pass the whole
        slice's range when ``image`` is a window of it)."""
        return scale_to_unit(image, *(value_range if value_range is not None else self.range_of(image)))

    def from_unit(self, x: np.ndarray, value_range=None) -> np.ndarray:
        """Back to the source dtype by ``value_range`` (default: the spec's own range)."""
        return scale_from_unit(x, *(value_range if value_range is not None else (self.low, self.high)), self.dtype)


def typical_range(images: Sequence[np.ndarray]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per channel the median over ``images`` of each one's ``robust_range``: the scale of a
    typical slice, for specs that scale per image."""
    ranges = np.array([robust_range([image]) for image in images], np.float64)  # N×2×C
    low, high = np.median(ranges[:, 0], axis=0), np.median(ranges[:, 1], axis=0)
    return tuple(float(v) for v in low), tuple(float(v) for v in high)


def resize_image(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a float H×W×C array to ``shape`` (anti-aliased when shrinking)."""
    if x.shape[:2] == tuple(shape):
        return x.astype(np.float32)
    from skimage.transform import resize

    shrinking = shape[0] < x.shape[0] or shape[1] < x.shape[1]
    return resize(x, (*shape, x.shape[-1]), order=1, mode="edge", anti_aliasing=shrinking,
                  preserve_range=True).astype(np.float32)


def resize_labels(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an H×W label map by index sampling: labels stay labels, and
    no value appears that was not there."""
    if mask.shape[:2] == tuple(shape):
        return mask
    rows = np.minimum((np.arange(shape[0]) + 0.5) * mask.shape[0] / shape[0], mask.shape[0] - 1).astype(int)
    cols = np.minimum((np.arange(shape[1]) + 0.5) * mask.shape[1] / shape[1], mask.shape[1] - 1).astype(int)
    return mask[rows[:, None], cols[None, :]]


def unit_to_uint8(x: np.ndarray) -> np.ndarray:
    """uint8 picture of a [-1, 1] image: its first three channels as RGB, else channel 0."""
    x = x[..., :3] if x.shape[-1] >= 3 else x[..., :1]
    return np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8)
