"""``augkit generate``: many samples from a saved model, written in shards (``bulk``), and how
fast and lean that is against a one-at-a-time loop (``timing``)."""

from augkit import lazy_exports

__getattr__ = lazy_exports(__name__, {"generate_shards": "augkit.generate.bulk"})
__all__ = ["generate_shards"]
