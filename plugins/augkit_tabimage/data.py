"""Between Samples and network tensors: images become size×size arrays in [-1, 1] (and back, in
their own dtype), table rows go through ``augkit.tables.encoding.TablePreprocessor``. A sample's
``label`` rides along as one more table column, so the generator makes it too."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from augkit.errors import DataError
from augkit.generators.checks import check_training_data, source_file
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
    """Samples fit to train on: each with a table row, one channel count and image dtype,
    labels on all or none, and no feature column named like the label's."""
    samples = check_training_data(samples, "tabimage", role, minimum=minimum,
                                  features="learns image and row together", labels_all_or_none=True)
    for s in samples:
        if LABEL_COLUMN in s.features:
            raise DataError(source_file(s), f"feature column {LABEL_COLUMN!r} is reserved", "rename that column")
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

