"""Feeding a training loop: ``MixedSampler`` (``sampler``) mixes real samples with synthetic
ones drawn from ``sources`` (an expand output, a list, a live generator), cuts 3D ``patches``,
and hands batches to Keras (``tfdata``) or PyTorch (``torch``, needs the extra); ``encoding``
turns a Sample into arrays for either."""

from augkit import lazy_exports

__getattr__ = lazy_exports(__name__, {
    "MixedSampler": "augkit.sampling.sampler",
    "Encoder": "augkit.sampling.encoding",
    "EpochRepeatWarning": "augkit.sampling.sampler",
    "FolderSource": "augkit.sampling.sources",
    "SyntheticSource": "augkit.sampling.sources",
    "as_tf_dataset": "augkit.sampling.tfdata",
    "steps_per_epoch": "augkit.sampling.tfdata",
})
__all__ = ["Encoder", "EpochRepeatWarning", "FolderSource", "MixedSampler", "SyntheticSource", "as_tf_dataset",
           "steps_per_epoch"]
