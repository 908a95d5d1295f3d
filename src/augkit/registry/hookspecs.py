"""The hook contract. Few hooks, each handed a ``register`` callback (simonw/llm style).

A plugin is a module (or object) with ``@hookimpl`` functions, found through the ``augkit``
entry-point group. Built-in formats, presets and generators register exactly like this.
"""

from __future__ import annotations

from typing import Callable

import pluggy

hookspec = pluggy.HookspecMarker("augkit")
hookimpl = pluggy.HookimplMarker("augkit")


@hookspec
def register_generators(register: Callable) -> None:
    """Register generator classes.

    :param register: call ``register(GeneratorClass)``; the class must subclass
        :class:`augkit.generators.Generator` and carry a unique ``name``.
    """


@hookspec
def register_formats(register: Callable) -> None:
    """Register dataset formats (a reader and a writer each).

    :param register: call ``register(format_instance)``; it must subclass
        :class:`augkit.io.base.DatasetFormat` and carry a unique ``name``.
    """


@hookspec
def register_transform_presets(register: Callable) -> None:
    """Register named classical-transform presets.

    :param register: call ``register(name, config_dict)``; the config is what
        :class:`augkit.transforms.ClassicalPipeline` accepts.
    """


@hookspec
def register_commands(cli) -> None:
    """Add commands to the ``augkit`` click group.

    :param cli: the click group; use ``@cli.command()`` on your functions.
    """
