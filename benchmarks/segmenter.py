"""The U-Net segmenter the Dice-gain benchmark trains, and its training loop (Keras 3).

One condition differs from another only in its training samples: every run takes the same
number of optimizer steps at the same batch size (a small set is cycled more often), keeps the
weights of the best validation Dice, and is seeded in full (weights, batch order), so a
difference between conditions is the data's and not the schedule's.

Masks are binarised (label > 0 → 1): LGG masks are {0, 255}; BraTS labels 1/2/4 become the
whole tumour. Images are resized to ``size``×``size`` and scaled to [0, 1] per channel (uint8
by 255, other dtypes by the image's own 99.5th percentile). Scores are computed at the
original mask resolution (probabilities resized back, threshold 0.5) with
``augkit.evaluate.segmentation``; the validation Dice used for checkpoint selection is computed
at network resolution (cheaper, same ranking up to resampling).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from scipy.special import expit

from augkit.evaluate.segmentation import dice, segmentation_scores
from augkit.sample import Sample
from augkit.seeding import derive_seed, rng_for


@dataclass(frozen=True)
class SegmenterConfig:
    size: int = 128  # the network sees size×size images
    base_width: int = 16  # filters of the first level; doubled per level
    num_levels: int = 4  # down-sampling steps (2×2 max-pool); the bottleneck is size / 2**levels
    batch_size: int = 8
    num_steps: int = 600  # optimizer steps, identical for every condition
    learning_rate: float = 1e-3  # Adam
    eval_every: int = 50  # steps between validation Dice checks (best checkpoint kept)
    batch_norm: bool = True
    loss: str = "bce+dice"  # binary cross-entropy on logits + (1 - soft Dice over the batch)
    # Early stop on validation: after ``min_steps``, stop once the best validation Dice is
    # ``patience_steps`` old (None: always run ``num_steps``).
    patience_steps: int | None = None
    min_steps: int = 0
    # Named label regions, one sigmoid output each, e.g. BraTS (("WT", (1, 2, 4)), ("TC", (1, 4)),
    # ("ET", (4,))): the first is the target of model selection and of the reported "dice"; the
    # others are scored beside it. Empty: one output, label > 0.
    regions: tuple[tuple[str, tuple[int, ...]], ...] = ()

    def __post_init__(self) -> None:
        if self.size % (2 ** self.num_levels):
            raise ValueError(f"size must be divisible by 2**num_levels. Received: size={self.size}, "
                             f"num_levels={self.num_levels}")
        if min(self.base_width, self.batch_size, self.num_steps, self.eval_every) < 1:
            raise ValueError(f"widths, batch size, steps and eval_every must be >= 1. Received: {self}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if self.patience_steps is None:  # keys of runs cached before early stopping existed
            d.pop("patience_steps")
            d.pop("min_steps")
        if not self.regions:  # keys of runs cached before region targets existed
            d.pop("regions")
        else:
            d["regions"] = [[name, list(labels)] for name, labels in self.regions]
        return d

    @property
    def num_outputs(self) -> int:
        return max(1, len(self.regions))


# --------------------------------------------------------------------------- data
def _unit(image: np.ndarray) -> np.ndarray:
    """Image to float32 in [0, 1] per channel."""
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    x = image.astype(np.float32)
    x = x - x.min(axis=(0, 1), keepdims=True)
    top = np.percentile(x, 99.5, axis=(0, 1), keepdims=True)
    return np.clip(x / np.maximum(top, 1e-6), 0.0, 1.0)


def _resize(x: np.ndarray, size: int, nearest: bool) -> np.ndarray:
    if x.shape[0] == size and x.shape[1] == size:
        return x
    shrinking = x.shape[0] > size
    interp = cv2.INTER_NEAREST if nearest else (cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    out = cv2.resize(x, (size, size), interpolation=interp)
    return out[..., None] if out.ndim == 2 and x.ndim == 3 else out


def binary_mask(mask: np.ndarray) -> np.ndarray:
    return (np.asarray(mask) > 0).astype(np.uint8)


def region_masks(mask: np.ndarray, regions=()) -> np.ndarray:
    """H×W×R uint8: one binary map per region (labels in the region's set), or H×W×1 of label > 0
    when ``regions`` is empty."""
    mask = np.asarray(mask)
    if not regions:
        return binary_mask(mask)[..., None]
    return np.stack([np.isin(mask, labels) for _, labels in regions], axis=-1).astype(np.uint8)


def to_arrays(samples: Sequence[Sample], size: int, regions=()) -> tuple[np.ndarray, np.ndarray]:
    """Network inputs (N×size×size×C float32) and binary targets (N×size×size×R float32, R the
    number of ``regions``, 1 without)."""
    images = [_resize(_unit(s.image), size, nearest=False) for s in samples]
    images = [im[..., None] if im.ndim == 2 else im for im in images]
    masks = [_resize(region_masks(s.mask, regions), size, nearest=True) for s in samples]
    masks = [m[..., None] if m.ndim == 2 else m for m in masks]
    return np.stack(images).astype(np.float32), np.stack(masks).astype(np.float32)


# --------------------------------------------------------------------------- model
def build_unet(config: SegmenterConfig, num_channels: int, seed: int):
    """A plain U-Net (Ronneberger et al. 2015): two 3×3 convs per level, max-pool down,
    2×2 transposed conv up, skip concatenation, one logit per pixel. Every initializer has its
    own seed derived from ``seed``: no global random state is read."""
    import keras

    inputs = keras.Input((config.size, config.size, num_channels))
    return keras.Model(inputs, unet_body(inputs, config, seed, dims=2), name="unet")


def unet_body(inputs, config, seed: int, dims: int):
    """The U-Net's layers on ``inputs`` in 2 or 3 dimensions (``config``: num_levels, base_width,
    num_outputs, and batch_norm if it has one); the logits. Initializers are seeded in layer order,
    so the 2D and 3D networks share one definition."""
    import keras
    from keras import layers

    conv, pool, up = {2: (layers.Conv2D, layers.MaxPooling2D, layers.Conv2DTranspose),
                      3: (layers.Conv3D, layers.MaxPooling3D, layers.Conv3DTranspose)}[dims]
    batch_norm = getattr(config, "batch_norm", False)
    counter = iter(range(10_000))

    def init():
        return keras.initializers.HeNormal(seed=derive_seed(seed, next(counter)))

    def block(x, width):
        for _ in range(2):
            x = conv(width, 3, padding="same", use_bias=not batch_norm, kernel_initializer=init())(x)
            if batch_norm:
                x = layers.BatchNormalization()(x)
            x = layers.ReLU()(x)
        return x

    x, skips = inputs, []
    for level in range(config.num_levels):
        x = block(x, config.base_width * 2 ** level)
        skips.append(x)
        x = pool(2)(x)
    x = block(x, config.base_width * 2 ** config.num_levels)
    for level in reversed(range(config.num_levels)):
        width = config.base_width * 2 ** level
        x = up(width, 2, strides=2, kernel_initializer=init())(x)
        x = layers.Concatenate()([x, skips[level]])
        x = block(x, width)
    return conv(config.num_outputs, 1, kernel_initializer=keras.initializers.GlorotUniform(
        seed=derive_seed(seed, next(counter))))(x)


def bce_dice_loss(y_true, logits):
    """BCE on logits + (1 - soft Dice over the batch). With several region outputs the soft Dice
    is taken per region and averaged: pooled over all outputs, the large whole-tumour region
    drowns the small core and enhancing ones, whose outputs then never learn (a 200-step BraTS
    run scored tumour core 0.000 that way). 2D or 3D: every axis but the last is pooled."""
    from keras import ops

    bce = ops.mean(ops.binary_crossentropy(y_true, logits, from_logits=True))
    prob = ops.sigmoid(logits)
    if logits.shape[-1] == 1:  # one output: the formula every single-region run was trained with
        soft_dice = (2.0 * ops.sum(prob * y_true) + 1.0) / (ops.sum(prob) + ops.sum(y_true) + 1.0)
        return bce + (1.0 - soft_dice)
    axes = tuple(range(len(logits.shape) - 1))  # batch and spatial axes: (0, 1, 2) in 2D, (0, 1, 2, 3) in 3D
    per_region = (2.0 * ops.sum(prob * y_true, axis=axes) + 1.0) / (
        ops.sum(prob, axis=axes) + ops.sum(y_true, axis=axes) + 1.0)
    return bce + (1.0 - ops.mean(per_region))


# --------------------------------------------------------------------------- training
@dataclass
class TrainResult:
    model: Any
    history: dict[str, list[float]]  # step, loss (mean since the last check), val_dice
    losses: list[float]  # every step's loss
    best_step: int
    best_val_dice: float
    seconds: float


def batch_indices(num_samples: int, batch_size: int, num_steps: int, seed: int) -> np.ndarray:
    """num_steps × batch_size indices: a fresh permutation per pass, concatenated, so a set
    smaller than the batch or than steps × batch is cycled with a fixed batch shape."""
    needed = num_steps * batch_size
    passes = -(-needed // num_samples)
    order = np.concatenate([rng_for(seed, p).permutation(num_samples) for p in range(passes)])
    return order[:needed].reshape(num_steps, batch_size)


def scheduled_batch_indices(is_synthetic: np.ndarray, batch_size: int, num_steps: int, seed: int,
                            share) -> np.ndarray:
    """num_steps × batch_size indices whose batch at step t holds round(share(t) × batch_size)
    synthetic samples (``is_synthetic``), the rest from the other samples; each pool is cycled
    through fresh permutations. ``share`` maps the step (0-based) to a fraction in [0, 1]."""
    pools = [np.flatnonzero(~is_synthetic), np.flatnonzero(is_synthetic)]
    wanted = np.array([int(round(min(max(share(t), 0.0), 1.0) * batch_size)) for t in range(num_steps)])
    if not len(pools[1]):
        wanted[:] = 0
    if not len(pools[0]):
        wanted[:] = batch_size
    streams = []
    for k, (pool, total) in enumerate(zip(pools, (num_steps * batch_size - wanted.sum(), wanted.sum()))):
        picks = batch_indices(len(pool), 1, int(total), derive_seed(seed, k))[:, 0] if total else np.zeros(0, int)
        streams.append(iter(pool[picks]))
    return np.array([[next(streams[1]) for _ in range(w)] + [next(streams[0]) for _ in range(batch_size - w)]
                     for w in wanted])


def predict_logits(model, x: np.ndarray, batch_size: int = 16) -> np.ndarray:
    out = [np.asarray(model(x[i:i + batch_size], training=False)) for i in range(0, len(x), batch_size)]
    return np.concatenate(out)


def mean_dice(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean per-slice Dice of the first output (the selection target)."""
    return float(np.mean([dice(p[..., 0] > 0, t[..., 0] > 0) for p, t in zip(logits, y)]))


