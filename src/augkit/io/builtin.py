"""The shipped dataset formats, registered through the ``augkit`` entry-point group."""

from augkit.hookspecs import hookimpl


@hookimpl
def register_formats(register):
    pass  # filled in by the format modules
