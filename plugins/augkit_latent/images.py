"""Between Samples and network tensors for image generators that start from a latent vector:
images become [-1, 1] per channel at the profile size (and back, in their own dtype and size);
labels become class indices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from augkit.expand.balance import label_order
from augkit.errors import DataError, UsageError
from augkit.transforms.intensity import IntensityScale, robust_range
from augkit.sample import Sample


@dataclass(frozen=True)
class ImageSpec(IntensityScale):
    """What the model learnt from the training data and needs again to generate."""

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
        """Intensities scaled by ``robust_range`` of the training images.
        ``conditional=None`` means: conditional when the samples carry two or more labels."""
        first = samples[0].image
        dtype = np.dtype(first.dtype)
        channels = first.shape[-1]
        low, high = robust_range([s.image for s in samples])
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
