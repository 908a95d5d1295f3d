"""``Encoder``: a Sample as the arrays a model expects (scaled image, class-index or one-hot
target); shared by the tf.data and PyTorch adapters of the mixing sampler."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from augkit.errors import DataError, UsageError
from augkit.sample import Sample


class Encoder:
    """Sample -> (image H×W×C float, target) as a model expects them; shared by both adapters.
    Volumes give X×Y×Z×C images and X×Y×Z targets (the patch size with ``patch_size``).

    Images: uint8 is divided by 255; other dtypes (MRI int16, 12-bit data in uint16, floats) are
    scaled per image and channel from [min, max] to [0, 1] (``scale=False`` only casts). Segmentation targets are the
    class index of each mask value in ``label_values`` (e.g. {0, 255} -> {0, 1}), or one-hot;
    classification targets are the index of ``Sample.label`` in ``label_values``. Unset
    ``label_values`` are read from the sampler's real samples (sorted; for lazily read cases
    from their metas, so only the first case is loaded, for its shape). A patch is scaled with
    its case's range (``meta["intensity_range"]``), so patches of one case agree.
    """

    def __init__(self, sampler: Any, *, task: str = "segmentation", one_hot: bool = False,
                 num_classes: int | None = None, label_values: Sequence[Any] | None = None,
                 image_dtype: str = "float32", scale: bool = True):
        if task not in ("segmentation", "classification"):
            raise UsageError(f"task must be 'segmentation' or 'classification'. Received: {task!r}")
        self.task, self.one_hot, self.scale = task, one_hot, scale
        self.image_dtype = np.dtype(image_dtype)
        reals = sampler.real.samples
        first = reals[0]
        metas = getattr(reals, "metas", None)
        if task == "segmentation" and first.mask is None:
            raise UsageError("task='segmentation' needs masks, but the real samples have none; "
                             "use task='classification'.")
        if task == "classification" and label_values is None and any(s.label is None for s in reals):
            raise UsageError("task='classification' needs Sample.label on every real sample "
                             "(class sub-folders when reading a folder).")
        if label_values is None:
            if task == "segmentation" and metas is not None and all("label_values" in m for m in metas):
                label_values = sorted({int(v) for m in metas for v in m["label_values"]})
            elif task == "segmentation":
                label_values = np.unique(np.concatenate([np.unique(s.mask) for s in reals])).tolist()
            else:
                label_values = sorted({s.label for s in reals}, key=repr)
        self.label_values = list(label_values)
        self.num_classes = len(self.label_values) if num_classes is None else int(num_classes)
        if self.num_classes < len(self.label_values):
            raise UsageError(f"num_classes={num_classes} is smaller than the {len(self.label_values)} "
                             f"label values {self.label_values}; raise num_classes or drop values.")
        self._index = {v: i for i, v in enumerate(self.label_values)}
        self.image_shape = first.image.shape
        if sampler.patch_size is not None:
            self.image_shape = (*sampler.patch_size, first.image.shape[-1])
        if task == "segmentation":
            self._values = np.asarray(self.label_values)
            if self._values.dtype.kind not in "iu":
                raise UsageError(f"segmentation label_values must be integers. Received: {self.label_values}")
            order = np.argsort(self._values)
            self._sorted, self._order = self._values[order], order

    @property
    def target_shape(self) -> tuple[int, ...]:
        spatial = tuple(self.image_shape[:-1])
        if self.task == "segmentation":
            return (*spatial, self.num_classes) if self.one_hot else spatial
        return (self.num_classes,) if self.one_hot else ()

    @property
    def target_dtype(self) -> np.dtype:
        return np.dtype("float32") if self.one_hot else np.dtype("int64")

    def image(self, sample: Sample) -> np.ndarray:
        img = sample.image
        if img.shape != self.image_shape:
            raise DataError(None, f"sample {sample.id!r} has image shape {img.shape} but the real "
                            f"samples have {self.image_shape}; a batch needs one shape",
                            "give the sampler a patch_size (volumes)" if sample.is_volume else
                            "add a 'resize' transform (height/width) to the sampler's transforms")
        if not self.scale:
            return img.astype(self.image_dtype)
        if img.dtype == np.uint8:
            return (img.astype(np.float32) / 255.0).astype(self.image_dtype)
        work = img.astype(np.float32)
        case_range = sample.meta.get("intensity_range")
        if case_range is not None:  # a patch: its case's range
            low = np.asarray(case_range[0], np.float32)
            span = np.asarray(case_range[1], np.float32) - low
            return np.clip((work - low) / np.where(span == 0, 1.0, span), 0.0, 1.0).astype(self.image_dtype)
        axes = tuple(range(img.ndim - 1))
        low = work.min(axis=axes, keepdims=True)
        span = work.max(axis=axes, keepdims=True) - low
        return ((work - low) / np.where(span == 0, 1.0, span)).astype(self.image_dtype)

    def target(self, sample: Sample) -> np.ndarray:
        if self.task == "segmentation":
            mask = sample.mask
            pos = np.clip(np.searchsorted(self._sorted, mask), 0, len(self._sorted) - 1)
            bad = self._sorted[pos] != mask
            if bad.any():
                raise DataError(None, f"sample {sample.id!r} has mask value {mask[bad].flat[0]} "
                                f"outside label_values {self.label_values}",
                                "pass label_values listing every mask value")
            index = self._order[pos]
        else:
            if sample.label not in self._index:
                raise DataError(None, f"sample {sample.id!r} has label {sample.label!r} outside "
                                f"label_values {self.label_values}", "pass label_values listing every class")
            index = np.asarray(self._index[sample.label])
        if self.one_hot:
            return np.eye(self.num_classes, dtype=np.float32)[index]
        return index.astype(np.int64)

    def __call__(self, sample: Sample) -> tuple[np.ndarray, np.ndarray]:
        return self.image(sample), self.target(sample)
