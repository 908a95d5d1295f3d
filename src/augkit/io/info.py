"""What ``augkit info DIR`` shows: a summary of a read dataset."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from augkit.io.base import Dataset


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(s) for s in shape)


def describe(dataset: Dataset) -> dict[str, Any]:
    """Format, sample count, image shapes and dtypes, channels, and the label values found
    (each with the number of samples whose mask contains it). JSON-serialisable."""
    shapes = Counter(_shape_text(s.image.shape) for s in dataset)
    dtypes = Counter(str(s.image.dtype) for s in dataset)
    channels = sorted({int(s.image.shape[-1]) for s in dataset})
    label_counts: Counter = Counter()
    num_with_mask = 0
    for s in dataset:
        if s.mask is not None:
            num_with_mask += 1
            label_counts.update(int(v) for v in np.unique(s.mask))
    names = {tuple(s.meta["channel_names"]) for s in dataset if s.meta.get("channel_names")}
    classes = Counter(str(s.label) for s in dataset if s.label is not None)
    return {
        "format": dataset.format,
        "root": str(dataset.root),
        "options": dict(dataset.options),
        "num_samples": len(dataset),
        "image_shapes": dict(shapes),
        "dtypes": dict(dtypes),
        "channels": channels,
        "channel_names": list(next(iter(names))) if len(names) == 1 else None,
        "num_with_mask": num_with_mask,
        "mask_dtypes": dict(Counter(str(s.mask.dtype) for s in dataset if s.mask is not None)),
        # str keys so the dict survives a JSON round trip unchanged
        "label_values": {str(v): n for v, n in sorted(label_counts.items())},
        "classes": dict(sorted(classes.items())),
    }


def format_description(d: dict[str, Any]) -> str:
    """Human-readable lines for ``describe``'s dict."""
    opts = ", ".join(f"{k}={v}" for k, v in d.get("options", {}).items())
    lines = [f"{d['root']}: {d['format']}" + (f" ({opts})" if opts else ""),
             f"  samples:   {d['num_samples']}"]
    lines.append("  images:    " + ", ".join(f"{shape} ({n})" for shape, n in d["image_shapes"].items()))
    lines.append("  dtypes:    " + ", ".join(f"{t} ({n})" for t, n in d["dtypes"].items()))
    channels = "/".join(str(c) for c in d["channels"])
    if d.get("channel_names"):
        channels += f" ({', '.join(d['channel_names'])})"
    lines.append(f"  channels:  {channels}")
    if d["num_with_mask"]:
        lines.append(f"  masks:     {d['num_with_mask']} of {d['num_samples']} samples, "
                     + ", ".join(d["mask_dtypes"]))
        lines.append("  labels:    " + ", ".join(
            f"{v} (in {n} samples)" for v, n in d["label_values"].items()))
    else:
        lines.append("  masks:     none")
    if d.get("classes"):
        lines.append("  classes:   " + ", ".join(f"{c} ({n})" for c, n in d["classes"].items()))
    return "\n".join(lines)
