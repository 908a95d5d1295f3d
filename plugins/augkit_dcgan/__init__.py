"""Built-in DCGAN generator plugin (seed 002: latent vector → image, optionally per class),
registered through the ``augkit`` entry-point group like any third-party plugin."""

from augkit.registry.hookspecs import hookimpl


@hookimpl
def register_generators(register):
    from augkit_dcgan.generator import DCGAN  # no Keras import until a model is built

    register(DCGAN)
