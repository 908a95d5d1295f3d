"""Training within a wall-clock budget: a benchmark on a shared machine has minutes, not a
number of epochs, and a GAN stopped mid-way must still end on a whole chunk of epochs (a saved,
resumable checkpoint)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path


def fit_within_budget(generator, samples: Sequence, *, minutes: float, chunk: int, seed: int,
                      checkpoint_dir: Path, progress: bool = False,
                      on_chunk: Callable[[int, float], None] | None = None,
                      clock: Callable[[], float] = time.perf_counter) -> float:
    """Fit ``generator`` ``chunk`` epochs at a time up to its profile's epochs, and stop before a
    chunk that the mean epoch time so far says would end past ``minutes``. ``on_chunk(epochs,
    seconds)`` is told after each chunk. Returns the seconds spent."""
    budget = minutes * 60.0
    started = clock()
    while generator.epochs_trained < generator.profile.epochs:
        target = min(generator.profile.epochs, generator.epochs_trained + chunk)
        generator.fit(samples, epochs=target, seed=seed, checkpoint_dir=checkpoint_dir, progress=progress)
        spent = clock() - started
        if on_chunk is not None:
            on_chunk(generator.epochs_trained, spent)
        if spent + spent / generator.epochs_trained * chunk > budget:
            break
    return clock() - started
