"""Hand-made image features (no downloadable network): intensity, texture and edge statistics
per channel, inside and outside the mask for segmentation data, standardised on the real set.

Also the thumbnail space (small, per-image z-scored images) in which normalised
cross-correlation (NCC) measures pixel similarity for diversity and memorisation checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.feature import graycomatrix, graycoprops, local_binary_pattern

from augkit.errors import UsageError
from augkit.sample import Sample
from augkit.transforms.intensity import resize_image, resize_labels

QUANTILES = (5, 25, 50, 75, 95)
GLCM_PROPS = ("contrast", "homogeneity", "energy", "correlation")
GLCM_DISTANCES = (1, 3)
GLCM_ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)
GLCM_LEVELS = 16
LBP_POINTS = 8
# A region smaller than this has no meaningful texture; its features are missing (NaN).
MIN_REGION_PIXELS = 16


def check_samples(samples: Sequence[Sample], what: str) -> int:
    """Number of channels shared by all ``samples``; a clear error when empty or mixed."""
    if len(samples) == 0:
        raise UsageError(f"the {what} set is empty; give at least 2 samples to evaluate")
    for s in samples:
        if s.image.dtype.kind == "f" and not np.isfinite(s.image).all():
            raise UsageError(f"{what} sample {s.id!r} has NaN or infinite pixel values; "
                             "check the generator output or the file it was read from")
    channels = {s.image.shape[-1] for s in samples}
    if len(channels) != 1:
        raise UsageError(f"the {what} set mixes images with {sorted(channels)} channels; "
                         "all images must have the same number of channels")
    return channels.pop()


def intensity_range(samples: Sequence[Sample], lower: float = 0.5, upper: float = 99.5):
    """Per-channel (low, high) percentiles of all pixels: the common scale both sets map into."""
    num_channels = samples[0].image.shape[-1]
    pixels = np.concatenate([s.image.reshape(-1, num_channels)[::7].astype(np.float64)
                             for s in samples])  # a stride keeps this cheap on large sets
    lo = np.percentile(pixels, lower, axis=0)
    hi = np.percentile(pixels, upper, axis=0)
    hi = np.where(hi > lo, hi, lo + 1.0)
    return lo, hi


def _skew(v: np.ndarray) -> float:
    std = v.std()
    return 0.0 if std < 1e-12 else float(np.mean((v - v.mean()) ** 3) / std**3)


def _region_features(channel: np.ndarray, codes: np.ndarray, lbp: np.ndarray,
                     grad: np.ndarray, region: np.ndarray) -> list[float]:
    """29 numbers for one channel (scaled to [0, 1]) restricted to ``region``."""
    n = 5 + 3 + 2 * len(GLCM_PROPS) + (LBP_POINTS + 2) + 3
    if region.sum() < MIN_REGION_PIXELS:
        return [np.nan] * n
    vals = channel[region]
    out = list(np.percentile(vals, QUANTILES)) + [vals.mean(), vals.std(), _skew(vals)]
    # GLCM restricted to the region: level 0 marks "outside" and is dropped before the props.
    coded = np.where(region, codes + 1, 0).astype(np.uint8)
    glcm = graycomatrix(coded, GLCM_DISTANCES, GLCM_ANGLES, levels=GLCM_LEVELS + 1)[1:, 1:]
    if glcm.sum(axis=(0, 1)).min() == 0:
        out += [np.nan] * (2 * len(GLCM_PROPS))
    else:
        for prop in GLCM_PROPS:
            out += list(graycoprops(glcm, prop).mean(axis=1))  # average over angles
    hist = np.bincount(lbp[region].astype(np.int64), minlength=LBP_POINTS + 2)
    out += list(hist / hist.sum())
    g = grad[region]
    out += [g.mean(), g.std(), np.percentile(g, 90)]
    return [float(v) for v in out]


def _feature_names(num_channels: int, regions: Sequence[str], use_masks: bool) -> list[str]:
    block = ([f"q{q}" for q in QUANTILES] + ["mean", "std", "skew"]
             + [f"glcm_{p}_d{d}" for p in GLCM_PROPS for d in GLCM_DISTANCES]
             + [f"lbp_{i}" for i in range(LBP_POINTS + 2)] + ["grad_mean", "grad_std", "grad_q90"])
    names = [f"{r}/c{c}/{b}" for r in regions for c in range(num_channels) for b in block]
    return names + (["mask_fraction"] if use_masks else [])


@dataclass
class FeatureSpace:
    """Feature extraction fitted on the real set: its size, intensity scale and statistics.

    Images are resized to ``shape`` (the first real image's, long side capped) so that texture
    is measured at one scale for both sets. Features missing for a sample (an empty mask has no
    inside) are imputed with the real mean, i.e. 0 after standardisation.
    """

    shape: tuple[int, int]
    lo: np.ndarray
    hi: np.ndarray
    use_masks: bool
    names: list[str]
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    @classmethod
    def fit(cls, real: Sequence[Sample], *, use_masks: bool = True, max_side: int = 128):
        """``use_masks``: split features inside/outside the mask when every real sample has one."""
        num_channels = check_samples(real, "real")
        h, w = real[0].image.shape[:2]
        factor = min(1.0, max_side / max(h, w))
        shape = (max(8, round(h * factor)), max(8, round(w * factor)))
        use_masks = use_masks and all(s.mask is not None for s in real)
        regions = ("inside", "outside") if use_masks else ("image",)
        lo, hi = intensity_range(real)
        space = cls(shape, lo, hi, use_masks, _feature_names(num_channels, regions, use_masks))
        raw = space.raw(real)
        counts = np.sum(~np.isnan(raw), axis=0)
        filled = np.where(np.isnan(raw), 0.0, raw)
        mean = np.where(counts > 0, filled.sum(axis=0) / np.maximum(counts, 1), 0.0)
        dev = np.where(np.isnan(raw), 0.0, raw - mean)
        std = np.sqrt((dev**2).sum(axis=0) / np.maximum(counts, 1))
        # A feature constant on the real set keeps its raw units instead of dividing by ~0.
        space.mean, space.std = mean, np.where(std > 1e-8, std, 1.0)
        return space

    def raw(self, samples: Sequence[Sample]) -> np.ndarray:
        """N × F unstandardised features (NaN where missing)."""
        return np.array([self._one(s) for s in samples], dtype=np.float64)

    def transform(self, samples: Sequence[Sample]) -> np.ndarray:
        """N × F standardised features with missing values imputed (0 = real mean)."""
        if check_samples(samples, "evaluated") != len(self.lo):
            raise UsageError(f"images have {samples[0].image.shape[-1]} channels but the real set "
                             f"has {len(self.lo)}; evaluate images of the same kind")
        z = (self.raw(samples) - self.mean) / self.std
        return np.where(np.isnan(z), 0.0, z)

    def _one(self, sample: Sample) -> list[float]:
        image = resize_image(sample.image.astype(np.float32, copy=False), self.shape)
        scaled = np.clip((image - self.lo) / (self.hi - self.lo), 0.0, 1.0)
        if self.use_masks:
            fg = (resize_labels(sample.mask > 0, self.shape) if sample.mask is not None
                  else np.zeros(self.shape, bool))
            regions = (fg, ~fg)
        else:
            regions = (np.ones(self.shape, bool),)
        out: list[float] = []
        per_channel = []
        for c in range(scaled.shape[-1]):
            ch = scaled[..., c]
            codes = np.minimum((ch * GLCM_LEVELS).astype(np.uint8), GLCM_LEVELS - 1)
            # LBP on 8-bit integers: skimage warns (rightly) on float input.
            lbp = local_binary_pattern((ch * 255).astype(np.uint8), LBP_POINTS, 1, "uniform")
            grad = np.hypot(ndimage.sobel(ch, 0), ndimage.sobel(ch, 1))
            per_channel.append((ch, codes, lbp, grad))
        for region in regions:
            for ch, codes, lbp, grad in per_channel:
                out += _region_features(ch, codes, lbp, grad, region)
        if self.use_masks:
            out.append(float(regions[0].mean()))
        return out


# ---- thumbnail space -------------------------------------------------------------------------

THUMB_SIDE = 64


def thumbnails(samples: Sequence[Sample], side: int = THUMB_SIDE) -> np.ndarray:
    """N × side × side × C float32 images in their own units (aspect ratio not kept)."""
    return np.stack([resize_image(s.image.astype(np.float32, copy=False), (side, side)) for s in samples])


def zscore_flat(thumbs: np.ndarray) -> np.ndarray:
    """Each thumbnail flattened and z-scored over all its pixels and channels, divided by
    sqrt(D) so that a dot product is the NCC. A constant image becomes all zeros (NCC 0)."""
    flat = thumbs.reshape(len(thumbs), -1).astype(np.float64)
    flat = flat - flat.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(flat, axis=1, keepdims=True)
    return np.divide(flat, norm, out=np.zeros_like(flat), where=norm > 1e-12)


def ncc_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation between every row of ``a`` and of ``b`` (from zscore_flat)."""
    return np.clip(a @ b.T, -1.0, 1.0)
