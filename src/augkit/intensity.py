"""Intensity scaling between a dataset's own range and the [-1, 1] range the GAN generators emit.
Kept free of Keras so that plugin data code imports fast."""

from __future__ import annotations

import numpy as np


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
