"""``ExpandOptions``: everything an ``augkit expand`` run is asked, in one frozen record.

The command line builds it once (``ExpandOptions.build``) and so may a script; the API reads
the dataset once and hands the run the record with the objects it resolved (dataset, transform
pipeline, generator), so no option is threaded through a chain of parameters. Checks that need
nothing but the option itself happen here, before any file is read.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from augkit.engines.base import Engine
from augkit.errors import UsageError
from augkit.transforms.blend import GAN_REGIONS


@dataclass(frozen=True)
class Shard:
    """``--shard i/k``: this run makes the output indices ``i, i+k, …`` only."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        try:
            i, k = (int(part) for part in text.split("/"))
        except ValueError:
            raise UsageError(f"--shard must look like i/k (e.g. 0/4). Received: {text!r}") from None
        if not (k >= 1 and 0 <= i < k):
            raise UsageError(f"--shard i/k needs 0 <= i < k. Received: {text!r}")
        return cls(i, k)

    def owns(self, index: int) -> bool:
        return index % self.count == self.index


@dataclass(frozen=True)
class ExpandOptions:
    """``target`` samples in all (reals included), made with ``seed``. The input: ``format``
    (None: detected) and its ``read_options`` (NIfTI's ``unit``/``slices`` among them). The
    classical transforms: ``preset`` (a name or a YAML/JSON file; None: the seeds' set). A
    generator: its ``generator`` name ("auto", the command line's default: chosen from the data
    by ``augkit.expand.auto``; None: classical only), a saved ``model_dir`` (None: train one on the input
    first, with ``train_options``), the ``gan_fraction`` of new indices it makes, the
    ``gan_region`` it paints (image or lesion), ``drop_near_copies`` (an NCC threshold). The
    run: ``balance`` classes (None: on for labelled data without masks), this ``shard`` only,
    ``overwrite`` an earlier output, show ``progress``, on ``engine``."""

    target: int
    seed: int = 0
    format: str | None = None
    read_options: Mapping[str, Any] = field(default_factory=dict)
    preset: str | None = None
    generator: str | None = None
    model_dir: Path | None = None
    train_options: Mapping[str, Any] = field(default_factory=dict)
    gan_fraction: float = 0.5
    gan_region: str = "image"
    drop_near_copies: float | None = None
    balance: bool | None = None
    shard: Shard = Shard(0, 1)
    overwrite: bool = False
    progress: bool = True
    engine: Engine = Engine()

    def __post_init__(self) -> None:
        if not (isinstance(self.target, int) and self.target >= 1):
            raise UsageError(f"--to must be a whole number >= 1. Received: {self.target!r}")
        if not 0.0 <= self.gan_fraction <= 1.0:
            raise UsageError(f"--gan-fraction must be in [0, 1]. Received: {self.gan_fraction}")
        if self.gan_region not in GAN_REGIONS:
            raise UsageError(f"--gan-region must be one of {', '.join(GAN_REGIONS)}. "
                             f"Received: {self.gan_region!r}")
        if self.generator == "none":
            object.__setattr__(self, "generator", None)
        if self.model_dir is not None and self.generator in (None, "auto"):
            raise UsageError("--model needs --generator NAME (the generator that made the model).")
        if self.model_dir is not None:
            object.__setattr__(self, "model_dir", Path(self.model_dir))
        # Read-only views: the record is shared by the API, the run and (pickled) Ray workers.
        object.__setattr__(self, "read_options", MappingProxyType(dict(self.read_options)))
        object.__setattr__(self, "train_options", MappingProxyType(dict(self.train_options or {})))

    @classmethod
    def build(cls, target: int, *, unit: str | None = None, slices: str | None = None,
              read_options: Mapping[str, Any] | None = None, shard: str | Shard | None = None,
              engine: Engine | str | None = None, address: str | None = None,
              num_workers: int | None = None, chunk_size: int | None = None,
              gpus_per_worker: float | None = None, train_options: Mapping[str, Any] | None = None,
              **options: Any) -> "ExpandOptions":
        """The record from what a user types: ``--unit``/``--slices`` folded into the read
        options, ``--shard i/k`` parsed, the engine and its options made into an ``Engine``."""
        engine_options = {k: v for k, v in (("address", address), ("num_workers", num_workers),
                                             ("chunk_size", chunk_size), ("gpus_per_worker", gpus_per_worker))
                          if v is not None}
        unknown = sorted(set(options) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise UsageError(f"unknown expand option(s) {unknown}; see ExpandOptions for the names.")
        return cls(target=target, read_options=read_options_for(unit, slices, read_options),
                   shard=Shard.parse(shard) if isinstance(shard, str) else (shard or Shard(0, 1)),
                   engine=Engine.of(engine, **engine_options), train_options=train_options or {}, **options)


def read_options_for(unit: str | None, slices: str | None,
                     others: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The read options given on the command line: ``--unit``/``--slices`` (NIfTI) and the
    ``--read-option KEY=VALUE`` ones (none: each format's defaults)."""
    named = {k: v for k, v in (("unit", unit), ("slices", slices)) if v}
    others = dict(others or {})
    twice = sorted(k for k in named if k in others)
    if twice:
        raise UsageError(f"{', '.join(twice)} given both as --{twice[0]} and as --read-option "
                         f"{twice[0]}=...; give it once.")
    return {**others, **named}
