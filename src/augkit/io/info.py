"""What ``augkit info DIR`` shows: a summary of a read dataset."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from augkit.io.base import Dataset
from augkit.io.labels import mask_label_findings


def read_for_info(directory: str | Path, format: str | None = None, **options: Any) -> Dataset:
    """Read a folder as ``read_dataset`` does (``options``: the format's read options), but let
    masks with label problems through: ``describe`` lists those problems instead of stopping at
    the first."""
    from augkit.io import TABLE_OPTIONS, detect_format, get_format, read_dataset
    from augkit.io.folder2d import Paired2DFormat

    if format is None and any(options.get(k) is not None for k in TABLE_OPTIONS):
        return read_dataset(directory, **options)  # says which --format the options need
    fmt = get_format(format) if format else detect_format(directory)
    lenient = {"labels": "as-is"} if isinstance(fmt, Paired2DFormat) else {}
    dataset = read_dataset(directory, format=fmt.name, **{**lenient, **options})
    if "labels" not in options:  # the header says what the user asked for, not info's leniency
        dataset.options = {k: v for k, v in dataset.options.items() if k != "labels"}
    return dataset


def _mask_name(sample) -> str:
    relpath = sample.meta.get("relpath") or {}
    return relpath.get("mask") or sample.id


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(s) for s in shape)


def describe_volumes(dataset: Dataset) -> dict[str, Any]:
    """``describe`` for NIfTI cases read whole (``unit="case"``), from what the reader found
    (headers, seg values) without loading a volume: both counts, cases and axial slices."""
    metas = dataset.samples.metas
    label_counts: Counter = Counter(v for m in metas for v in m["label_values"])
    channels = Counter(len(m.get("channel_names") or [0]) if m["format"] == "brats" else
                       (m.get("channels") or 1) for m in metas)
    return {
        "format": dataset.format, "root": str(dataset.root), "options": dict(dataset.options),
        "unit": "case", "num_samples": len(metas), "num_cases": len(metas),
        "num_slices": sum(m["num_slices"] for m in metas),
        "num_tumour_slices": sum(m["num_tumour_slices"] for m in metas),
        "image_shapes": dict(Counter(_shape_text(tuple(m["shape"])) for m in metas)),
        "dtypes": dict(Counter(m.get("dtype", "?") for m in metas)),
        "channels": sorted(channels),
        "channel_names": next(iter({tuple(m["channel_names"]) for m in metas if m.get("channel_names")}),
                              None),
        "num_with_mask": len(metas), "mask_dtypes": {},
        "label_values": {str(v): n for v, n in sorted(label_counts.items())},
        "classes": {}, "label_notes": [],
    }


def describe(dataset: Dataset) -> dict[str, Any]:
    """Format, sample count, image shapes and dtypes, channels, the label values found (each
    with the number of samples whose mask contains it) and notes on label values that look
    wrong (anti-aliasing, mixed conventions). JSON-serialisable. NIfTI data also gets both
    counts: cases and axial slices."""
    if dataset.options.get("unit") == "case":
        return describe_volumes(dataset)
    shapes = Counter(_shape_text(s.image.shape) for s in dataset)
    dtypes = Counter(str(s.image.dtype) for s in dataset)
    channels = sorted({int(s.image.shape[-1]) for s in dataset})
    label_counts: Counter = Counter()
    num_with_mask = 0
    for s in dataset:
        if s.mask is not None:
            num_with_mask += 1
            label_counts.update(int(v) for v in np.unique(s.mask))
    findings = mask_label_findings([(_mask_name(s), s.mask) for s in dataset if s.mask is not None])
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
        # likely anti-aliasing values, mixed label conventions (augkit.io.labels)
        "label_notes": [f.note() for f in findings],
        **_slice_counts(dataset),
    }


def _slice_counts(dataset: Dataset) -> dict[str, Any]:
    """NIfTI slices: how many cases they come from."""
    if dataset.format not in ("brats", "nifti"):
        return {}
    return {"unit": "slice", "num_cases": len({str(s.meta.get("group")) for s in dataset}),
            "num_slices": len(dataset)}


def format_description(d: dict[str, Any]) -> str:
    """Human-readable lines for ``describe``'s dict."""
    opts = ", ".join(f"{k}={v}" for k, v in d.get("options", {}).items())
    lines = [f"{d['root']}: {d['format']}" + (f" ({opts})" if opts else ""),
             f"  samples:   {d['num_samples']}"]
    if d.get("unit") == "case":
        lines.append(f"  unit:      case: {d['num_cases']} cases ({d['num_slices']} axial slices, "
                     f"{d['num_tumour_slices']} with a label; --unit slice expands those)")
    elif d.get("unit") == "slice":
        lines.append(f"  unit:      slice: {d['num_slices']} axial slices from {d['num_cases']} cases")
    lines.append("  images:    " + ", ".join(f"{shape} ({n})" for shape, n in d["image_shapes"].items()))
    lines.append("  dtypes:    " + ", ".join(f"{t} ({n})" for t, n in d["dtypes"].items()))
    channels = "/".join(str(c) for c in d["channels"])
    if d.get("channel_names"):
        channels += f" ({', '.join(d['channel_names'])})"
    lines.append(f"  channels:  {channels}")
    if d["num_with_mask"]:
        lines.append(f"  masks:     {d['num_with_mask']} of {d['num_samples']} samples"
                     + "".join(f", {t}" for t in d["mask_dtypes"]))
        lines.append("  labels:    " + ", ".join(
            f"{v} (in {n} samples)" for v, n in d["label_values"].items()))
        lines.extend(f"  warning:   {note}" for note in d.get("label_notes", []))
    else:
        lines.append("  masks:     none")
    if d.get("classes"):
        lines.append("  classes:   " + ", ".join(f"{c} ({n})" for c, n in d["classes"].items()))
    return "\n".join(lines)
