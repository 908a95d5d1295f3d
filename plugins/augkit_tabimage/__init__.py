"""Built-in joint image + table generator plugin (seed 004), registered through the ``augkit``
entry-point group like any third-party plugin."""

from augkit.registry.hookspecs import hookimpl


@hookimpl
def register_generators(register):
    from augkit_tabimage.generator import TabImage  # no Keras import until a model is built

    register(TabImage)
