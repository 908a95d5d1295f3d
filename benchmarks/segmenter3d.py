"""The 3D U-Net of the Dice-gain 3D check (``dice_gain_3d.py``) and its training loop (Keras 3).

Training batches are patches the augkit sampler serves (``MixedSampler(patch_size=...,
patch_foreground=...)``), drawn per step from cases held in memory: a whole BraTS case is
240×240×155×4, so patches cannot be cut ahead as the 2D suite resizes its slices. Images are
scaled by the sampler's ``Encoder`` (each modality of a case from its [min, max] to [0, 1], a
patch with its case's range), so a patch and the whole case it came from are scaled alike.
Targets are one binary map per region (BraTS WT/TC/ET), the loss is the 2D suite's
``bce_dice_loss`` (per-region soft Dice), the weights of the best validation Dice are kept.

Validation (checkpoint selection only) is the pooled Dice of a fixed set of patches of the
validation cases: cheap enough to run every ``eval_every`` steps. Test is whole-case Dice: the
network is fully convolutional, so the brain's bounding box (BraTS is skull-stripped: voxels
where a modality is non-zero) goes through it in one pass, with no tile seams; outside the
box the prediction is background.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit

from augkit.evaluate.segmentation import dice
from augkit.seeding import derive_seed
from segmenter import bce_dice_loss, region_masks, unet_body


@dataclass(frozen=True)
class Segmenter3DConfig:
    patch_size: int = 64  # the network trains on patch³ voxels
    base_width: int = 8  # filters of the first level; doubled per level
    num_levels: int = 3  # 2×2×2 max-pools; the bottleneck sees patch / 2**levels
    batch_size: int = 2
    num_steps: int = 2000  # optimizer steps, identical for every condition
    learning_rate: float = 1e-3  # Adam
    eval_every: int = 100  # steps between validation checks (best checkpoint kept)
    patch_foreground: float = 0.5  # share of patches centred on a labelled voxel (the sampler's)
    regions: tuple[tuple[str, tuple[int, ...]], ...] = ()  # as SegmenterConfig.regions

    def __post_init__(self) -> None:
        if self.patch_size % (2 ** self.num_levels):
            raise ValueError(f"patch_size must be divisible by 2**num_levels. Received: "
                             f"patch_size={self.patch_size}, num_levels={self.num_levels}")
        if min(self.base_width, self.batch_size, self.num_steps, self.eval_every) < 1:
            raise ValueError(f"widths, batch size, steps and eval_every must be >= 1. Received: {self}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["regions"] = [[name, list(labels)] for name, labels in self.regions]
        return d

    @property
    def num_outputs(self) -> int:
        return max(1, len(self.regions))


# --------------------------------------------------------------------------- model
def build_unet3d(config: Segmenter3DConfig, num_channels: int, seed: int):
    """The 2D suite's plain U-Net in 3D (``segmenter.unet_body``): two 3×3×3 convs per level (no
    batch norm, as the BraTS 2D profile), max-pool down, 2×2×2 transposed conv up, skip
    concatenation, one logit per voxel and region. Spatial input size is free (a multiple of
    2**num_levels), so whole cases go through the network trained on patches. Every initializer
    is seeded from ``seed``."""
    import keras

    inputs = keras.Input((None, None, None, num_channels))
    return keras.Model(inputs, unet_body(inputs, config, seed, dims=3), name="unet3d")


# --------------------------------------------------------------------------- data
def encode(samples, encoder, regions) -> tuple[np.ndarray, np.ndarray]:
    """Patches as network inputs (N×p×p×p×C float32, the Encoder's scaling) and region targets
    (N×p×p×p×R float32)."""
    x = np.stack([encoder.image(s) for s in samples]).astype(np.float32)
    y = np.stack([region_masks(s.mask, regions) for s in samples]).astype(np.float32)
    return x, y


def batch_at(sampler, encoder, step: int, batch_size: int, regions) -> tuple[np.ndarray, np.ndarray, list]:
    """The patches of optimizer step ``step`` (0-based): positions step·batch … of the sampler's
    epochs laid end to end, so the run's patches depend on the sampler's seed alone. Also
    returns where each came from (``{"source", "id"}`` of the stored case drawn)."""
    samples, origins = [], []
    for g in range(step * batch_size, (step + 1) * batch_size):
        sample, origin = sampler.get_with_origin(g // sampler.epoch_size, g % sampler.epoch_size)
        samples.append(sample)
        origins.append(origin)
    x, y = encode(samples, encoder, regions)
    return x, y, origins


# --------------------------------------------------------------------------- training
@dataclass
class TrainResult3D:
    model: Any
    history: dict[str, list[float]]  # step, loss (mean since the last check), val_dice (WT pooled)
    losses: list[float]
    best_step: int
    best_val_dice: float
    seconds: float
    # wall and process-CPU seconds of each step's patch draw and optimizer step, and of each
    # validation pass: what the benchmark's projection is built from
    timing: dict[str, list[float]] = field(default_factory=dict)
    served: dict[str, Counter] = field(default_factory=dict)  # patches per source and per stored case


def pooled_dice(logits: np.ndarray, y: np.ndarray) -> list[float]:
    """Dice per region over all voxels of all patches (patches without tumour add nothing)."""
    return [dice(logits[..., r] > 0, y[..., r] > 0.5) for r in range(y.shape[-1])]


def predict_logits(model, x: np.ndarray, batch_size: int = 4) -> np.ndarray:
    return np.concatenate([np.asarray(model(x[i:i + batch_size], training=False))
                           for i in range(0, len(x), batch_size)])


def train_segmenter3d(sampler, encoder, config: Segmenter3DConfig, *, seed: int,
                      val: tuple[np.ndarray, np.ndarray] | None = None, progress: bool = False,
                      desc: str = "unet3d") -> TrainResult3D:
    """Train a fresh 3D U-Net for ``config.num_steps`` steps on the sampler's patches; with
    ``val`` (patches), end on the weights of the best pooled whole-tumour Dice (checked every
    ``eval_every`` steps and at the last step)."""
    import keras

    from augkit.generators.training import progress_bar

    started = time.perf_counter()
    model = build_unet3d(config, encoder.image_shape[-1], seed=derive_seed(seed, 1))
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss=bce_dice_loss, jit_compile=False)
    model.optimizer.build(model.trainable_variables)  # else the first step traces twice
    history: dict[str, list[float]] = {"step": [], "loss": [], "val_dice": []}
    timing: dict[str, list[float]] = {k: [] for k in ("draw_s", "draw_cpu_s", "step_s", "step_cpu_s",
                                                      "val_s", "val_cpu_s")}
    served: dict[str, Counter] = {"source": Counter(), "id": Counter()}
    losses: list[float] = []
    best = (-1.0, 0, None)  # val Dice, step, weights
    bar = progress_bar(config.num_steps, enabled=progress, desc=desc)
    try:
        for step in range(1, config.num_steps + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            x, y, origins = batch_at(sampler, encoder, step - 1, config.batch_size, config.regions)
            t1, c1 = time.perf_counter(), time.process_time()
            loss = float(model.train_on_batch(x, y))
            timing["draw_s"].append(t1 - t0)
            timing["draw_cpu_s"].append(c1 - c0)
            timing["step_s"].append(time.perf_counter() - t1)
            timing["step_cpu_s"].append(time.process_time() - c1)
            served["source"].update(o["source"] for o in origins)
            served["id"].update(o["id"] for o in origins)
            if not np.isfinite(loss):
                raise FloatingPointError(f"3D U-Net loss became {loss} at step {step}; lower the learning rate.")
            losses.append(loss)
            bar.update(1)
            if step % config.eval_every == 0 or step == config.num_steps:
                history["step"].append(step)
                history["loss"].append(float(np.mean(losses[-config.eval_every:])))
                if val is not None:
                    t0, c0 = time.perf_counter(), time.process_time()
                    score = pooled_dice(predict_logits(model, val[0]), val[1])[0]
                    timing["val_s"].append(time.perf_counter() - t0)
                    timing["val_cpu_s"].append(time.process_time() - c0)
                    history["val_dice"].append(score)
                    if score > best[0]:
                        best = (score, step, model.get_weights())
                bar.set_postfix(loss=f"{history['loss'][-1]:.3f}", refresh=False)
    finally:
        bar.close()
    if best[2] is not None:
        model.set_weights(best[2])
    else:
        best = (float("nan"), config.num_steps, None)
    return TrainResult3D(model, history, losses, best[1], best[0], time.perf_counter() - started,
                         timing, served)


# --------------------------------------------------------------------------- whole cases
def brain_box(image: np.ndarray, multiple: int) -> tuple[slice, ...]:
    """The bounding box of the voxels where any channel is non-zero, grown (inside the volume
    where it can be) to a multiple of ``multiple`` per axis."""
    inside = np.any(image != 0, axis=-1)
    if not inside.any():
        inside = np.ones(inside.shape, bool)
    box = []
    for axis in range(3):
        hit = np.flatnonzero(inside.any(axis=tuple(a for a in range(3) if a != axis)))
        lo, hi = int(hit[0]), int(hit[-1]) + 1
        size = -(-(hi - lo) // multiple) * multiple
        lo = max(0, min(lo - (size - (hi - lo)) // 2, image.shape[axis] - size))
        box.append(slice(lo, lo + size))
    return tuple(box)


def predict_case(model, image: np.ndarray, num_levels: int) -> np.ndarray:
    """X×Y×Z×R probabilities of a whole scaled case: its brain box in one pass, 0 elsewhere.
    A box axis longer than the volume (a volume side not a multiple of 2**levels) is zero-padded."""
    multiple = 2 ** num_levels
    box = brain_box(image, multiple)
    crop = image[box]
    pad = [(0, (-n) % multiple) for n in crop.shape[:3]] + [(0, 0)]
    logits = np.asarray(model(np.pad(crop, pad)[None], training=False))[0]
    logits = logits[:crop.shape[0], :crop.shape[1], :crop.shape[2]]
    prob = np.zeros((*image.shape[:3], logits.shape[-1]), np.float32)
    prob[box] = expit(logits)
    return prob


def score_cases(model, cases, encoder, config: Segmenter3DConfig) -> dict[str, Any]:
    """Whole-case Dice of every region (threshold 0.5), per case and as the mean over cases."""
    per_case: dict[str, list[float]] = {name: [] for name, _ in config.regions}
    ids = []
    for case in cases:
        prob = predict_case(model, whole_case_image(case, encoder), config.num_levels)
        truth = region_masks(case.mask, config.regions)
        for r, (name, _) in enumerate(config.regions):
            per_case[name].append(dice(prob[..., r] > 0.5, truth[..., r]))
        ids.append(case.id)
    return {"case_ids": ids, "regions": {name: {"dice": float(np.mean(v)), "per_case_dice": v}
                                         for name, v in per_case.items()}}


def whole_case_image(case, encoder) -> np.ndarray:
    """A whole case scaled as the sampler's ``Encoder`` scales a case (its own per-channel
    [min, max]): the library's Encoder, built for this case's shape."""
    from augkit.sampling.encoding import Encoder
    from augkit.sampling.sampler import MixedSampler

    return Encoder(MixedSampler([case]), label_values=encoder.label_values).image(case).astype(np.float32)


def count_params(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))
