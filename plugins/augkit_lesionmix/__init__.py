"""Built-in ``lesionmix`` generator plugin: lesion transplant between real slices (CarveMix /
TumorCP style, no training), registered through the ``augkit`` entry-point group like any
third-party plugin."""

from augkit.registry.hookspecs import hookimpl


@hookimpl
def register_generators(register):
    from augkit_lesionmix.generator import LesionMix

    register(LesionMix)
