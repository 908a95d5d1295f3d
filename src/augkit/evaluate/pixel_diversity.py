"""Mode collapse and copying in a small set of generated images, on raw pixels: how varied the
set is (mean pairwise RMS difference and 1 - NCC, the share of near-duplicate pairs) against the
same number of real images, how close each generated image is to its nearest real one, and for
a class-conditional generator how much the class changes an image made from the same noise.
The images are one generator's output at one size, so no features or thumbnails are needed
(``augkit.evaluate.fidelity`` and ``privacy`` compare sets of any size through them)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from augkit.evaluate.features import ncc_matrix, zscore_flat

#: 1 - NCC below which two images count as near-duplicates
NEAR_DUPLICATE = 0.02


def _flat(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float64) / 255.0


def pairwise_l2(images: np.ndarray) -> np.ndarray:
    """RMS difference per pixel between every two uint8 images, in [0, 1] units."""
    x = _flat(images)
    sq = (x ** 2).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    return np.sqrt(d2 / x.shape[1])


def ncc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation between every image of ``a`` and of ``b``."""
    return ncc_matrix(zscore_flat(a), zscore_flat(b))


def upper(m: np.ndarray) -> np.ndarray:
    """The distinct pairs of a square pairwise matrix."""
    return m[np.triu_indices(len(m), k=1)]


def diversity(images: np.ndarray) -> dict[str, float]:
    """Mean pairwise RMS difference and 1 - NCC, and the share of near-duplicate pairs."""
    dissimilarity = upper(1.0 - ncc(images, images))
    return {"mean_pairwise_l2": float(upper(pairwise_l2(images)).mean()),
            "mean_pairwise_1_minus_ncc": float(dissimilarity.mean()),
            "near_duplicate_pair_share": float((dissimilarity < NEAR_DUPLICATE).mean())}


def total_variation(images: np.ndarray) -> float:
    """Mean absolute difference of neighbouring pixels (down plus across), in [0, 1] units:
    noisy images score high, smeared ones low."""
    x = images.astype(np.float64) / 255.0
    return float(np.abs(np.diff(x, axis=1)).mean() + np.abs(np.diff(x, axis=2)).mean())


def pixel_measures(fakes: np.ndarray, shown_reals: np.ndarray, all_reals: np.ndarray) -> dict:
    """The generated images against as many real ones (``shown_reals``, drawn from
    ``all_reals``): diversity, nearest-real distance (each real one's nearest *other* real one as
    the reference), total variation and mean intensity."""
    nearest = 1.0 - ncc(fakes, all_reals).max(axis=1)
    real_nearest = 1.0 - np.sort(ncc(shown_reals, all_reals), axis=1)[:, -2]  # skip itself
    return {
        "generated": diversity(fakes),
        "real": diversity(shown_reals),
        "nearest_real_1_minus_ncc": {"generated_median": float(np.median(nearest)),
                                     "generated_min": float(nearest.min()),
                                     "real_to_other_real_median": float(np.median(real_nearest))},
        "total_variation": {"generated": total_variation(fakes), "real": total_variation(shown_reals)},
        "mean_intensity": {"generated": float(fakes.mean()), "real": float(shown_reals.mean())},
    }


def label_effect(by_class: Mapping[str, np.ndarray]) -> dict | None:
    """How much the class changes an image: the first two classes' images (in [0, 1], made from
    the same noise vectors in the same order) against the change from one noise vector to
    another within a class. None for fewer than two classes."""
    if len(by_class) < 2:
        return None
    first, second = list(by_class.values())[:2]
    same_noise = float(np.abs(first - second).mean())
    other_noise = float(np.abs(first - np.roll(first, 1, axis=0)).mean())
    return {"classes": [str(c) for c in list(by_class)[:2]], "num_noise_vectors": len(first),
            "mean_abs_pixel_change_same_noise_other_class": round(same_noise, 5),
            "mean_abs_pixel_change_other_noise_same_class": round(other_noise, 5)}
