"""What an ``expand`` run wrote per class and source (real, classical, generated), read back
from its manifest: the check that class balancing did what it says."""

from __future__ import annotations

from pathlib import Path

from augkit.expand.manifest import read_manifest


def class_source_counts(manifest: Path) -> dict[str, dict[str, int]]:
    """Class → source → samples, for a class-folder output (``files`` is ``<class>/<name>``)."""
    counts: dict[str, dict[str, int]] = {}
    for row in read_manifest(manifest):
        label = row["files"].split("/", 1)[0]
        counts.setdefault(label, {}).setdefault(row["source"], 0)
        counts[label][row["source"]] += 1
    return counts
