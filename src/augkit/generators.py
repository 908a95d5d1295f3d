"""The generator contract every GAN plugin implements. Training helpers shared by the GAN
plugins (differentiable augmentation, checkpoints, history, grids) live in ``augkit.training``."""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from augkit.sample import Sample

TASKS = frozenset({"segmentation", "classification", "unconditional", "image+tabular"})


class Generator(abc.ABC):
    """A trainable source of synthetic Samples.

    Subclasses set ``name`` and ``tasks`` and implement the five methods. ``get_config()`` must
    return JSON-able values from which ``cls(**config)`` rebuilds an untrained twin, seed included.
    """

    name: ClassVar[str]
    tasks: ClassVar[frozenset[str]]

    @abc.abstractmethod
    def get_config(self) -> dict[str, Any]: ...

    @abc.abstractmethod
    def fit(self, train_samples: Sequence[Sample], *, val_samples: Sequence[Sample] | None = None,
            epochs: int | None = None, seed: int = 0, checkpoint_dir: str | Path | None = None,
            progress: bool = True) -> dict[str, list[float]]:
        """Train; return the loss history (metric name -> value per epoch). Resumes from the
        newest checkpoint in ``checkpoint_dir`` when one is there."""

    @abc.abstractmethod
    def generate(self, num_samples: int, *, seed: int, conditions: Sequence[Any] | None = None,
                 batch_size: int = 16) -> Iterator[Sample]:
        """Yield ``num_samples`` Samples with source ``gan``. For a segmentation generator
        ``conditions`` are H×W label maps and each yielded Sample carries that exact mask."""

    @abc.abstractmethod
    def save(self, directory: str | Path) -> None:
        """Write config and weights (Keras native format) into ``directory``."""

    @classmethod
    @abc.abstractmethod
    def load(cls, directory: str | Path) -> "Generator":
        """Rebuild from ``save`` output; refuses folders of other generators or newer formats."""

    @property
    @abc.abstractmethod
    def checkpoint_hash(self) -> str:
        """A short hash of the current weights, recorded in every GAN sample's provenance."""
