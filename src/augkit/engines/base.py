"""The engine interface: ``Work`` (one kind of item-by-item work) and ``Engine`` (where it runs
and with which options). It imports no runner; ``augkit.engines`` dispatches to the local loop
or to ``augkit.engines.ray``, which imports this module and never the package that picks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from augkit.errors import UsageError

ENGINES = ("local", "ray")
RAY_INSTALL_HINT = 'pip install -e ".[ray]"'


class Work(Protocol):
    """One kind of item-by-item work; picklable, so Ray can ship it to its workers."""

    def run(self, item: int) -> Any: ...


@dataclass(frozen=True)
class Engine:
    """``name``: local or ray. The rest is for ray only: ``address`` of a running cluster
    (None: ``RAY_ADDRESS`` or a local cluster started for this run), ``num_workers`` tasks at a
    time (None: one per CPU, or per ``gpus_per_worker`` GPUs), ``chunk_size`` items per task
    (None: about eight chunks per worker), ``max_retries`` per task after a worker dies."""

    name: str = "local"
    address: str | None = None
    num_workers: int | None = None
    chunk_size: int | None = None
    gpus_per_worker: float = 0.0
    max_retries: int = 3

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise UsageError(f"--engine must be one of {', '.join(ENGINES)}. Received: {self.name!r}")
        if self.name == "local":
            given = [opt for opt, value in (("--address", self.address), ("--num-workers", self.num_workers),
                                            ("--chunk-size", self.chunk_size),
                                            ("--gpus-per-worker", self.gpus_per_worker or None))
                     if value is not None]
            if given:
                raise UsageError(f"{', '.join(given)} only apply with --engine ray; add --engine ray or "
                                 "leave them out.")
        for option, value in (("--num-workers", self.num_workers), ("--chunk-size", self.chunk_size)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise UsageError(f"{option} must be a whole number >= 1. Received: {value!r}")
        if not self.gpus_per_worker >= 0:
            raise UsageError(f"--gpus-per-worker must be >= 0. Received: {self.gpus_per_worker!r}")
        if not (isinstance(self.max_retries, int) and self.max_retries >= 0):
            raise UsageError(f"max_retries must be a whole number >= 0. Received: {self.max_retries!r}")

    @classmethod
    def of(cls, engine: "Engine | str | None", **options: Any) -> "Engine":
        """An Engine from what an API caller passed: an Engine, a name, or None (local)."""
        if isinstance(engine, Engine):
            if options:
                raise UsageError(f"engine options {sorted(options)} given beside an Engine; put them in it.")
            return engine
        return cls(name=engine or "local", **options)
