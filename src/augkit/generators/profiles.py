"""Named settings profiles of the GAN plugins (``tiny`` for tests, ``cpu`` for this kind of
machine, ``paper`` for a seed's full size): one way for every plugin to pick a profile, apply
``--set`` overrides and refuse out-of-range values, each refusal one line naming the setting."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from augkit.errors import UsageError

P = TypeVar("P")


def named_profile(generator: str, profiles: Mapping[str, P], name: str, overrides: Mapping[str, Any]) -> P:
    """``profiles[name]`` with ``overrides`` applied. Lists given for tuple settings (JSON and
    ``--set`` give lists) become tuples, so a config compares equal after a save and load."""
    if name not in profiles:
        raise UsageError(f"unknown {generator} profile {name!r}; known profiles: {', '.join(sorted(profiles))}.")
    base = profiles[name]
    fields = {f.name: f for f in dataclasses.fields(base)} if dataclasses.is_dataclass(base) else {}
    known = set(fields) - {"name"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise UsageError(f"unknown {generator} setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}.")
    tuples = {k for k, f in fields.items() if str(f.type).startswith(("tuple", "Tuple"))}
    overrides = {k: tuple(v) if k in tuples and isinstance(v, list) else v for k, v in overrides.items()}
    return dataclasses.replace(base, **overrides)


def check_ranges(generator: str, profile: Any, checks: Mapping[str, bool]) -> None:
    """Refuse the first setting whose check is False: ``{setting: in range?}``."""
    for key, ok in checks.items():
        if not ok:
            raise UsageError(f"{generator} profile {profile.name!r}: {key}={getattr(profile, key)!r} is out of range.")
