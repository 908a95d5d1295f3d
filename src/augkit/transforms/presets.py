"""Shipped classical-transform presets, registered like any plugin's."""

from augkit.registry.hookspecs import hookimpl
from augkit.transforms.pipeline import DEFAULT_CONFIG

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
