"""NIfTI cases as whole volumes (``unit="case"``, the default for 3D input).

A case becomes one Sample whose image is X×Y×Z×C (nibabel's voxel order, modalities or image
channels last) and whose mask is the X×Y×Z label volume. A BraTS case is ~71 MB of int16, so
reading a folder does not load the cases: the readers in ``augkit.io.nifti`` check every file
(``augkit.io.nifti_file``) and hand back a ``LazySamples`` sequence that loads a case when it is
indexed and keeps nothing. ``LazySamples.metas`` gives each case's ``meta`` (group, shape,
label values, slice counts) without loading anything, for planning and ``augkit info``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from augkit.sample import Sample


class LazySamples(Sequence):
    """Samples loaded on demand: ``seq[i]`` reads case i from disk (nothing is cached, so one
    case at a time is in memory); ``metas`` are known without loading."""

    def __init__(self, metas: list[dict[str, Any]], load: Callable[[int], Sample]):
        self.metas = metas
        self._load = load

    def __len__(self) -> int:
        return len(self.metas)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._load(j) for j in range(len(self))[i]]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return self._load(i % len(self))

    def __iter__(self):
        return (self._load(i) for i in range(len(self)))


__all__ = ["LazySamples"]
