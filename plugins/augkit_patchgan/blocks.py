"""Network pieces of the conditional image GANs: a per-layer seeded initialiser and the PatchGAN
discriminator (pix2pix, Isola et al. 2017; seed 001). TensorFlow backend."""

from __future__ import annotations

import keras
from keras import layers, ops

from augkit.generators.distribute import synchronized_norm
from augkit.seeding import derive_seed


def seeded_normal(seed: int) -> keras.initializers.Initializer:
    # one seed per layer: a shared int seed would give equal-shaped layers equal weights
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02, seed=seed)


class PatchDiscriminator(keras.Model):
    """(condition, image) concatenated → a map of real/fake logits, one per image patch.

    4×4 stride-2 conv blocks with batch norm and LeakyReLU 0.2, then a 4×4 stride-1 conv to one
    channel. ``norm_first=False`` leaves the first block without batch norm (as pix2pix's C64;
    the lesion painter uses it). Seed 001 ends in a sigmoid; this returns logits for the
    numerically stable ``from_logits`` loss instead, which is the same model.
    """

    def __init__(self, *, widths: list[int], seed: int = 0, norm_first: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.widths, self.seed = list(widths), seed
        self.convs = [layers.Conv2D(w, 4, strides=2, padding="same", use_bias=False,
                                    kernel_initializer=seeded_normal(derive_seed(seed, i)))
                      for i, w in enumerate(widths)]
        # synchronised across replicas under tf.distribute (augkit train --strategy), plain otherwise
        self.norms = [layers.BatchNormalization(synchronized=synchronized_norm()) if i or norm_first else None
                      for i in range(len(widths))]
        self.out_conv = layers.Conv2D(1, 4, strides=1, padding="same",
                                      kernel_initializer=seeded_normal(derive_seed(seed, len(widths))))

    def call(self, x, training=False):
        for conv, norm in zip(self.convs, self.norms):
            x = conv(x)
            x = ops.leaky_relu(norm(x, training=training) if norm is not None else x, negative_slope=0.2)
        return self.out_conv(x)
