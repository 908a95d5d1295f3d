"""Mask label checks across a whole dataset: one label convention, no anti-aliasing remnants.

Two mistakes that single masks cannot show and that ``expand`` would otherwise copy into every
variant:

- mixed conventions: some masks store the foreground as 255 (``{0, 255}``), others as 1
  (``{0, 1}``), so one class ends up under two label values;
- anti-aliasing: a value such as 128 that a resize or a soft brush left on the edges of a few
  masks. It is recognised as a value found in few masks (at most half of them) that, in every
  mask that has it, covers few pixels (at most ``ANTIALIAS_MAX_SHARE`` of the mask), lies
  between the mask's lowest and highest labels, and sits almost only (``ANTIALIAS_EDGE_SHARE``
  of its pixels) on edges where it touches both a lower and a higher label. A real small class
  (a lesion core inside oedema) does not touch both; a real boundary class (cell contours
  between background and interior) is in most masks;
- a stray value anywhere: in a set of two-label masks (``{0, 255}``), a value between the two
  labels found in few masks (at most half) and covering few pixels of each, wherever it lies
  (edge, interior or scattered), is not a class either.

``mask_label_findings`` reports both; ``check_mask_labels`` turns the first finding into a
``DataError`` (the ``paired2d`` reader runs it; ``augkit info`` lists the findings instead).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from augkit.errors import DataError

ANTIALIAS_MAX_SHARE = 0.05
ANTIALIAS_EDGE_SHARE = 0.9
_CONVENTIONS = {(255,): "{0, 255}", (1,): "{0, 1}"}  # non-zero labels of a binary mask


@dataclass
class LabelFinding:
    kind: str  # "mixed-convention" | "anti-aliasing" | "stray-value"
    problem: str
    fix: str
    path: Path | None = None
    names: list[str] = field(default_factory=list)
    value: int | float | None = None  # the label value the finding is about (anti-aliasing, stray)

    def note(self) -> str:
        return f"{self.problem}. Fix: {self.fix}"


def _between_labels(mask: np.ndarray, value) -> np.ndarray:
    """For the pixels equal to ``value``: whether a lower and a higher label are among their
    8 neighbours."""
    padded = np.pad(mask, 1, mode="edge")
    h, w = mask.shape
    shifts = [padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
              for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    at = mask == value
    lower = np.zeros_like(at)
    higher = np.zeros_like(at)
    for s in shifts:
        lower |= s < value
        higher |= s > value
    return (lower & higher)[at]


def _antialias_candidates(mask: np.ndarray) -> set:
    values, counts = np.unique(mask, return_counts=True)
    found = set()
    if len(values) < 3:
        return found
    for v, n in zip(values[1:-1].tolist(), counts[1:-1].tolist()):
        if n / mask.size <= ANTIALIAS_MAX_SHARE and \
                _between_labels(mask, v).mean() >= ANTIALIAS_EDGE_SHARE:
            found.add(v)
    return found


def mask_label_findings(masks: Sequence[tuple[str, np.ndarray]]) -> list[LabelFinding]:
    """``masks``: (name or path, H×W labels) pairs. Anti-aliasing findings first."""
    findings: list[LabelFinding] = []
    present: dict = {}  # value -> names of the masks that have it
    candidate: dict = {}  # value -> names of the masks where it looks like anti-aliasing
    pixels: dict = {}
    conventions: dict[str, list[str]] = {}
    labels: dict[str, set] = {}  # name -> its label values
    small: dict = {}  # value -> pixels in the masks where it is a small share between two labels
    for name, mask in masks:
        values, counts = np.unique(mask, return_counts=True)
        labels[name] = set(values.tolist())
        for v, n in zip(values[1:-1].tolist(), counts[1:-1].tolist()):
            if n / mask.size <= ANTIALIAS_MAX_SHARE:
                small.setdefault(v, {})[name] = n
        values = values.tolist()
        for v in values:
            present.setdefault(v, []).append(name)
        for v in _antialias_candidates(mask):
            candidate.setdefault(v, []).append(name)
            pixels[v] = pixels.get(v, 0) + int((mask == v).sum())
        kind = _CONVENTIONS.get(tuple(v for v in values if v != 0))
        if kind:
            conventions.setdefault(kind, []).append(name)
    for v in sorted(candidate):
        if len(candidate[v]) == len(present[v]) <= max(1, len(masks) // 2):
            names = candidate[v]
            more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
            findings.append(LabelFinding(
                "anti-aliasing",
                f"mask value {v} covers only {pixels[v]} pixels in {len(names)} of {len(masks)} "
                f"masks ({Path(str(names[0])).name}{more}), always on edges between a lower and a "
                "higher label: likely anti-aliasing, not a class",
                f"re-save those masks without smoothing (nearest-neighbour resize, hard brush) or "
                f"map {v} to the nearest real label",
                Path(str(names[0])), names, value=v))
    for v in sorted(set(small) - {f.value for f in findings}):
        names = present[v]
        if len(small[v]) < len(names):
            continue  # a large share (or a lowest/highest label) in some mask: a class
        others = set().union(*(labels[n] for n in labels if v not in labels[n]))
        if len(names) <= max(1, len(masks) // 2) and len(others) == 2 and min(others) < v < max(others):
            more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
            findings.append(LabelFinding(
                "stray-value",
                f"mask value {v} covers only {sum(small[v].values())} pixels in {len(names)} of "
                f"{len(masks)} masks ({Path(str(names[0])).name}{more}), while the other masks hold "
                f"only {sorted(others)}: a stray value, not a class",
                f"set those pixels to {min(others)} or {max(others)} (or re-save the masks without "
                "smoothing)", Path(str(names[0])), list(names), value=v))
    if len(conventions) > 1:
        (kind_a, a), (kind_b, b) = sorted(conventions.items(), key=lambda kv: -len(kv[1]))[:2]
        more = f" (and {len(a) - 1} more)" if len(a) > 1 else ""
        findings.append(LabelFinding(
            "mixed-convention",
            f"mask has labels {kind_b} but {Path(str(a[0])).name}{more} has {kind_a}: the masks "
            "mix two label conventions for the same class",
            f"save all masks with one convention (e.g. relabel the {len(b)} {kind_b} mask(s) "
            f"as {kind_a})",
            Path(str(b[0])), b))
    return findings


def check_mask_labels(masks: Sequence[tuple[Path, np.ndarray]]) -> None:
    """Raise ``DataError`` for the first finding of ``mask_label_findings``; the fix also names
    the read option that reads such masks as they are."""
    findings = mask_label_findings(masks)
    if findings:
        f = findings[0]
        raise DataError(f.path, f.problem, f"{f.fix}; or, to read the masks as they are, "
                        "--read-option labels=as-is (Python: labels='as-is')")


__all__ = ["LabelFinding", "check_mask_labels", "mask_label_findings"]
