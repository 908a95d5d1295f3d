"""augkit: grow small labelled medical datasets with classical transforms and GANs."""

from augkit.errors import AugkitError, DataError
from augkit.sample import Provenance, Sample

__version__ = "0.1.0"

__all__ = ["AugkitError", "DataError", "Provenance", "Sample", "__version__"]
