"""Classification data and figures: class-folder splits as arrays (refusing splits a classifier
cannot be judged on), AUC / accuracy, intervals over seeds and over test images, and class
fidelity of generated samples (does a classifier trained on real images name their class?).

The classifier itself is in ``augkit.evaluate.classifier``; this module needs no Keras.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from augkit.expand.balance import label_order
from augkit.errors import DataError
from augkit.transforms.intensity import resize_image
from augkit.sample import Sample
from augkit.seeding import rng_for


def check_class_splits(splits: Mapping[str, tuple[Sequence[Sample], Path | str | None]],
                       *, train: str = "train") -> tuple[Any, ...]:
    """The classes of the ``train`` split, after checking every split: each sample labelled,
    ``train`` with two or more classes, and every other split (val, test) holding every class
    of ``train`` and no other. ``splits``: name → (samples, folder for the message).

    A split without some class cannot select or judge a classifier on that class (AUC is not
    even defined), so it is refused in one line naming the folder, not reported as a number.
    """
    samples, where = splits[train]
    classes = _labels(samples, where, train)
    if len(classes) < 2:
        raise DataError(where, f"the {train} split holds one class ({_show(classes)}); a "
                        "classifier needs two or more", "add a class folder with images")
    for name, (other, folder) in splits.items():
        if name == train:
            continue
        found = _labels(other, folder, name)
        missing = [c for c in classes if c not in found]
        if missing:
            raise DataError(folder, f"the {name} split has no image of class {_show(missing)} "
                            f"(the {train} split has {_show(classes)})",
                            f"add images of that class to the {name} folder")
        extra = [c for c in found if c not in classes]
        if extra:
            raise DataError(folder, f"the {name} split has class {_show(extra)}, which the {train} "
                            f"split lacks (it has {_show(classes)})",
                            f"remove it from {name} or add it to {train}")
    return classes


def _labels(samples: Sequence[Sample], where, name: str) -> tuple[Any, ...]:
    if not samples:
        raise DataError(where, f"the {name} split holds no images", "give a folder of class "
                        "sub-folders with images")
    unlabelled = [s.id for s in samples if s.label is None]
    if unlabelled:
        raise DataError(where, f"{len(unlabelled)} image(s) of the {name} split have no class "
                        f"(e.g. {unlabelled[0]!r})", "put every image in a class sub-folder")
    return tuple(sorted({s.label for s in samples}, key=label_order))


def _show(values: Sequence[Any]) -> str:
    return ", ".join(repr(v) for v in values)


def class_arrays(samples: Sequence[Sample], classes: Sequence[Any], *,
                 size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images as float32 in [0, 1], N×H×W×C; class indices into ``classes``). Integer images
    are divided by their dtype's maximum; ``size`` resizes. Labels outside ``classes`` are an
    error (``check_class_splits`` first)."""
    index = {c: k for k, c in enumerate(classes)}
    images = []
    for s in samples:
        x = s.image
        x = x.astype(np.float32) / np.iinfo(x.dtype).max if np.issubdtype(x.dtype, np.integer) \
            else x.astype(np.float32)
        if x.ndim == 2:
            x = x[..., None]
        if size is not None and x.shape[:2] != tuple(size):
            x = resize_image(x, size)
        images.append(x)
    labels = np.array([index[s.label] for s in samples], dtype=np.int32)
    return np.stack(images).astype(np.float32), labels


# --------------------------------------------------------------------------- figures
def auc(labels: np.ndarray, probs: np.ndarray) -> float:
    """ROC AUC: of the second class's probability for two classes, else macro one-vs-rest."""
    from sklearn.metrics import roc_auc_score

    probs = np.asarray(probs)
    if probs.shape[1] == 2:
        return float(roc_auc_score(labels, probs[:, 1]))
    return float(roc_auc_score(labels, probs, multi_class="ovr", average="macro"))


def accuracy(labels: np.ndarray, probs: np.ndarray) -> float:
    return float(np.mean(np.argmax(probs, axis=1) == labels))


def t_interval(values: Sequence[float], level: float = 0.95) -> list[float] | None:
    """Student-t interval of the mean of ``values`` (None for fewer than two)."""
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    if len(v) < 2:
        return None
    half = stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return [float(v.mean() - half), float(v.mean() + half)]


