"""Segmentation metrics as in seed 001 (Accuracy, Mean IoU, Dice) over integer label maps.

Conventions:
- Dice of two empty maps (no foreground in prediction or truth) is 1: nothing to find and
  nothing found is a perfect answer. An empty truth with a non-empty prediction gives 0.
- Mean IoU averages over the classes present in the prediction or the truth (background
  included, as Keras' MeanIoU does); a class absent from both says nothing and is skipped.
- Binary Dice treats every label > 0 as foreground.
- Batched scores are the mean of per-image scores (each image counts once, as a user reads
  them); ``dice_pooled`` pools all pixels of the batch first (large tumours weigh more).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from augkit.errors import UsageError


def _pair(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.ndim == 3 and pred.shape[-1] == 1:
        pred = pred[..., 0]
    if truth.ndim == 3 and truth.shape[-1] == 1:
        truth = truth[..., 0]
    if pred.shape != truth.shape:
        raise UsageError("prediction and truth label maps must have the same shape. "
                         f"Received: pred.shape={pred.shape}, truth.shape={truth.shape}")
    return pred, truth


def _dice(p: np.ndarray, t: np.ndarray) -> float:
    total = int(p.sum()) + int(t.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(p, t).sum()) / total


def accuracy(pred: np.ndarray, truth: np.ndarray) -> float:
    """Fraction of pixels whose label is right."""
    pred, truth = _pair(pred, truth)
    return float(np.mean(pred == truth))


def mean_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean over classes present in either map of |P ∩ T| / |P ∪ T|."""
    pred, truth = _pair(pred, truth)
    ious = [np.logical_and(pred == c, truth == c).sum() / np.logical_or(pred == c, truth == c).sum()
            for c in np.union1d(np.unique(pred), np.unique(truth))]
    return float(np.mean(ious))


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Binary Dice of the foreground (label > 0); 1 when both maps are empty."""
    pred, truth = _pair(pred, truth)
    return _dice(pred > 0, truth > 0)


def dice_per_class(pred: np.ndarray, truth: np.ndarray,
                   classes: Iterable[int] | None = None) -> dict[int, float]:
    """Dice of each foreground class: by default those (≠ 0) present in either map; a class
    listed in ``classes`` but absent from both maps scores 1."""
    pred, truth = _pair(pred, truth)
    if classes is None:
        classes = [c for c in np.union1d(np.unique(pred), np.unique(truth)) if c != 0]
    return {int(c): _dice(pred == c, truth == c) for c in classes}


def segmentation_scores(pairs: Sequence[tuple[np.ndarray, np.ndarray]],
                        classes: Iterable[int] | None = None) -> dict:
    """Accuracy, mean IoU and Dice over a list of ``(pred, truth)`` label maps.

    ``classes``: the foreground classes for per-class Dice (default: every label ≠ 0 seen in
    the batch, so each image scores the same classes and an absent class counts as 1).
    """
    pairs = [_pair(p, t) for p, t in pairs]
    if not pairs:
        raise UsageError("segmentation_scores needs at least one (pred, truth) pair. Received: none")
    if classes is None:
        seen = set()
        for p, t in pairs:
            seen.update(np.unique(p).tolist(), np.unique(t).tolist())
        classes = sorted(c for c in seen if c != 0)
    classes = [int(c) for c in classes]
    per_class = [dice_per_class(p, t, classes) for p, t in pairs]
    inter = sum(int(np.logical_and(p > 0, t > 0).sum()) for p, t in pairs)
    total = sum(int((p > 0).sum()) + int((t > 0).sum()) for p, t in pairs)
    class_dice = {c: float(np.mean([d[c] for d in per_class])) for c in classes}
    return {
        "num_images": len(pairs),
        "accuracy": float(np.mean([accuracy(p, t) for p, t in pairs])),
        "mean_iou": float(np.mean([mean_iou(p, t) for p, t in pairs])),
        "dice": float(np.mean([dice(p, t) for p, t in pairs])),
        "dice_pooled": 1.0 if total == 0 else 2.0 * inter / total,
        "dice_per_class": class_dice,
        "mean_class_dice": float(np.mean(list(class_dice.values()))) if class_dice else 1.0,
    }
