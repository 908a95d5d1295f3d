"""Between Samples and network tensors: images become size×size arrays in [-1, 1] (and back, in
their own dtype), table rows go through ``augkit.tables.encoding.TablePreprocessor``. A sample's
``label`` rides along as one more table column, so the generator makes it too."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from augkit.errors import DataError, UsageError
from augkit.transforms.intensity import IntensityScale, resize_image
from augkit.sample import Sample
from augkit.tables.encoding import rows_to_frame

LABEL_COLUMN = "__label__"
MIN_TRAIN_SAMPLES = 2


@dataclass(frozen=True)
class ImageSpec(IntensityScale):
    """Channel count, dtype and per-channel intensity range of the training images."""

    #: the training images' height and width when they all share one (generated images are
    #: resized to it, like every augkit generator's); None: the model's own size
    shape: tuple[int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ImageSpec":
        shape = d.get("shape")
        return cls(int(d["num_channels"]), str(d["dtype"]), tuple(float(v) for v in d["low"]),
                   tuple(float(v) for v in d["high"]), None if shape is None else (int(shape[0]), int(shape[1])))

    @classmethod
    def from_samples(cls, samples: Sequence[Sample]) -> "ImageSpec":
        """uint8 maps exactly (x / 127.5 - 1); other dtypes by the 0.5-99.5th percentiles per
        channel, so a few hot pixels do not squash the rest."""
        first = samples[0].image
        c = first.shape[-1]
        shapes = {s.image.shape[:2] for s in samples}
        shape = tuple(int(v) for v in shapes.pop()) if len(shapes) == 1 else None
        if first.dtype == np.uint8:
            return cls(c, "uint8", (0.0,) * c, (255.0,) * c, shape)
        stacked = np.concatenate([s.image.reshape(-1, c) for s in samples]).astype(np.float64)
        low = tuple(float(np.percentile(stacked[:, i], 0.5)) for i in range(c))
        high = tuple(max(float(np.percentile(stacked[:, i], 99.5)), lo + 1e-6) for i, lo in enumerate(low))
        return cls(c, np.dtype(first.dtype).name, low, high, shape)



def check_samples(samples: Sequence[Sample], role: str, *, minimum: int) -> list[Sample]:
    """Samples fit to train on: each with a table row, one channel count and image dtype."""
    samples = list(samples)
    if len(samples) < minimum:
        raise DataError(None, f"tabimage needs at least {minimum} {role} samples, got {len(samples)}",
                        "give more image + table samples")
    first = samples[0]
    has_label = first.label is not None
    for s in samples:
        if not isinstance(s, Sample):
            raise UsageError(f"tabimage {role} samples must be augkit.Sample objects. "
                             f"Received: {type(s).__name__}")
        where = (s.meta.get("source_files") or [None])[0]
        if s.features is None:
            raise DataError(where, f"{role} sample {s.id!r} has no table row; tabimage learns image "
                            "and row together", "read the data with format 'tabimage' (table=..., "
                            "id_column=...)")
        if s.image.shape[-1] != first.image.shape[-1] or s.image.dtype != first.image.dtype:
            raise DataError(where, f"{role} sample {s.id!r} is {s.image.shape[-1]}-channel "
                            f"{s.image.dtype}, but {first.id!r} is {first.image.shape[-1]}-channel "
                            f"{first.image.dtype}", "train on images of one kind (see channels=)")
        if (s.label is not None) != has_label:
            raise DataError(where, f"{role} sample {s.id!r} {'lacks' if has_label else 'has'} a label "
                            f"while {first.id!r} {'has' if has_label else 'lacks'} one",
                            "give every sample a label or none")
        if LABEL_COLUMN in s.features:
            raise DataError(where, f"feature column {LABEL_COLUMN!r} is reserved", "rename that column")
    return samples


def samples_frame(samples: Sequence[Sample]) -> pd.DataFrame:
    """The samples' rows as a DataFrame; their labels (if any) as column ``__label__``."""
    frame = rows_to_frame([s.features for s in samples])
    if samples and samples[0].label is not None:
        frame[LABEL_COLUMN] = [s.label for s in samples]
    return frame


def image_batch(samples: Sequence[Sample], spec: ImageSpec, size: int) -> np.ndarray:
    return np.stack([resize_image(spec.to_unit(s.image), (size, size)) for s in samples]).astype(np.float32)


def split_label(row: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    row = dict(row)
    label = row.pop(LABEL_COLUMN, None)
    return row, label

