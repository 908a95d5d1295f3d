"""Built-in ``lesiongan`` generator plugin: a trained local lesion painter (a conditional GAN on
crops around lesions, placed by lesionmix), registered through the ``augkit`` entry-point group
like any third-party plugin."""

from augkit.registry.hookspecs import hookimpl


@hookimpl
def register_generators(register):
    from augkit_lesiongan.generator import LesionGAN  # no Keras import until a model is built

    register(LesionGAN)