def train_segmenter(x: np.ndarray, y: np.ndarray, config: SegmenterConfig, *, seed: int,
                    val: tuple[np.ndarray, np.ndarray] | None = None,
                    progress: bool = False, desc: str = "unet", batches: np.ndarray | None = None,
                    init_weights: list | None = None) -> TrainResult:
    """Train a fresh U-Net for ``config.num_steps`` steps; with ``val``, end on the weights of
    the best validation Dice (checked every ``eval_every`` steps and at the last step)."""
    import keras

    from augkit.generators.training import progress_bar

    started = time.perf_counter()
    model = build_unet(config, x.shape[-1], seed=derive_seed(seed, 1))
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss=bce_dice_loss,
                  jit_compile=False)
    model.optimizer.build(model.trainable_variables)  # else the first step traces twice
    if batches is None:
        batches = batch_indices(len(x), config.batch_size, config.num_steps, derive_seed(seed, 2))
    if init_weights is not None:  # fine-tuning: start from (and may end on) these weights
        model.set_weights(init_weights)
    history: dict[str, list[float]] = {"step": [], "loss": [], "val_dice": []}
    losses: list[float] = []
    best = (-1.0, 0, None)  # val Dice, step, weights
    if init_weights is not None and val is not None:
        best = (mean_dice(predict_logits(model, val[0]), val[1]), 0, model.get_weights())
    bar = progress_bar(config.num_steps, enabled=progress, desc=desc)
    try:
        for step, idx in enumerate(batches, start=1):
            idx = np.sort(idx)  # gather order does not matter to the loss; sorted reads are cheaper
            loss = float(model.train_on_batch(x[idx], y[idx]))
            if not np.isfinite(loss):
                raise FloatingPointError(f"U-Net loss became {loss} at step {step}; lower the learning rate.")
            losses.append(loss)
            bar.update(1)
            if step % config.eval_every == 0 or step == config.num_steps:
                history["step"].append(step)
                history["loss"].append(float(np.mean(losses[-config.eval_every:])))
                if val is not None:
                    score = mean_dice(predict_logits(model, val[0]), val[1])
                    history["val_dice"].append(score)
                    if score > best[0]:
                        best = (score, step, model.get_weights())
                if config.patience_steps is not None and val is not None and \
                        step >= config.min_steps and step - best[1] >= config.patience_steps:
                    history["stopped_at"] = [step]  # early stop: validation Dice has stalled
                    break
                bar.set_postfix(loss=f"{history['loss'][-1]:.3f}",
                                val_dice=f"{history['val_dice'][-1]:.3f}" if val is not None else "-",
                                refresh=False)
    finally:
        bar.close()
    if best[2] is not None:
        model.set_weights(best[2])
    else:
        best = (float("nan"), config.num_steps, None)
    return TrainResult(model, history, losses, best[1], best[0], time.perf_counter() - started)


