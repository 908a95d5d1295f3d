"""Where the work of ``expand`` and ``generate`` runs: in this process (``local``, the default)
or as tasks on a Ray cluster (``ray``, see ``augkit.engines.ray``).

Both engines run the same work object on the same items (output indices for expand, shard
numbers for generate): ``work.run(item)`` makes one item and writes its files; the caller's
``on_done(items, results)`` is called in the driver as chunks finish (progress, features). The
item's seed decides its bytes, so the output does not depend on the engine, the number of
workers or the chunk size. Ray is imported only when ``ray`` is asked for.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from augkit.engines.base import ENGINES, RAY_INSTALL_HINT, Engine, Work
from augkit.errors import UsageError

__all__ = ["ENGINES", "Engine", "Work", "check", "import_ray_engine", "interruptible", "run"]

def run(work: Work, items: Sequence[int], engine: Engine | None,
        on_done: Callable[[list[int], list[Any]], None]) -> None:
    """Run ``work`` on every item, here or on Ray; ``on_done`` sees each finished chunk."""
    engine = engine or Engine()
    if not items:
        return  # nothing left (a resumed, finished run): no cluster is started for nothing
    if engine.name == "local":
        for item in items:
            on_done([item], [work.run(item)])
        return
    ray_engine = import_ray_engine()
    ray_engine.run(work, list(items), engine, on_done)


def check(engine: Engine | None) -> None:
    """Before anything is written: with ``ray``, Ray is installed and the cluster at
    ``--address`` answers (Ray itself would wait minutes for a wrong address)."""
    if engine is not None and engine.name == "ray":
        import_ray_engine().check_address(engine.address)


def import_ray_engine():
    """``augkit.engines.ray``, or one line saying how to install Ray."""
    import importlib

    try:
        importlib.import_module("ray")  # the engine module imports it at its top
    except ImportError:
        raise UsageError(f"--engine ray needs Ray, which is not installed here. Fix: {RAY_INSTALL_HINT} "
                         "(or use --engine local).") from None
    from augkit.engines import ray as ray_engine

    return ray_engine


@contextmanager
def interruptible(bar: Any, kept: str) -> Iterator[None]:
    """Close the progress ``bar`` however the run ends; on Ctrl-C also say what is ``kept`` and
    how to go on, then let the interrupt through."""
    try:
        yield
    except KeyboardInterrupt:
        bar.close()
        print(f"augkit: interrupted; {kept}", file=sys.stderr)
        raise
    bar.close()
