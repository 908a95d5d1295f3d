"""Between Samples and network tensors: label maps become one-hot maps at the profile size
(nearest), images become [-1, 1] per channel (and back, in their own dtype and size)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from augkit.errors import UsageError
from augkit.transforms.intensity import IntensityScale, resize_labels, robust_range, typical_range
from augkit.sample import Sample

MIN_TRAIN_SAMPLES = 2


@dataclass(frozen=True)
class DataSpec(IntensityScale):
    """What the model learnt from the training data and needs again to generate."""

    label_values: tuple[int, ...]  # one-hot channel k stands for mask value label_values[k]
    #: H×W of the training masks when they all share one (None: mixed sizes, or a model saved
    #: before this was recorded); conditions of another size would make samples of that size
    mask_shape: tuple[int, int] | None = None
    #: ``label_map="tissue"``: k×C tissue-class centres (see ``augkit_pix2pix.tissue``); the
    #: condition is then a map built from a real slice, not the mask alone
    tissue_centres: tuple[tuple[float, ...], ...] | None = None
    #: each slice scaled by its own range (``IntensityScale``; scanner units, not uint8):
    #: a generated slice takes its parent's scale, or (bare mask) a typical slice's
    per_image: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        for key in ("mask_shape", "tissue_centres"):
            if d[key] is None:
                del d[key]  # as models saved before it existed: they load and resume alike
        if not self.per_image:
            del d["per_image"]
        if "tissue_centres" in d:
            d["tissue_centres"] = [list(c) for c in self.tissue_centres]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DataSpec":
        shape = d.get("mask_shape")
        return cls(num_channels=int(d["num_channels"]), dtype=str(d["dtype"]),
                   low=tuple(float(v) for v in d["low"]), high=tuple(float(v) for v in d["high"]),
                   label_values=tuple(int(v) for v in d["label_values"]),
                   mask_shape=None if shape is None else (int(shape[0]), int(shape[1])),
                   tissue_centres=None if d.get("tissue_centres") is None
                   else tuple(tuple(float(v) for v in c) for c in d["tissue_centres"]),
                   per_image=bool(d.get("per_image", False)))

    @classmethod
    def from_samples(cls, samples: Sequence[Sample]) -> "DataSpec":
        """uint8 intensities scaled by ``robust_range`` of the training images; scanner units
        (any other dtype) per slice, with a typical slice's range for bare masks."""
        first = samples[0].image
        dtype = np.dtype(first.dtype)
        labels = np.unique(np.concatenate([np.unique(s.mask) for s in samples]))
        per_image = dtype != np.uint8
        images = [s.image for s in samples]
        low, high = typical_range(images) if per_image else robust_range(images)
        shapes = {tuple(int(n) for n in s.mask.shape[:2]) for s in samples}
        return cls(num_channels=int(first.shape[-1]), dtype=dtype.name, low=low, high=high,
                   label_values=tuple(int(v) for v in labels),
                   mask_shape=shapes.pop() if len(shapes) == 1 else None, per_image=per_image)

    # -- label maps
    @property
    def num_classes(self) -> int:
        """One-hot channels of the condition."""
        if self.tissue_centres is None:
            return len(self.label_values)
        return 1 + len(self.tissue_centres) + len(self.label_values) - 1

    def condition(self, image: np.ndarray | None, mask: np.ndarray, size: int) -> np.ndarray:
        """size×size×K float32 network condition: the mask's one-hot, or with tissue centres
        the one-hot of the tissue label map of (image, mask)."""
        if self.tissue_centres is None:
            return self.one_hot(mask, size)
        from augkit_pix2pix.tissue import tissue_label_map

        classes = tissue_label_map(self.to_unit(image), np.asarray(mask), np.asarray(self.tissue_centres),
                                   self.label_values)
        return np.eye(self.num_classes, dtype=np.float32)[resize_labels(classes, (size, size))]

    def one_hot(self, mask: np.ndarray, size: int) -> np.ndarray:
        """size×size×K float32 one-hot of ``mask`` resized by nearest neighbour."""
        small = resize_labels(np.asarray(mask), (size, size)).astype(np.int64)
        index = np.searchsorted(np.asarray(self.label_values), small)  # labels checked beforehand
        index = np.clip(index, 0, len(self.label_values) - 1)
        return np.eye(len(self.label_values), dtype=np.float32)[index]

    # -- pictures
    def display_mask(self, one_hot: np.ndarray) -> np.ndarray:
        steps = max(1, one_hot.shape[-1] - 1)
        return (np.argmax(one_hot, axis=-1) * (255 // steps)).astype(np.uint8)

    def unknown_labels(self, mask: np.ndarray) -> list[int]:
        return sorted(set(np.unique(mask).tolist()) - set(self.label_values))


def condition_mask(condition: Any, index: int) -> tuple[np.ndarray, Sample | None]:
    """A generate() condition as an H×W integer label map (a Sample gives its mask)."""
    if isinstance(condition, Sample):
        if condition.mask is None:
            raise UsageError(f"pix2pix condition {index} (sample {condition.id!r}) has no mask; "
                             "conditions must be label maps or Samples with masks.")
        return condition.mask, condition
    mask = np.asarray(condition)
    if mask.ndim == 3 and mask.shape[-1] == 1:
        mask = mask[..., 0]
    if mask.ndim != 2 or not (np.issubdtype(mask.dtype, np.integer) or mask.dtype == np.bool_):
        raise UsageError(f"pix2pix condition {index} must be an H×W integer label map. "
                         f"Received: shape={mask.shape}, dtype={mask.dtype}")
    return mask, None
