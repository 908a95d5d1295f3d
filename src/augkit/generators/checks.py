"""One set of training-data checks for every generator plugin, each refusal one line that names
the sample's file and the fix. A plugin says what it needs (masks, lesions, table rows, labels
all-or-none, a minimum count) and gets the same wording as every other plugin."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from augkit.errors import DataError, UsageError
from augkit.sample import Sample

MASKED_DATA_FIX = ("give a segmentation dataset (x.tif + x_mask.tif, image/ + label/, or BraTS with _seg), "
                   "or expand it with --generator none")


def source_file(sample: Any) -> str | None:
    """The file a sample was read from (its first source file), for error messages."""
    meta = getattr(sample, "meta", None) or {}
    files = meta.get("source_files") or meta.get("path")
    if isinstance(files, (list, tuple)):
        return str(files[0]) if files else None
    return files if isinstance(files, str) else None


def check_training_data(samples: Sequence[Sample] | None, generator: str, role: str = "training", *,
                        minimum: int = 1, one_kind: bool = True, masks: str | None = None,
                        need_lesion: bool = False, features: str | None = None,
                        labels_all_or_none: bool = False) -> list[Sample]:
    """``samples`` as a list, refused in one line when ``generator`` cannot learn from them:
    fewer than ``minimum``; not Samples; (``one_kind``) mixed channel counts or dtypes;
    (``masks``: why the generator needs them) a sample without an integer mask;
    (``need_lesion``) no lesion in any mask; (``features``: why) a sample without a table row;
    (``labels_all_or_none``) labels on some samples only."""
    samples = list(samples or [])
    if len(samples) < minimum:
        what = f"{role} samples" + (" with masks" if masks else "")
        if not samples:
            raise UsageError(f"{generator} needs {what}; received none.")
        raise DataError(None, f"{generator} needs at least {minimum} {what}, got {len(samples)}",
                        "give more " + ("image/mask pairs" if masks else "samples"))
    for s in samples:
        if not isinstance(s, Sample):
            raise UsageError(f"{generator} {role} samples must be augkit.Sample objects. "
                             f"Received: {type(s).__name__}")
    first = samples[0]
    for s in samples:
        if masks and s.mask is None:
            raise DataError(source_file(s), f"{role} sample {s.id!r} has no mask; "
                            f"{generator} {masks}", MASKED_DATA_FIX)
        if masks and not (np.issubdtype(s.mask.dtype, np.integer) or np.issubdtype(s.mask.dtype, np.bool_)):
            raise DataError(source_file(s), f"mask of {role} sample {s.id!r} has dtype {s.mask.dtype}, "
                            "expected integer labels", "save masks as integer label images")
        if features and s.features is None:
            raise DataError(source_file(s), f"{role} sample {s.id!r} has no table row; {generator} {features}",
                            "read the data with format 'tabimage' (table=..., id_column=...)")
        if one_kind and (s.image.shape[-1] != first.image.shape[-1] or s.image.dtype != first.image.dtype):
            raise DataError(source_file(s), f"{role} sample {s.id!r} is {s.image.shape[-1]}-channel "
                            f"{s.image.dtype}, but {first.id!r} is {first.image.shape[-1]}-channel "
                            f"{first.image.dtype}", "train on images of one kind (see channels=)")
    labelled = [s.label is not None for s in samples]
    if labels_all_or_none and any(labelled) and not all(labelled):
        odd = samples[labelled.index(not labelled[0])]
        raise DataError(source_file(odd), f"{role} sample {odd.id!r} "
                        + ("has no label while others have one" if labelled[0] else "has a label while others have none"),
                        "label every sample or none")
    if need_lesion and not any((s.mask > 0).any() for s in samples):
        raise DataError(source_file(first), f"{generator} found no lesion (mask > 0) in any of the "
                        f"{len(samples)} {role} masks", "give slices with lesions (BraTS: slices='tumour')")
    return samples
