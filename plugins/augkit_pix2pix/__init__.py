"""Built-in pix2pix generator plugin (mask → image, seed 001), registered through the ``augkit``
entry-point group like any third-party plugin."""

from augkit.registry.hookspecs import hookimpl


@hookimpl
def register_generators(register):
    from augkit_pix2pix.generator import Pix2Pix  # no Keras import until a model is built

    register(Pix2Pix)
