"""Built-in TL-GAN generator plugin (seed 000: a multi-branch up-sampling generator against a
frozen pretrained backbone with a small trainable head), registered through the ``augkit``
entry-point group like any third-party plugin."""

from augkit.registry.hookspecs import hookimpl


@hookimpl
def register_generators(register):
    from augkit_tlgan.generator import TLGAN  # no Keras import until a model is built

    register(TLGAN)
