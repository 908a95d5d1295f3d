"""The richer pix2pix condition (``label_map="tissue"``): a label map built from a real slice
rather than the lesion mask alone. Label→image synthesis of brain MRI worked once the map named
the brain and its tissues, not only the lesion (Shin et al. 2018; Platscher et al. 2020); with
the lesion mask alone the cpu profile paints an "average brain".

Classes, in one-hot order: 0 outside the head, 1..k tissue classes (darkest first), then one per
non-background lesion label. The tissue classes are k-means centres of the training brains'
intensities (all channels, in the model's [-1, 1] scale), fitted once in ``fit`` and saved with
the model, so the same intensities get the same class in every slice.
"""

from __future__ import annotations

import numpy as np

from augkit.transforms.anatomy import foreground_mask
from augkit.seeding import rng_for

_KMEANS_STREAM = 0x715
MAX_KMEANS_PIXELS = 200_000  # a seeded subsample: 30 LGG slices hold ~1.2 M brain pixels
KMEANS_ITERATIONS = 50


def fit_tissue_centres(unit_images: list[np.ndarray], masks: list[np.ndarray], background: int,
                       k: int, seed: int) -> tuple[tuple[float, ...], ...]:
    """k centres (k×C), sorted by mean intensity, of the head pixels outside the lesion."""
    pixels = np.concatenate([
        img[foreground_mask(img) & (mask == background)] for img, mask in zip(unit_images, masks)])
    if len(pixels) < k:
        raise ValueError(f"only {len(pixels)} head pixels outside the lesions for {k} tissue classes")
    rng = rng_for(seed, _KMEANS_STREAM)
    if len(pixels) > MAX_KMEANS_PIXELS:
        pixels = pixels[np.sort(rng.choice(len(pixels), MAX_KMEANS_PIXELS, replace=False))]
    pixels = pixels.astype(np.float64)
    # Start from quantiles of the channel mean: deterministic, and already ordered dark → bright.
    order = np.argsort(pixels.mean(axis=1), kind="stable")
    centres = pixels[order[((np.arange(k) + 0.5) * len(pixels) / k).astype(int)]]
    for _ in range(KMEANS_ITERATIONS):
        nearest = _nearest(pixels, centres)
        moved = np.stack([pixels[nearest == j].mean(axis=0) if (nearest == j).any() else centres[j]
                          for j in range(k)])
        if np.allclose(moved, centres, atol=1e-6):
            break
        centres = moved
    centres = centres[np.argsort(centres.mean(axis=1), kind="stable")]
    return tuple(tuple(round(float(v), 6) for v in c) for c in centres)


def tissue_label_map(unit_image: np.ndarray, mask: np.ndarray, centres: np.ndarray,
                     label_values: tuple[int, ...]) -> np.ndarray:
    """H×W class indices: 0 outside the head, 1..k the nearest tissue centre, k+1.. the lesion
    labels (``label_values[1:]``, which win over tissue)."""
    head = foreground_mask(unit_image)
    out = np.zeros(mask.shape[:2], np.int64)
    out[head] = 1 + _nearest(unit_image[head].astype(np.float64), centres)
    k = len(centres)
    for j, value in enumerate(label_values[1:]):
        out[mask == value] = k + 1 + j
    return out


def _nearest(pixels: np.ndarray, centres: np.ndarray) -> np.ndarray:
    distance = ((pixels[:, None, :] - np.asarray(centres, np.float64)[None]) ** 2).sum(axis=-1)
    return distance.argmin(axis=1)
