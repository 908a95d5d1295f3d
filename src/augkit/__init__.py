"""augkit: grow small labelled medical datasets with classical transforms and GANs.

The package is laid out by what the product is made of (see the README's Layout section):
``io`` (readers and writers), ``transforms`` (2D and 3D classical pipelines), ``expand`` (the
``augkit expand`` run), ``generate`` (bulk generation), ``engines`` (where work runs),
``generators`` (the plugin contract and GAN training helpers), ``registry`` (the plugin host),
``sampling`` (the mixing sampler and its tf.data / PyTorch adapters), ``tables`` and
``evaluate``. The names a training script needs are importable from here; they load on first
use, so ``import augkit`` (and ``augkit --help``) stays light. (``expand`` is
``augkit.expand.expand``: the name ``augkit.expand`` is the subpackage.)
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from typing import Any, Callable

from augkit.errors import AugkitError, DataError
from augkit.sample import Provenance, Sample

__version__ = "0.1.0"


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``exports[name]`` (a module path) on first use,
    so a package can offer its public names without importing its heavy parts up front."""

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


__getattr__ = lazy_exports(__name__, {
    "read_dataset": "augkit.io",
    "ClassicalPipeline": "augkit.transforms.pipeline",
    "VolumePipeline": "augkit.transforms.volume",
    "MixedSampler": "augkit.sampling.sampler",
    "FolderSource": "augkit.sampling.sources",
    "SyntheticSource": "augkit.sampling.sources",
    "as_tf_dataset": "augkit.sampling.tfdata",
    "steps_per_epoch": "augkit.sampling.tfdata",
    "MixedTorchDataset": "augkit.sampling.torch",
})

__all__ = ["AugkitError", "ClassicalPipeline", "DataError", "FolderSource",
           "MixedSampler", "MixedTorchDataset", "Provenance", "Sample", "SyntheticSource",
           "VolumePipeline", "__version__", "as_tf_dataset", "read_dataset",
           "steps_per_epoch"]

# Module paths of the flat layout (before 0.2) -> where the module lives now. Importing an old
# path still works for one release and warns; remove this table in 0.3.
MOVED_MODULES = {
    "augkit.anatomy": "augkit.transforms.anatomy",
    "augkit.balance": "augkit.expand.balance",
    "augkit.blend": "augkit.transforms.blend",
    "augkit.bulk": "augkit.generate.bulk",
    "augkit.demo": "augkit.io.demo",
    "augkit.distribute": "augkit.generators.distribute",
    "augkit.encoding": "augkit.sampling.encoding",
    "augkit.engine": "augkit.expand.run",
    "augkit.hookspecs": "augkit.registry.hookspecs",
    "augkit.intensity": "augkit.transforms.intensity",
    "augkit.maker": "augkit.expand.maker",
    "augkit.manifest": "augkit.expand.manifest",
    "augkit.merge": "augkit.expand.merge",
    "augkit.patches": "augkit.sampling.patches",
    "augkit.plan": "augkit.expand.plan",
    "augkit.plugins": "augkit.registry.host",
    "augkit.presets": "augkit.transforms.presets",
    "augkit.ray_engine": "augkit.engines.ray",
    "augkit.sampler": "augkit.sampling.sampler",
    "augkit.sources": "augkit.sampling.sources",
    "augkit.table_encoding": "augkit.tables.encoding",
    "augkit.tfdata": "augkit.sampling.tfdata",
    "augkit.torch": "augkit.sampling.torch",
    "augkit.training": "augkit.generators.training",
    "augkit.transforms3d": "augkit.transforms.volume",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves an old module path as the module that now holds it (the same object, so
    ``isinstance`` and monkeypatching behave), with a DeprecationWarning naming the new path."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED_MODULES:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        new = MOVED_MODULES[spec.name]
        warnings.warn(f"{spec.name} moved to {new}; import it from there (the old path goes in augkit 0.3).",
                      DeprecationWarning, stacklevel=2)
        module = importlib.import_module(new)
        self._spec = module.__spec__  # the import system overwrites it with the old name's
        return module

    def exec_module(self, module) -> None:
        module.__spec__ = self._spec


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())