def bootstrap_difference(labels: np.ndarray, probs_a: Sequence[np.ndarray],
                         probs_b: Sequence[np.ndarray], *, metric=auc, num_resamples: int = 1000,
                         seed: int = 0, level: float = 0.95) -> list[float]:
    """Percentile interval of mean_seeds(metric(a) - metric(b)) over test images resampled with
    replacement (the same resample for every seed and both conditions, so it is paired).
    ``probs_a`` / ``probs_b``: one probability matrix per seed, seeds in the same order."""
    rng = rng_for(seed, 0xB007)
    n = len(labels)
    diffs = []
    for _ in range(num_resamples):
        idx = rng.integers(0, n, n)
        if len(np.unique(labels[idx])) < 2:
            continue
        diffs.append(np.mean([metric(labels[idx], a[idx]) - metric(labels[idx], b[idx])
                              for a, b in zip(probs_a, probs_b, strict=True)]))
    lo, hi = np.percentile(diffs, [50 * (1 - level), 50 * (1 + level)])
    return [float(lo), float(hi)]


def class_fidelity(probs: np.ndarray, labels: np.ndarray, classes: Sequence[Any]) -> dict[str, Any]:
    """How often a classifier trained on real images names generated samples' asked class:
    overall and per class (``probs``: its probabilities on the generated samples)."""
    hits = np.argmax(probs, axis=1) == labels
    return {"accuracy": float(hits.mean()),
            "per_class": {str(c): float(hits[labels == k].mean()) for k, c in enumerate(classes)
                          if np.any(labels == k)}}


def per_class_distances(real_features: np.ndarray, real_labels: np.ndarray,
                        synthetic_features: np.ndarray, synthetic_labels: np.ndarray,
                        classes: Sequence[Any], *, seed: int = 0) -> dict[str, Any]:
    """Fréchet distance and KID of each class's synthetic features against the same class's
    real features, each set against its real-vs-real floor (``fidelity.compare_to_floor``).
    Features are standardised with the real rows' mean and spread."""
    from augkit.evaluate.fidelity import compare_to_floor

    mean = real_features.mean(axis=0)
    std = real_features.std(axis=0) + 1e-8
    real_z, syn_z = (real_features - mean) / std, (synthetic_features - mean) / std
    return {str(c): compare_to_floor(real_z[real_labels == k], syn_z[synthetic_labels == k],
                                     seed=seed)
            for k, c in enumerate(classes)}


def flip_vs_noise(generator: Any, classes: Sequence[Any], *, num: int = 64, seed: int = 0) -> dict[str, float]:
    """Does a class-conditional generator follow its class? Mean absolute pixel change ([0, 1]
    units of the images' dtype range) between samples of one latent vector under two classes
    (``generate`` draws a sample's latent vector from (seed, index) alone), against the change
    between two latent vectors under one class. Every pair of classes and every class count."""
    def images(s, label):
        made = list(generator.generate(num, seed=s, conditions=[label]))
        return class_arrays(made, [label])[0]

    by_class = {c: (images(seed, c), images(seed + 1, c)) for c in classes}
    flips = [np.abs(by_class[a][k] - by_class[b][k]).mean()
             for i, a in enumerate(classes) for b in classes[i + 1:] for k in (0, 1)]
    noise = [np.abs(first - second).mean() for first, second in by_class.values()]
    flip, new_noise = float(np.mean(flips)), float(np.mean(noise))
    return {"class_flip_change": flip, "new_noise_change": new_noise,
            "ratio": flip / new_noise if new_noise > 0 else float("inf")}


def real_pair_changes(images: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The reference for ``flip_vs_noise`` on real images: mean absolute pixel difference of
    image pairs from two classes, and of pairs from one class (self-pairs left out)."""
    def mean_diff(a, b, same):
        d = np.abs(a[:, None] - b[None]).mean(axis=tuple(range(2, a.ndim + 1)))
        return d[~np.eye(len(a), dtype=bool)].mean() if same else d.mean()

    classes = np.unique(labels)
    between = [mean_diff(images[labels == a], images[labels == b], False)
               for i, a in enumerate(classes) for b in classes[i + 1:]]
    within = [mean_diff(images[labels == c], images[labels == c], True) for c in classes]
    return {"between_classes": float(np.mean(between)), "within_class": float(np.mean(within))}
