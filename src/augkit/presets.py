"""Shipped classical-transform presets, registered like any plugin's."""

from augkit.hookspecs import hookimpl


@hookimpl
def register_transform_presets(register):
    pass
