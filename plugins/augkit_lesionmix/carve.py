"""The pure functions of a lesion transplant: find the brain, carve a donor's lesion, jitter
it, find where it fits in the recipient, match its intensities and blend it in.

No random draws here: every random value comes in as an argument (``augkit_lesionmix.generator``
draws them from the sample's own generator).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from scipy import ndimage, signal

from augkit.transforms.anatomy import EXACT_IN_FLOAT32, percentile_of_counts
from augkit.transforms.blend import feathered_alpha, poisson_blend


@dataclass(frozen=True)
class BrainStats:
    """Per-channel intensity of a slice's brain: mean, std and the 0.5 / 99.5 percentiles."""

    mean: np.ndarray
    std: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def of(cls, image: np.ndarray, brain: np.ndarray) -> "BrainStats":
        image = np.asarray(image)
        # image[brain], picked first and converted after (the same values); compress on the
        # pixel rows is ~4× faster than a boolean index over the leading axes
        pixels = np.compress(np.asarray(brain).ravel(), image.reshape(-1, image.shape[-1]), axis=0)
        if len(pixels) == 0:
            pixels = np.asarray(image).reshape(-1, image.shape[-1])
        if pixels.shape[1] < 2:
            pixels = pixels.astype(np.float32)
            low, high = np.percentile(pixels, (0.5, 99.5), axis=0)
            return cls(pixels.mean(0), np.maximum(pixels.std(0), 1e-3), low, high)
        # The same numbers as pixels.mean(0), .std(0) and np.percentile(axis=0), ~3× faster on
        # channel rows: numpy sums an N×C (C >= 2) array down axis 0 row after row in float32,
        # which a cumulative sum along each contiguous channel row repeats exactly.
        rows = np.ascontiguousarray(pixels.T, dtype=np.float32)
        if pixels.dtype == np.uint8:  # the percentiles from each channel's histogram
            levels = np.arange(256, dtype=np.float32)
            low, high = np.stack([percentile_of_counts(np.bincount(pixels[:, c], minlength=256), levels,
                                                       (0.5, 99.5)) for c in range(pixels.shape[1])], axis=1)
        else:
            low, high = np.percentile(rows, (0.5, 99.5), axis=1)
        mean = _row_sum(rows)
        mean /= np.intp(rows.shape[1])
        spread = rows - mean[:, None]
        spread *= spread
        var = _row_sum(spread)
        var /= np.intp(rows.shape[1])
        return cls(mean, np.maximum(np.sqrt(var), 1e-3), low, high)

    def to_array(self) -> np.ndarray:
        return np.stack([self.mean, self.std, self.low, self.high]).astype(np.float32)

    @classmethod
    def from_array(cls, a: np.ndarray) -> "BrainStats":
        return cls(*(np.asarray(r, np.float32) for r in a))


def _row_sum(rows: np.ndarray) -> np.ndarray:
    """The sum along each row in strict left-to-right float32 order (``rows.T.sum(0)``'s order)."""
    return np.cumsum(rows, axis=1)[:, -1]


@dataclass(frozen=True)
class Carved:
    """A donor's lesion with room around it: a crop centred on the lesion, square in-plane and
    big enough for any rotation of the lesion (about the axial axis in 3D) grown by the widest
    margin. ``origin`` is the crop's first corner in the donor (it may lie outside: the crop is
    zero-padded there)."""

    donor_id: str
    image: np.ndarray  # s×s×C (3D: s×s×d×C) float32
    labels: np.ndarray  # s×s (s×s×d), the donor's mask dtype; non-zero only on the donor's lesion
    brain: np.ndarray  # s×s (s×s×d) uint8 (1 = the donor's brain)
    stats: BrainStats  # of the whole donor brain
    origin: tuple[int, ...]


