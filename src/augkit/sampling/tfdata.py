"""A ``MixedSampler`` as a ``tf.data.Dataset`` of (image, mask) or (image, label) batches.

Positions are numbers in the graph (``Dataset.range``); each is turned into a sample by a NumPy
function, in parallel, and since a position alone decides its sample the result does not depend
on how many calls run at once. ``deterministic=False`` lets tf.data hand out batches in finishing
order (faster, same samples, order may differ).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from augkit.errors import UsageError
from augkit.sampling.encoding import Encoder
from augkit.sampling.sampler import MixedSampler

AUTOTUNE = -1  # tf.data.AUTOTUNE, without importing TensorFlow at module import


def steps_per_epoch(sampler: MixedSampler, batch_size: int, drop_remainder: bool = False) -> int:
    """Batches in one epoch: what ``model.fit(steps_per_epoch=...)`` needs with ``num_epochs>1``."""
    n = len(sampler)
    return n // batch_size if drop_remainder else math.ceil(n / batch_size)


def as_tf_dataset(sampler: MixedSampler, *, batch_size: int, task: str = "segmentation",
                  one_hot: bool = False, num_classes: int | None = None,
                  label_values: Sequence[Any] | None = None, image_dtype: str = "float32",
                  scale: bool = True, deterministic: bool = True,
                  num_parallel_calls: int = AUTOTUNE, epoch: int = 0, num_epochs: int | None = 1,
                  drop_remainder: bool = False, as_dict: bool = False):
    """Batches of epochs ``epoch, epoch+1, ...`` (``num_epochs`` of them; None: without end).

    Images are H×W×C ``image_dtype`` scaled to [0, 1]; segmentation targets are H×W int32 class
    indices (H×W×num_classes float32 with ``one_hot``); classification targets are int32 scalars
    (num_classes float32 with ``one_hot``). Volumes (and their patches) give X×Y×Z×C images and
    X×Y×Z targets. For ``model.fit(ds, epochs=E)`` build the dataset
    with ``num_epochs=E`` (or None) and pass ``steps_per_epoch=steps_per_epoch(sampler, batch_size)``,
    so every Keras epoch sees a new sampler epoch. Building it again for an epoch already served
    (e.g. ``epoch=0`` every time) repeats its draws and warns once (``EpochRepeatWarning``).

    ``as_dict=True`` gives MONAI-style dict batches ``{"image", "mask" (or "label"), "source",
    "id"}``: ``source`` (real, classical, gan, gan+classical) and ``id`` (bytes strings) say
    which stored sample each item was drawn from, before on-the-fly transforms.
    """
    import tensorflow as tf

    if batch_size < 1:
        raise UsageError(f"batch_size must be >= 1. Received: {batch_size}")
    if num_epochs is not None and num_epochs < 1:
        raise UsageError(f"num_epochs must be >= 1 or None. Received: {num_epochs}")
    encoder = Encoder(sampler, task=task, one_hot=one_hot, num_classes=num_classes,
                      label_values=label_values, image_dtype=image_dtype, scale=scale)
    target_dtype = tf.float32 if one_hot else tf.int32
    image_shape, target_shape = encoder.image_shape, encoder.target_shape
    size = len(sampler)

    target_key = "mask" if task == "segmentation" else "label"

    def load(e, k):
        sampler.note_served(int(e), int(k))
        sample, origin = sampler.get_with_origin(int(e), int(k))
        image, target = encoder(sample)
        return (image, target.astype(target_dtype.as_numpy_dtype),
                np.bytes_(origin["source"].encode()), np.bytes_(str(origin["id"]).encode()))

    def tf_load(e, k):
        image, target, source, sample_id = tf.numpy_function(
            load, [e, k], [tf.as_dtype(image_dtype), target_dtype, tf.string, tf.string],
            stateful=False)
        image.set_shape(image_shape)
        target.set_shape(target_shape)
        if as_dict:
            source.set_shape(())
            sample_id.set_shape(())
            return {"image": image, target_key: target, "source": source, "id": sample_id}
        return image, target

    def one_epoch(e):
        positions = tf.data.Dataset.range(size).map(lambda k: (e, k))
        return positions.map(tf_load, num_parallel_calls=num_parallel_calls,
                             deterministic=deterministic).batch(batch_size, drop_remainder=drop_remainder)

    last = epoch + num_epochs if num_epochs is not None else 2**62
    return tf.data.Dataset.range(epoch, last).flat_map(one_epoch).prefetch(tf.data.AUTOTUNE)