# --------------------------------------------------------------------------- scoring
def predict_masks(model, samples: Sequence[Sample], config: SegmenterConfig) -> list[np.ndarray]:
    """Binary masks (H×W×outputs) at each sample's own resolution (probabilities resized, then > 0.5)."""
    x, _ = to_arrays(samples, config.size, config.regions)
    prob = expit(predict_logits(model, x))
    out = []
    for p, s in zip(prob, samples):
        h, w = s.mask.shape
        if p.shape[:2] != (h, w):
            p = cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR)
            p = p[..., None] if p.ndim == 2 else p
        out.append((p > 0.5).astype(np.uint8))
    return out


def score(model, samples: Sequence[Sample], config: SegmenterConfig) -> dict[str, Any]:
    """Accuracy, mean IoU and Dice (means over slices) of the first output, plus each slice's
    Dice; with ``config.regions``, each region's Dice (mean and per slice) under ``regions``."""
    preds = predict_masks(model, samples, config)
    truths = [region_masks(s.mask, config.regions) for s in samples]
    pairs = [(p[..., 0], t[..., 0]) for p, t in zip(preds, truths)]
    scores = segmentation_scores(pairs, classes=[1])
    out = {
        "accuracy": scores["accuracy"], "mean_iou": scores["mean_iou"], "dice": scores["dice"],
        "dice_pooled": scores["dice_pooled"], "num_slices": scores["num_images"],
        "per_slice_dice": [dice(p, t) for p, t in pairs],
    }
    if config.regions:
        out["regions"] = {}
        for r, (name, _) in enumerate(config.regions):
            per_slice = [dice(p[..., r], t[..., r]) for p, t in zip(preds, truths)]
            out["regions"][name] = {"dice": float(np.mean(per_slice)), "per_slice_dice": per_slice}
    return out


def count_params(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))