def carve(donor_id: str, image: np.ndarray, mask: np.ndarray, brain: np.ndarray, room: float,
          stretch: float = 1.0) -> Carved | None:
    """Cut the lesion (mask > 0) of a donor slice (or case: ``mask`` X×Y×Z) with ``room``
    pixels around it once it is scaled by up to ``stretch``; None when there is no lesion.
    ``brain``: the donor's brain (boolean), where carved tissue may come from."""
    lesion = np.asarray(mask) > 0
    if not lesion.any():
        return None
    brain = brain | lesion
    where = np.nonzero(lesion)
    low, high = [int(a.min()) for a in where], [int(a.max()) for a in where]
    centre = [(lo + hi) // 2 for lo, hi in zip(low, high)]
    grow = max(stretch, 1.0)
    half_diag = 0.5 * np.hypot(high[0] - low[0] + 1, high[1] - low[1] + 1)  # in-plane rotation
    halves = [int(np.ceil(half_diag * grow + room)) + 1] * 2 + \
        [int(np.ceil(0.5 * (hi - lo + 1) * grow + room)) + 1 for lo, hi in zip(low[2:], high[2:])]
    origin = tuple(int(c - h) for c, h in zip(centre, halves))
    sizes = [2 * h + 1 for h in halves]

    def crop(a: np.ndarray) -> np.ndarray:  # zero outside ``a``; no padded copy of a whole case
        out = np.zeros(tuple(sizes) + a.shape[len(sizes):], a.dtype)
        lows = [min(max(o, 0), N) for o, N in zip(origin, a.shape)]
        highs = [max(min(o + n, N), lo) for o, n, N, lo in zip(origin, sizes, a.shape, lows)]
        out[tuple(slice(lo - o, hi - o) for lo, hi, o in zip(lows, highs, origin))] = \
            a[tuple(slice(lo, hi) for lo, hi in zip(lows, highs))]
        return out

    labels = np.where(lesion, mask, 0).astype(np.asarray(mask).dtype)
    return Carved(donor_id, crop(np.asarray(image)).astype(np.float32), crop(labels),
                  crop(brain.astype(np.uint8)), BrainStats.of(image, brain), origin)


def _source_in_plane(xx: np.ndarray, yy: np.ndarray, c: float, rotation: float, scale: float,
                     flip: bool) -> tuple[np.ndarray, np.ndarray]:
    """Output pixel -> source pixel in the axial plane: the inverse rotation (degrees) and scale
    about the centre ``c``, then the mirror."""
    t = np.deg2rad(rotation)
    u, v = (xx - c) / scale, (yy - c) / scale
    sx = np.cos(t) * u + np.sin(t) * v
    sy = -np.sin(t) * u + np.cos(t) * v
    return (-sx if flip else sx), sy


def warp(carved: Carved, *, rotation: float, scale: float, flip: bool, elastic: np.ndarray | None
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The carved crop rotated (degrees), scaled and mirrored about its centre, plus an optional
    2×s×s displacement field (pixels): image (linear), labels and brain (nearest)."""
    s = carved.labels.shape[0]
    c = (s - 1) / 2.0
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    sx, sy = _source_in_plane(xx, yy, c, rotation, scale, flip)
    map_x, map_y = (sx + c).astype(np.float32), (sy + c).astype(np.float32)
    if elastic is not None:
        map_x += elastic[0]
        map_y += elastic[1]

    def remap(a: np.ndarray, nearest: bool) -> np.ndarray:
        flag = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
        if a.ndim == 3 and a.shape[-1] > 4:  # cv2.remap takes up to 4 channels
            return np.stack([remap(a[..., k], nearest) for k in range(a.shape[-1])], axis=-1)
        out = cv2.remap(a, map_x, map_y, flag, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return out[..., None] if a.ndim == 3 and out.ndim == 2 else out

    labels = remap(carved.labels.astype(np.float32), True).round().astype(carved.labels.dtype)
    return remap(carved.image, False), labels, remap(carved.brain, True)


def warp_volume(carved: Carved, *, rotation: float, scale: float, flip: bool
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 3D counterpart of ``warp`` (no elastic field): the carved s×s×d crop rotated
    (degrees) about the axial axis, scaled isotropically and mirrored in-plane about its centre;
    image linear per channel, labels and brain nearest, so no new label value."""
    s, _, d = carved.labels.shape
    c, cz = (s - 1) / 2.0, (d - 1) / 2.0
    yy, xx, zz = np.mgrid[0:s, 0:s, 0:d].astype(np.float32)
    sx, sy = _source_in_plane(xx, yy, c, rotation, scale, flip)
    coords = np.stack([sy + c, sx + c, (zz - cz) / scale + cz])

    def resample(a: np.ndarray, order: int) -> np.ndarray:
        return ndimage.map_coordinates(a, coords, order=order, mode="constant", cval=0.0)

    image = np.stack([resample(carved.image[..., k], 1) for k in range(carved.image.shape[-1])], axis=-1)
    labels = resample(carved.labels.astype(np.float32), 0).round().astype(carved.labels.dtype)
    return image.astype(np.float32), labels, resample(carved.brain, 0)


def elastic_field(noise: np.ndarray, *, amplitude: float, sigma: float) -> np.ndarray:
    """A smooth 2×s×s displacement field from uniform noise in [-1, 1] (Simard et al. 2003),
    scaled so its largest displacement is ``amplitude`` pixels."""
    field = np.stack([ndimage.gaussian_filter(n, sigma, mode="constant") for n in noise])
    top = float(np.abs(field).max())
    return (field * (amplitude / top if top > 0 else 0.0)).astype(np.float32)


def support_of(labels: np.ndarray, brain: np.ndarray, margin: float, feather: float
               ) -> tuple[np.ndarray, tuple[slice, slice]]:
    """The blend weight of a warped lesion (1 on the lesion grown by ``margin`` pixels, fading
    over ``feather`` more, only where the donor had brain; always 1 on the lesion itself),
    trimmed to an odd-sized window around its non-zero part, and that window."""
    lesion = labels > 0
    weight = feathered_alpha(lesion, margin, feather) if lesion.ndim == 2 else \
        _feathered_alpha_nd(lesion, margin, feather)
    alpha = np.maximum(weight * (brain > 0), lesion)
    window = []
    for where in np.nonzero(alpha > 0):
        half = max(where.max() - where.min(), 0) // 2 + 1
        mid = (where.min() + where.max()) // 2
        window.append(slice(mid - half, mid + half + 1))
    return alpha, tuple(window)


def _feathered_alpha_nd(inside: np.ndarray, margin_px: float, feather_px: float) -> np.ndarray:
    """``augkit.transforms.blend.feathered_alpha`` in any dimension (exact Euclidean distance)."""
    distance = ndimage.distance_transform_edt(~inside)
    ramp = max(float(feather_px), 1.0)
    return np.clip(1.0 - (distance - float(margin_px)) / ramp, 0.0, 1.0).astype(np.float32)


def valid_centres(support: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Boolean H×W (or X×Y×Z): the centres at which the odd-sized boolean ``support`` lies
    wholly on ``allowed`` pixels (and wholly inside the image)."""
    ok = np.zeros(allowed.shape, bool)
    if any(n > N for n, N in zip(support.shape, allowed.shape)) or not support.any():
        return ok
    # Only a window whose support pixels all lie in allowed's bounding box can fit, so the FFT
    # runs on that box grown by the support's empty rim (clipped to the image): the same map,
    # on a third less area for a brain inside a head.
    crop = []
    for axis, (n, N) in enumerate(zip(support.shape, allowed.shape)):
        others = tuple(a for a in range(allowed.ndim) if a != axis)
        on = np.flatnonzero(allowed.any(axis=others))
        used = np.flatnonzero(support.any(axis=tuple(a for a in range(support.ndim) if a != axis)))
        if len(on) == 0:
            return ok
        crop.append(slice(max(int(on[0]) - int(used[0]), 0), min(int(on[-1]) + n - int(used[-1]), N)))
    crop = tuple(crop)
    ok[crop] = _valid_centres_full(support, allowed[crop])
    return ok


def _valid_centres_full(support: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    ok = np.zeros(allowed.shape, bool)
    if any(n > N for n, N in zip(support.shape, allowed.shape)):
        return ok
    flipped = support[(slice(None, None, -1),) * support.ndim]
    bad = signal.fftconvolve((~allowed).astype(np.float32), flipped.astype(np.float32), mode="same")
    inner = tuple(slice(n // 2, N - n // 2) for n, N in zip(support.shape, allowed.shape))
    ok[inner] = bad[inner] < 0.5
    return ok


def fits(support: np.ndarray, allowed: np.ndarray, centre: tuple[int, int]) -> bool:
    """Exact check of one placement (the FFT map above is a float computation)."""
    box = _box(support.shape, centre)
    if any(b.start < 0 or b.stop > N for b, N in zip(box, allowed.shape)):
        return False
    return bool(allowed[box][support].all())


def _box(shape: tuple[int, ...], centre: tuple[int, ...]) -> tuple[slice, ...]:
    """The window of an odd-sized ``shape`` centred on ``centre``."""
    return tuple(slice(c - n // 2, c - n // 2 + n) for n, c in zip(shape, centre))


def match_intensity(patch: np.ndarray, donor: BrainStats, recipient: BrainStats, *,
                    gain: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Per channel: the donor brain's mean/std mapped onto the recipient brain's, the lesion's
    contrast scaled by ``gain`` and shifted by ``offset`` × the recipient's std, then clipped to
    the recipient brain's 0.5–99.5 percentile range."""
    z = (patch - donor.mean) / donor.std
    out = (z * gain) * recipient.std + recipient.mean + offset * recipient.std
    return np.clip(out, recipient.low, recipient.high).astype(np.float32)


def paste(recipient: np.ndarray, patch: np.ndarray, alpha: np.ndarray, centre: tuple[int, int],
          mode: str, value_range: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """``patch`` (h×w×C, float32) blended into a float32 copy of ``recipient`` at ``centre``
    with weight ``alpha`` (h×w); ``mode`` "poisson" first makes the patch meet the recipient
    seamlessly (its gradients kept; clipped to ``value_range`` per channel when given), then
    composites it with the same soft weight."""
    out = np.asarray(recipient, np.float32).copy()
    box = _box(alpha.shape, centre)
    window = out[box]
    if mode == "poisson":  # 2D only (lesionmix refuses it on volumes)
        h, w = alpha.shape
        y0, x0 = centre[0] - h // 2, centre[1] - w // 2
        # Solve over the window plus a one-pixel ring (clipped to the image): the ring is the
        # recipient (the boundary values); the guidance is the patch's own gradient, the patch
        # continued into the ring by edge replication, so its jump to the recipient is not kept.
        H, W = out.shape[:2]
        top, left = max(y0 - 1, 0), max(x0 - 1, 0)
        bottom, right = min(y0 + h + 1, H), min(x0 + w + 1, W)
        inner = (slice(top - y0 + 1, bottom - y0 + 1), slice(left - x0 + 1, right - x0 + 1))
        source = np.pad(patch, ((1, 1), (1, 1), (0, 0)), mode="edge")[inner]
        region = np.pad(alpha > 0, 1)[inner]
        solved = poisson_blend(out[top:bottom, left:right], source, region)
        patch = solved[y0 - top:y0 - top + h, x0 - left:x0 - left + w]
        if value_range is not None:
            patch = np.clip(patch, *value_range)
    a = alpha[..., None]
    out[box] = a * patch + (1.0 - a) * window
    return out


def to_dtype(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float pixels back to the recipient's dtype (rounded and clipped for integers)."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(x), info.min, info.max).astype(dtype)
    return x.astype(dtype)


def place_and_paste(rng: np.random.Generator, donor, moved: np.ndarray, labels: np.ndarray,
                     donor_brain: np.ndarray, draw: dict[str, Any], allowed: np.ndarray,
                     image: np.ndarray, mask: np.ndarray, stats, blend: str, value_range
                     ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]] | None:
    """One try at putting a warped donor lesion (slice or case alike) into the recipient: its
    feathered window, a centre where all of it lies in ``allowed``, intensities matched, the
    blend, and the recipient's mask joined with the donor's labels. None when nothing fits."""
    if not (labels > 0).any():
        return None
    alpha, window = support_of(labels, donor_brain, draw["margin_px"], draw["feather_px"])
    alpha, moved, labels = alpha[window], moved[window], labels[window]
    support = alpha > 0
    flat = np.flatnonzero(valid_centres(support, allowed))  # np.argwhere's order, unravelled for 8 only
    picked = flat[rng.permutation(len(flat))[:8]] if len(flat) else flat
    candidates = np.stack(np.unravel_index(picked, allowed.shape), axis=-1)
    centre = next((tuple(int(v) for v in c) for c in candidates if fits(support, allowed, tuple(c))), None)
    if centre is None:
        return None
    patch = match_intensity(moved, donor.stats, stats, gain=draw["gain"], offset=draw["offset"])
    if image.dtype in EXACT_IN_FLOAT32:
        # Only the window (and the one-pixel ring Poisson reads) changes, and these dtypes come
        # back from float32 unchanged: blend a crop, not a float copy of the whole image.
        near = tuple(slice(max(c - n // 2 - 1, 0), c - n // 2 + n + 1) for c, n in zip(centre, alpha.shape))
        inner = tuple(c - b.start for c, b in zip(centre, near))
        out = image.copy()
        out[near] = to_dtype(paste(image[near], patch, alpha, inner, blend, value_range), image.dtype)
    else:
        out = to_dtype(paste(image, patch, alpha, centre, blend, value_range), image.dtype)
    new_mask = mask.copy()
    region = new_mask[tuple(slice(c - n // 2, c - n // 2 + n) for c, n in zip(centre, labels.shape))]
    region[labels > 0] = labels[labels > 0].astype(mask.dtype)
    where = np.nonzero(donor.labels)
    return out, new_mask, {
        "donor_id": donor.donor_id,
        "donor_centre": [int(o + w.mean()) for o, w in zip(donor.origin, where)],
        "centre": list(centre), "lesion_size": int((labels > 0).sum()),
        "rotation": round(draw["rotation"], 2), "scale": round(draw["scale"], 4), "flip": draw["flip"],
        "margin_px": round(draw["margin_px"], 2), "feather_px": round(draw["feather_px"], 2),
        "gain": [round(float(g), 4) for g in draw["gain"]],
        "offset": [round(float(o), 4) for o in draw["offset"]],
    }
