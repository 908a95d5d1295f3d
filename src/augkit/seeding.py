"""Seeds everywhere, no global random state: every unit of work gets its own generator derived
from (seed, index, ...), so a run can be split into shards or resumed and give the same bytes."""

from __future__ import annotations

import numpy as np


def derive_seed(*keys: int) -> int:
    """A 32-bit seed that depends only on ``keys`` (e.g. (run seed, sample index))."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])


def rng_for(*keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in keys]))
