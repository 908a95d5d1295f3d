"""The one record type that flows through augkit: readers make Samples, writers write them,
transforms and generators return new ones, the sampler yields them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Source = Literal["real", "classical", "gan", "gan+classical"]
SOURCES = ("real", "classical", "gan", "gan+classical")


@dataclass(frozen=True)
class Provenance:
    """How a sample came to be. One manifest row per sample is built from this."""

    id: str
    source: Source = "real"
    parent_id: str | None = None
    generator: str | None = None
    checkpoint_hash: str | None = None
    seed: int | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"Provenance.source must be one of {SOURCES}. Received: {self.source!r}")


@dataclass
class Sample:
    """One training example.

    ``image`` is H×W×C (always 3-D, channels last); ``mask`` is H×W integer labels or None.
    A volume (a NIfTI case read with ``unit="case"``) is X×Y×Z×C with an X×Y×Z mask, in
    nibabel's voxel order; ``is_volume`` tells the two apart.
    ``meta`` carries what a writer needs to give the user back their own format (source file
    paths, NIfTI affine and header, the relative layout); transforms pass it through unchanged.
    """

    image: np.ndarray
    provenance: Provenance
    mask: np.ndarray | None = None
    label: str | int | None = None
    features: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.image.ndim == 2:
            self.image = self.image[..., None]
        if self.image.ndim not in (3, 4):
            raise ValueError("Sample.image must be H×W×C (or X×Y×Z×C for a volume). "
                             f"Received: image.shape={self.image.shape}")
        if self.mask is not None:
            if self.image.ndim == 3 and self.mask.ndim == 3 and self.mask.shape[-1] == 1:
                self.mask = self.mask[..., 0]
            if self.mask.shape != self.image.shape[:-1]:
                raise ValueError(
                    f"Sample.mask must be {'X×Y×Z' if self.is_volume else 'H×W'} matching the image. "
                    f"Received: image.shape={self.image.shape}, mask.shape={self.mask.shape}"
                )

    @property
    def is_volume(self) -> bool:
        return self.image.ndim == 4

    @property
    def group(self) -> str:
        """The case or patient the sample belongs to: ``meta["group"]`` where its reader knows
        it (BraTS case, LGG patient folder, patient-table row), else the sample on its own.
        What ``expand`` spreads parents over and what a train/test split must keep apart."""
        return str(self.meta.get("group") or self.id)

    @property
    def id(self) -> str:
        return self.provenance.id

    def derive(self, *, image: np.ndarray | None = None, mask: np.ndarray | None = None,
               provenance: Provenance, **changes: Any) -> "Sample":
        """A new Sample built from this one: same label, features and meta unless changed."""
        return dataclasses.replace(
            self,
            image=self.image if image is None else image,
            mask=self.mask if mask is None else mask,
            provenance=provenance,
            **changes,
        )
