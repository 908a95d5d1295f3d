"""Domain exceptions. Only ``cli.py`` turns them into click errors (exit status 2).

Every message says what happened, names the file, and says how to fix it, on one line.
"""

from __future__ import annotations

from pathlib import Path


class AugkitError(Exception):
    """Base class for every error augkit raises on purpose."""


class DataError(AugkitError):
    """The input data is unusable: missing, empty, corrupt, mismatched or mislabelled."""

    def __init__(self, path: str | Path | None, problem: str, fix: str | None = None):
        self.path = None if path is None else Path(path)
        self.problem = problem
        self.fix = fix
        where = f"{self.path}: " if self.path is not None else ""
        tail = f" Fix: {fix}" if fix else ""
        super().__init__(f"{where}{problem}.{tail}")


class UsageError(AugkitError):
    """Arguments that cannot work together (target too small, output inside input, ...)."""


class PluginError(AugkitError):
    """A plugin failed to load, registered something invalid, or a name is unknown."""


class ModelError(AugkitError):
    """A saved generator cannot be loaded or trained as asked."""


class ProvenanceError(AugkitError):
    """A cached or reference result was made on other code or data than the run that reads it."""

    def __init__(self, what: str | Path, recorded: str | None, current: str | None):
        self.what, self.recorded, self.current = what, recorded, current
        super().__init__(f"{what}: made on code {recorded or 'of unknown hash'}, this is code {current}; "
                         "its result cannot stand for this code. Fix: delete it (or point the run at a "
                         "fresh --work folder) so it is made again on this code.")
