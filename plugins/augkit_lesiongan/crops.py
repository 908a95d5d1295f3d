"""The pure array work of local lesion painting: the region to paint around a lesion, the square
window cut around it, the network's input at its own size, and the painting put back.

No random draws here: jitter, flips and noise come in as arguments (the generator draws them
from the run's or the sample's own generator). Lengths in pixels of the image they apply to.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from augkit.transforms.blend import feathered_alpha


def region_alpha(lesion: np.ndarray, margin_px: float, feather_px: float,
                 allowed: np.ndarray | None = None) -> np.ndarray:
    """H×W float32 blend weight of a painting: 1 on ``lesion`` grown by ``margin_px``, falling
    to 0 over ``feather_px`` more; zero outside ``allowed`` (boolean) except on the lesion."""
    lesion = np.asarray(lesion, bool)
    alpha = feathered_alpha(lesion, margin_px, feather_px)
    if allowed is not None:
        alpha = alpha * allowed
    return np.maximum(alpha, lesion.astype(np.float32))


def lesion_components(mask: np.ndarray, min_pixels: int) -> list[np.ndarray]:
    """One boolean H×W map per connected lesion (mask > 0) of at least ``min_pixels`` pixels."""
    labels, num = ndimage.label(np.asarray(mask) > 0)
    if num == 0:
        return []
    sizes = np.bincount(labels.ravel())[1:]
    return [labels == k + 1 for k in range(num) if sizes[k] >= min_pixels]


@dataclass(frozen=True)
class Window:
    """A square ``side``-pixel window with top-left corner (y, x), wholly inside the image."""

    y: int
    x: int
    side: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y, self.y + self.side), slice(self.x, self.x + self.side)


def window_around(region: np.ndarray, *, context: float, min_side: int, shift=(0.0, 0.0),
                  zoom: float = 1.0) -> Window:
    """The window around ``region`` (boolean H×W): side ``context`` × the region's extent (at
    least ``min_side``, at most the image's shorter side) times ``zoom``, centred on the
    region's box moved by ``shift`` × the side, then moved back inside the image. The region
    fits whenever its extent is at most the side (``context`` >= 1 and ``zoom`` >= 1/context)."""
    ys, xs = np.nonzero(region)
    extent = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
    limit = min(region.shape)
    side = int(np.clip(np.ceil(max(context * extent, min_side) * zoom), min(extent, limit), limit))
    cy = (ys.min() + ys.max()) / 2 + shift[0] * side
    cx = (xs.min() + xs.max()) / 2 + shift[1] * side
    y = int(np.clip(round(cy - side / 2), 0, region.shape[0] - side))
    x = int(np.clip(round(cx - side / 2), 0, region.shape[1] - side))
    # a shifted window must still hold the whole region
    y = int(np.clip(y, ys.max() + 1 - side, ys.min()))
    x = int(np.clip(x, xs.max() + 1 - side, xs.min()))
    return Window(y, x, side)


def to_size(a: np.ndarray, size: int) -> np.ndarray:
    """Resize a float array (H×W or H×W×C) to size×size: area average when shrinking, bilinear
    when enlarging."""
    shrinking = a.shape[0] > size
    out = cv2.resize(np.ascontiguousarray(a, np.float32), (size, size),
                     interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return out[..., None] if a.ndim == 3 and out.ndim == 2 else out


def network_input(crop: np.ndarray, region: np.ndarray, lesion: np.ndarray, noise: np.ndarray,
                  size: int) -> tuple[np.ndarray, np.ndarray]:
    """(input, target) at the network size: input = [crop with the region zeroed, region,
    lesion, noise] (C + 3 channels), target = the crop. ``lesion`` is boolean, or float levels
    in (0, 1] per lesion region (BraTS labels), kept at their levels. ``crop`` in [-1, 1]; the region at
    the network size covers every pixel the native region touches (so a painting put back
    covers it)."""
    image = to_size(crop, size)
    r = (to_size(region.astype(np.float32), size) > 0).astype(np.float32)
    m = (to_size((lesion > 0).astype(np.float32), size) >= 0.5).astype(np.float32)
    if lesion.dtype != bool:  # several lesion regions, each at its level: the nearest level
        levels = cv2.resize(np.ascontiguousarray(lesion, np.float32), (size, size), interpolation=cv2.INTER_NEAREST)
        levels = np.where(levels > 0, levels, ndimage.grey_dilation(levels, size=3))
        m = m * levels
    x = np.concatenate([image * (1.0 - r[..., None]), r[..., None], m[..., None], noise[..., None]], axis=-1)
    return x.astype(np.float32), image.astype(np.float32)


def dihedral(arrays: list[np.ndarray], k: int, flip: bool) -> list[np.ndarray]:
    """The same rotation by ``k`` quarter turns (and left-right mirror) of every array."""
    out = [np.rot90(a, k, axes=(0, 1)) for a in arrays]
    return [np.ascontiguousarray(a[:, ::-1] if flip else a) for a in out]


def put_back(recipient: np.ndarray, painted: np.ndarray, alpha: np.ndarray, window: Window,
             value_range: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``recipient`` with ``painted`` (the window's painting, float in the image's units)
    clipped to ``value_range`` per channel and blended in with weight ``alpha`` (H×W of the
    whole image). Pixels where alpha is 0 are copied from ``recipient``, byte for byte."""
    out = np.array(recipient, copy=True)
    ys, xs = window.slices
    a = alpha[ys, xs][..., None]
    inside = a[..., 0] > 0
    mixed = a * np.clip(painted, *value_range) + (1.0 - a) * np.asarray(recipient[ys, xs], np.float32)
    if np.issubdtype(out.dtype, np.integer):
        info = np.iinfo(out.dtype)
        mixed = np.clip(np.rint(mixed), info.min, info.max)
    out[ys, xs][inside] = mixed[inside].astype(out.dtype)
    return out


def foreground_range(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per channel (low, high): the 0.5 / 99.5 percentiles of the image's foreground (channel
    mean above 5 % of the way from the border's median to the 99th percentile), the range a
    painted lesion is clipped to."""
    x = np.asarray(image, np.float32)
    mean = x.mean(axis=-1)
    frame = np.concatenate([mean[:4].ravel(), mean[-4:].ravel(), mean[:, :4].ravel(), mean[:, -4:].ravel()])
    low, high = float(np.median(frame)), float(np.percentile(mean, 99))
    fg = mean > low + 0.05 * (high - low) if high > low else np.ones(mean.shape, bool)
    pixels = x[fg] if fg.any() else x.reshape(-1, x.shape[-1])
    lo, hi = np.percentile(pixels, (0.5, 99.5), axis=0)
    return lo.astype(np.float32), hi.astype(np.float32)
