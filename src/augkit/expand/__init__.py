"""``augkit expand``, read top-down: ``run`` (the run: paths, staging, resume, marker, manifest)
asks ``plan`` (+ ``balance``) which parent each output index gets, and hands each index to
``maker`` (classical variant or generator sample) through an engine (``augkit.engines``);
``manifest`` says how every sample was made (``counts``: per class and source); ``merge`` joins
``--shard i/k`` parts."""

from augkit import lazy_exports

__getattr__ = lazy_exports(__name__, {name: "augkit.expand.run"
                                      for name in ("expand", "ExpandOptions", "ExpandResult", "Shard")})
__all__ = ["ExpandOptions", "ExpandResult", "Shard", "expand"]
