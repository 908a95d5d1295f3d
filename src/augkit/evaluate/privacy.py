"""Memorisation: is a synthetic image a near-copy of one real training image?

Similarity is the normalised cross-correlation (NCC) of 64×64 thumbnails, each z-scored over
all its pixels and channels: insensitive to brightness and contrast changes, sensitive to
where things are. Each synthetic image is matched with its most similar real image; the
distribution of those similarities is set against the real-vs-real one (each real image's
most similar *other* real image), which shows how alike distinct patients already are.

Near-copy threshold: a fixed NCC of 0.95 (``DEFAULT_NEAR_COPY_THRESHOLD``) by default, not one
derived from the real-vs-real distribution, because
- a privacy check must not loosen when the training set itself holds near-duplicates
  (adjacent slices of one patient reach NCC 0.95-0.98 and would push a derived cut up to
  where a memorised copy passes);
- with ~30 real images the tail of the real-vs-real distribution is too noisy to set a cut.
Measured on the LGG slices (256×256×3): distinct patients peak at 0.86-0.89 (median ≈0.79);
classical variants stay below it (rotation by 15°: max 0.94, shift by 8 px: max 0.93; only
rotations under ~10° reach it); a copy with Gaussian noise σ=30, a blur σ=2 or a brightness /
contrast change stays ≥0.96, ≥0.99 and 1.0. The report also counts synthetic images closer to
a real one than any two real images are (``above_real_max``): the data-derived view, to read
next to the fixed threshold.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from skimage.metrics import structural_similarity

from augkit.evaluate.features import check_samples, intensity_range, ncc_matrix, thumbnails, zscore_flat
from augkit.sample import Sample

DEFAULT_NEAR_COPY_THRESHOLD = 0.95
_CHUNK = 1024  # synthetic rows per NCC block: bounds memory for large synthetic sets


def nearest_real(synth_z: np.ndarray, real_z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the most similar real row and its NCC, for every synthetic row."""
    idx = np.empty(len(synth_z), dtype=np.int64)
    sim = np.empty(len(synth_z), dtype=np.float64)
    for start in range(0, len(synth_z), _CHUNK):
        block = ncc_matrix(synth_z[start:start + _CHUNK], real_z)
        idx[start:start + _CHUNK] = block.argmax(axis=1)
        sim[start:start + _CHUNK] = block.max(axis=1)
    return idx, sim


def real_nn_similarities(real_z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-out: each real row's most similar *other* real row and its NCC."""
    m = ncc_matrix(real_z, real_z)
    np.fill_diagonal(m, -np.inf)
    return m.argmax(axis=1), m.max(axis=1)


def find_near_copies(synthetic: Sequence[Sample], real: Sequence[Sample],
                     threshold: float | None = None) -> list[tuple[str, str, float]]:
    """``(synthetic_id, real_id, ncc)`` for every synthetic sample whose NCC with its most
    similar real sample is ≥ ``threshold`` (default 0.95), in the order of ``synthetic``."""
    threshold = DEFAULT_NEAR_COPY_THRESHOLD if threshold is None else float(threshold)
    if len(synthetic) == 0:
        return []
    check_samples(real, "real")
    check_samples(synthetic, "synthetic")
    idx, sim = nearest_real(zscore_flat(thumbnails(synthetic)), zscore_flat(thumbnails(real)))
    return [(s.id, real[i].id, float(v)) for s, i, v in zip(synthetic, idx, sim) if v >= threshold]


def memorisation(real: Sequence[Sample], synthetic: Sequence[Sample], *,
                 threshold: float | None = None, real_thumbs: np.ndarray | None = None,
                 synth_thumbs: np.ndarray | None = None) -> dict:
    """Per-synthetic nearest real neighbour (NCC and SSIM), the real-vs-real reference and the
    near-copies. Thumbnails may be passed in when the caller already has them."""
    threshold = DEFAULT_NEAR_COPY_THRESHOLD if threshold is None else float(threshold)
    real_thumbs = thumbnails(real) if real_thumbs is None else real_thumbs
    synth_thumbs = thumbnails(synthetic) if synth_thumbs is None else synth_thumbs
    real_z = zscore_flat(real_thumbs)
    idx, sim = nearest_real(zscore_flat(synth_thumbs), real_z)
    rr_idx, rr_sim = real_nn_similarities(real_z) if len(real) > 1 else (np.zeros(0, int), np.zeros(0))

    # SSIM on thumbnails mapped to [0, 1] with the real set's intensity scale.
    lo, hi = intensity_range(real)
    scale = lambda t: np.clip((t - lo) / (hi - lo), 0.0, 1.0)  # noqa: E731
    rs, ss = scale(real_thumbs), scale(synth_thumbs)
    ssim = [float(structural_similarity(ss[k], rs[i], data_range=1.0, channel_axis=-1))
            for k, i in enumerate(idx)]

    rr_max = float(rr_sim.max()) if rr_sim.size else None
    pairs = [{"synthetic_id": s.id, "real_id": real[i].id, "ncc": float(v), "ssim": q,
              "near_copy": bool(v >= threshold)}
             for s, i, v, q in zip(synthetic, idx, sim, ssim)]
    return {
        "threshold": threshold,
        "num_near_copies": int(np.sum(sim >= threshold)),
        "near_copy_fraction": float(np.mean(sim >= threshold)) if len(sim) else 0.0,
        "above_real_max": int(np.sum(sim > rr_max)) if rr_max is not None else None,
        "synthetic_nn_ncc": {"mean": float(sim.mean()), "median": float(np.median(sim)),
                             "max": float(sim.max())},
        "real_nn_ncc": ({"mean": float(rr_sim.mean()), "median": float(np.median(rr_sim)),
                         "max": rr_max} if rr_sim.size else None),
        "pairs": pairs,
        "real_pairs": [{"real_id": real[k].id, "neighbour_id": real[int(j)].id, "ncc": float(v)}
                       for k, (j, v) in enumerate(zip(rr_idx, rr_sim))],
    }
