"""Between Samples and network tensors for image generators that start from a latent vector:
images become [-1, 1] per channel at the profile size (and back, in their own dtype and size);
labels become class indices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from skimage.transform import resize

from augkit.balance import label_order
from augkit.errors import DataError, UsageError
from augkit.intensity import scale_from_unit, scale_to_unit
from augkit.sample import Sample


@dataclass(frozen=True)
class ImageSpec:
    """What the model learnt from the training data and needs again to generate."""

    num_channels: int
    dtype: str
    low: tuple[float, ...]  # per channel: low → -1, high → +1
    high: tuple[float, ...]
    out_shape: tuple[int, int] | None  # the training images' H×W when they all share it
    classes: tuple[Any, ...]  # class index k stands for label classes[k]; () = unconditional

    @property
    def conditional(self) -> bool:
        return bool(self.classes)

    def to_dict(self) -> dict[str, Any]:
        return {"num_channels": self.num_channels, "dtype": self.dtype, "low": list(self.low),
                "high": list(self.high),
                "out_shape": None if self.out_shape is None else list(self.out_shape),
                "classes": list(self.classes)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ImageSpec":
        shape = d["out_shape"]
        return cls(int(d["num_channels"]), str(d["dtype"]), tuple(float(v) for v in d["low"]),
                   tuple(float(v) for v in d["high"]),
                   None if shape is None else (int(shape[0]), int(shape[1])),
                   tuple(d["classes"]))

    @classmethod
    def from_samples(cls, samples: Sequence[Sample], *, conditional: bool | None) -> "ImageSpec":
        """uint8 images map exactly (x / 127.5 - 1); other dtypes by a robust per-channel range
        (low = 0 for non-negative data, else the 0.5th percentile; high = the 99.5th percentile).
        ``conditional=None`` means: conditional when the samples carry two or more labels."""
        first = samples[0].image
        dtype = np.dtype(first.dtype)
        channels = first.shape[-1]
        if dtype == np.uint8:
            low, high = (0.0,) * channels, (255.0,) * channels
        else:
            stacked = np.concatenate([s.image.reshape(-1, channels) for s in samples])
            low_l, high_l = [], []
            for c in range(channels):
                v = stacked[:, c].astype(np.float64)
                lo = 0.0 if v.min() >= 0 else float(np.percentile(v, 0.5))
                above = v[v > lo]
                hi = float(np.percentile(above, 99.5)) if above.size else lo + 1.0
                low_l.append(lo)
                high_l.append(hi if hi > lo else lo + 1.0)
            low, high = tuple(low_l), tuple(high_l)
        shapes = {s.image.shape[:2] for s in samples}
        out_shape = next(iter(shapes)) if len(shapes) == 1 else None
        labels = sorted({s.label for s in samples if s.label is not None}, key=label_order)
        if conditional is None:
            conditional = len(labels) >= 2
        if conditional and not labels:
            raise DataError(None, "conditional=True but no training sample has a label",
                            "give labelled samples (e.g. read a classfolders dataset) or "
                            "set conditional=False")
        return cls(int(channels), dtype.name, low, high,
                   None if out_shape is None else (int(out_shape[0]), int(out_shape[1])),
                   tuple(_json_label(v) for v in labels) if conditional else ())

    # -- labels
    def class_index(self, label: Any, where: str) -> int:
        label = _json_label(label)
        if label not in self.classes:
            raise UsageError(f"{where}: label {label!r} is not one the model was trained on "
                             f"({list(self.classes)}). Fix: ask for one of those labels.")
        return self.classes.index(label)

    # -- images
    def to_unit(self, image: np.ndarray) -> np.ndarray:
        return scale_to_unit(image, self.low, self.high)

    def from_unit(self, x: np.ndarray) -> np.ndarray:
        return scale_from_unit(x, self.low, self.high, self.dtype)

    @staticmethod
    def display(x: np.ndarray) -> np.ndarray:
        """uint8 picture of a [-1, 1] image: its first three channels as RGB, else channel 0."""
        x = x[..., :3] if x.shape[-1] >= 3 else x[..., :1]
        return np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


def _json_label(label: Any) -> Any:
    """Labels as JSON keeps them (str or int), so a saved model gives back the same labels."""
    if isinstance(label, (bool, np.bool_)):
        raise UsageError(f"class labels must be strings or integers. Received: {label!r}")
    if isinstance(label, (int, np.integer)):
        return int(label)
    if isinstance(label, str):
        return label
    raise UsageError(f"class labels must be strings or integers. Received: {label!r} "
                     f"({type(label).__name__})")


def resize_image(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a float H×W×C array (anti-aliased when shrinking)."""
    if x.shape[:2] == tuple(shape):
        return x.astype(np.float32)
    shrinking = shape[0] < x.shape[0] or shape[1] < x.shape[1]
    return resize(x, (*shape, x.shape[-1]), order=1, mode="edge", anti_aliasing=shrinking,
                  preserve_range=True).astype(np.float32)


def check_training_samples(samples: Sequence[Sample], name: str, *, minimum: int) -> list[Sample]:
    """Samples fit to train on: Sample objects, one channel count and dtype, labels all-or-none."""
    samples = list(samples)
    if len(samples) < minimum:
        raise DataError(None, f"{name} needs at least {minimum} training images, got {len(samples)}",
                        "give more images")
    for s in samples:
        if not isinstance(s, Sample):
            raise UsageError(f"{name} training samples must be augkit.Sample objects. "
                             f"Received: {type(s).__name__}")
    first = samples[0]
    labelled = [s.label is not None for s in samples]
    for s in samples:
        if s.image.shape[-1] != first.image.shape[-1] or s.image.dtype != first.image.dtype:
            raise DataError(_where(s), f"training sample {s.id!r} is {s.image.shape[-1]}-channel "
                            f"{s.image.dtype}, but {first.id!r} is {first.image.shape[-1]}-channel "
                            f"{first.image.dtype}", "train on images of one kind")
    if any(labelled) and not all(labelled):
        bad = samples[labelled.index(False)]
        raise DataError(_where(bad), f"training sample {bad.id!r} has no label while others have "
                        "one", "label every sample or none")
    return samples


def _where(sample: Sample):
    files = (sample.meta or {}).get("source_files")
    return files[0] if isinstance(files, (list, tuple)) and files else None
