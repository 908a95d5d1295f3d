"""Shipped classical-transform presets, registered like any plugin's. Plain data: loading the
plugins (every command does) imports no image library."""

from typing import Any

from augkit.errors import UsageError
from augkit.registry.hookspecs import hookimpl

#: The seeds' set: rotations, shifts, flips, brightness (seed 001 and 002). The affine part is
#: always drawn: at p<1 about one variant in twenty came out as a brightness-only copy of its
#: parent, which the near-copy check rightly flags.
DEFAULT_CONFIG: dict[str, Any] = {
    "transforms": [
        {"name": "affine", "rotate_range": [-20, 20], "shift_range": [-0.1, 0.1],
         "scale_range": [0.9, 1.1], "p": 1.0},
        {"name": "hflip", "p": 0.5},
        {"name": "brightness", "limit": 0.15, "p": 0.5},
    ]
}

PRESETS = {
    # The seeds' set: rotations, shifts, flips, brightness (seed 001 and 002).
    "seed": DEFAULT_CONFIG,
    # Geometry only: for data whose intensities must not change (quantitative maps).
    "geometric": {"transforms": [
        {"name": "affine", "rotate_range": [-15, 15], "shift_range": [-0.08, 0.08],
         "scale_range": [0.95, 1.05], "p": 1.0},
        {"name": "hflip", "p": 0.5},
    ]},
    # Everything on: the seeds' set plus contrast, gamma, elastic and noise.
    "strong": {"transforms": [
        *DEFAULT_CONFIG["transforms"],
        {"name": "contrast", "limit": 0.2, "p": 0.5},
        {"name": "gamma", "range": [80, 120], "p": 0.3},
        {"name": "elastic", "alpha": 30.0, "sigma": 6.0, "p": 0.3},
        {"name": "noise", "std_range": [0.01, 0.04], "p": 0.3},
    ]},
}


@hookimpl
def register_transform_presets(register):
    for name, config in PRESETS.items():
        register(name, config)


def config_from(config: dict[str, Any] | None, preset: str | None) -> dict[str, Any]:
    """A pipeline's config: the one given, a registered preset's, or the seeds' set."""
    if config is not None and preset is not None:
        raise UsageError("give either a transform config or a preset name, not both.")
    if preset is not None:
        from augkit.registry.host import get_preset

        return get_preset(preset)
    return config if config is not None else DEFAULT_CONFIG
