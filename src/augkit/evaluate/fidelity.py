"""How close the synthetic feature distribution is to the real one, and how varied each set is.

Distances (on standardised features, see ``features.FeatureSpace``):
- Fréchet distance between Gaussian fits (FID's formula on hand-made features).
- KID: the unbiased MMD² with the cubic polynomial kernel, which has no bias from small n.

With ~30 samples a distance alone means little, so each is set against a real-vs-real floor:
the real set is split in two halves many times (seeded) and the halves are compared. The
synthetic set is compared at the *same* sample size (one real half against a random subset of
the synthetic set as big as the other half), because the Fréchet distance grows as n shrinks.
"""

from __future__ import annotations

import numpy as np

from augkit.evaluate.features import ncc_matrix, zscore_flat
from augkit.seeding import rng_for


def frechet_distance(x: np.ndarray, y: np.ndarray) -> float:
    """||mu_x - mu_y||² + Tr(Sx + Sy - 2 (Sx Sy)^½) for the rows of ``x`` and ``y``.

    With n < dims the covariances are singular and a d×d matrix square root is unstable (it
    goes complex, and FID code adds a ridge to survive). Here no square root is taken: with
    Sx = Ax'Ax and Sy = Ay'Ay (centred rows / sqrt(n-1)), Sx Sy has the same non-zero
    eigenvalues as (Ay Ax')(Ay Ax')', so Tr (Sx Sy)^½ is the sum of the singular values of the
    small n_y × n_x matrix Ay Ax' — exact for any rank, real, and cheap. No ridge is needed.
    """
    if len(x) < 2 or len(y) < 2:
        raise ValueError(f"frechet_distance needs at least 2 rows per set. Received: {len(x)}, {len(y)}")
    ax = (x - x.mean(axis=0)) / np.sqrt(len(x) - 1)
    ay = (y - y.mean(axis=0)) / np.sqrt(len(y) - 1)
    tr_cross = float(np.linalg.svd(ay @ ax.T, compute_uv=False).sum())
    value = float(np.sum((x.mean(axis=0) - y.mean(axis=0)) ** 2) + np.sum(ax**2) + np.sum(ay**2)
                  - 2 * tr_cross)
    return max(value, 0.0)


def kid(x: np.ndarray, y: np.ndarray, degree: int = 3, coef0: float = 1.0) -> float:
    """Unbiased MMD² with k(a, b) = (a·b / dims + coef0)^degree (as KID). Can be < 0."""
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError(f"kid needs at least 2 rows per set. Received: {m}, {n}")
    d = x.shape[1]
    kxx = (x @ x.T / d + coef0) ** degree
    kyy = (y @ y.T / d + coef0) ** degree
    kxy = (x @ y.T / d + coef0) ** degree
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                 + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


DISTANCES = {"frechet": frechet_distance, "kid": kid}


def compare_to_floor(real: np.ndarray, synthetic: np.ndarray, *, num_splits: int = 20,
                     seed: int = 0) -> dict[str, dict[str, float]]:
    """For each distance: the full-set value, the matched-size value and the real-vs-real floor.

    Returns ``{name: {"full", "matched", "matched_std", "floor", "floor_std", "excess_sd",
    "ratio"}}``: ``excess_sd`` = (matched - floor) / floor_std, how many split-to-split spreads
    the synthetic set lies beyond real-vs-real (≲2: indistinguishable at this n). ``ratio`` =
    matched / floor, for the Fréchet distance only: its floor is a positive bias baseline,
    while KID is unbiased and its floor is ≈0 by construction, so a ratio would be noise.
    Needs ≥4 real rows for the floor (else the floor entries are None).
    """
    out: dict[str, dict[str, float]] = {}
    n = len(real)
    floors: dict[str, list[float]] = {k: [] for k in DISTANCES}
    matched: dict[str, list[float]] = {k: [] for k in DISTANCES}
    if n >= 4:
        for split in range(num_splits):
            rng = rng_for(seed, split)
            perm = rng.permutation(n)
            a, b = real[perm[: n // 2]], real[perm[n // 2:]]
            size = min(len(b), len(synthetic))
            s = synthetic[rng.choice(len(synthetic), size=size, replace=False)]
            for name, fn in DISTANCES.items():
                floors[name].append(fn(a, b))
                if size >= 2:
                    matched[name].append(fn(a, s))
    for name, fn in DISTANCES.items():
        f, mt = np.array(floors[name]), np.array(matched[name])
        entry = {"full": fn(real, synthetic)}
        entry["matched"] = float(mt.mean()) if mt.size else None
        entry["matched_std"] = float(mt.std()) if mt.size else None
        entry["floor"] = float(f.mean()) if f.size else None
        entry["floor_std"] = float(f.std()) if f.size else None
        both = bool(mt.size and f.size)
        entry["excess_sd"] = ((entry["matched"] - entry["floor"]) / entry["floor_std"]
                              if both and entry["floor_std"] > 0 else None)
        entry["ratio"] = (entry["matched"] / entry["floor"]
                          if both and name == "frechet" and entry["floor"] > 0 else None)
        out[name] = entry
    return out


def mean_pairwise_distance(x: np.ndarray) -> float:
    """Mean Euclidean distance over all distinct pairs of rows (0 for fewer than 2 rows)."""
    if len(x) < 2:
        return 0.0
    sq = np.sum(x**2, axis=1)
    d2 = np.clip(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0, None)
    iu = np.triu_indices(len(x), k=1)
    return float(np.sqrt(d2[iu]).mean())


def mean_pairwise_dissimilarity(thumbs: np.ndarray) -> float:
    """Mean of 1 - NCC over all distinct pairs of thumbnails (0 = all identical)."""
    if len(thumbs) < 2:
        return 0.0
    z = zscore_flat(thumbs)
    iu = np.triu_indices(len(z), k=1)
    return float((1.0 - ncc_matrix(z, z))[iu].mean())


def diversity(real_feats: np.ndarray, synth_feats: np.ndarray, real_thumbs: np.ndarray,
              synth_thumbs: np.ndarray) -> dict[str, float]:
    """Within-set spread of each set in feature and pixel space; ratio synthetic / real
    (≈1: as varied as the real data; →0: mode collapse; ≫1: noisier than real)."""
    out = {}
    for space, r, s in (("feature", mean_pairwise_distance(real_feats), mean_pairwise_distance(synth_feats)),
                        ("pixel", mean_pairwise_dissimilarity(real_thumbs),
                         mean_pairwise_dissimilarity(synth_thumbs))):
        out[f"{space}_real"] = r
        out[f"{space}_synthetic"] = s
        out[f"{space}_ratio"] = s / r if r > 0 else None
    return out
