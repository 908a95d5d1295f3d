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


# ---- the saved-model folder every generator writes: config.json (written last) + weight files

CONFIG_FILE = "config.json"


def save_weight_files(directory: str | Path, pairs: Sequence[tuple[Any, str]]) -> None:
    """``model.save_weights`` for each (model, file name), each file appearing atomically."""
    import os

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for model, name in pairs:
        tmp = directory / f".tmp-{name}"  # keeps the .weights.h5 ending Keras requires
        model.save_weights(tmp)
        os.replace(tmp, directory / name)


def write_saved_config(directory: str | Path, meta: dict[str, Any]) -> None:
    """Written last: a folder with a config.json holds complete weights."""
    import json

    from augkit.io.base import atomic_write_bytes

    atomic_write_bytes(Path(directory) / CONFIG_FILE, json.dumps(meta, indent=1).encode())


def read_saved_config(directory: str | Path, generator_name: str, format_version: int) -> dict[str, Any]:
    """The config.json of a saved model, refusing folders of other generators or newer formats."""
    import json

    from augkit.errors import ModelError

    directory = Path(directory)
    try:
        meta = json.loads((directory / CONFIG_FILE).read_text())
    except FileNotFoundError:
        raise ModelError(f"{directory}: no saved model here ({CONFIG_FILE} missing). Fix: give the "
                         "folder written by `augkit train` (or the generator's save()).") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"{directory}: {CONFIG_FILE} is unreadable ({exc}). Fix: save the model "
                         "again.") from None
    if not isinstance(meta, dict) or meta.get("generator") != generator_name:
        other = meta.get("generator") if isinstance(meta, dict) else None
        raise ModelError(f"{directory}: holds a {other!r} model, not a {generator_name} one. Fix: load "
                         f"it with the {other!r} generator or give a {generator_name} model folder.")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > format_version:
        raise ModelError(f"{directory}: model format version {version!r} is newer than this augkit "
                         f"reads (up to {format_version}). Fix: upgrade augkit.")
    return meta


def load_weight_files(directory: str | Path, pairs: Sequence[tuple[Any, str]]) -> None:
    from augkit.errors import ModelError

    directory = Path(directory)
    for model, name in pairs:
        try:
            model.load_weights(directory / name)
        except Exception as exc:  # h5py/Keras raise many kinds for a bad file
            raise ModelError(f"{directory / name}: weights cannot be loaded "
                             f"({type(exc).__name__}). Fix: save the model again.") from None
