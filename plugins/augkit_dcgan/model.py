"""The networks of seed 002: a DCGAN generator (latent vector → 1024×4×4 block → transposed
convolutions up to the image size) and its discriminator (five 4×4 stride-2 convolutions of 128
filters with LeakyReLU 0.02, flatten, dropout 0.4, one output unit), each optionally
conditioned on a class label through a learnt embedding. TensorFlow backend."""

from __future__ import annotations

import keras
from keras import layers, ops

from augkit.seeding import derive_seed

from augkit_latent.gan import minibatch_stddev


def _init(seed: int) -> keras.initializers.Initializer:
    # Keras' default (what seed 002 used), seeded. N(0, 0.02) starves this BN-free
    # discriminator: the signal shrinks through its five convs and it learns only a bias.
    # One seed per layer: a shared int seed would give equal-shaped layers equal weights.
    return keras.initializers.GlorotUniform(seed=seed)


class DCGANGenerator(keras.Model):
    """``[z, class_index]`` → image (C channels in [-1, 1]).

    A dense layer makes the 4×4×``block_width`` block (seed 002: 1024×4×4); each up block is a
    4×4 stride-2 transposed conv (batch norm optional) with LeakyReLU 0.2; a 3×3 conv with tanh
    gives the image. Conditional (``num_classes >= 2``): the label's embedding becomes a 4×4
    map with ``label_channels`` channels stacked onto the block.
    """

    def __init__(self, *, size: int, num_channels: int, latent_dim: int, block_width: int,
                 up_widths: list[int], num_classes: int = 0, embedding_dim: int = 50,
                 label_channels: int = 8, batch_norm: bool = True, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if size != 4 * 2 ** len(up_widths):
            raise ValueError(f"DCGANGenerator needs size == 4 * 2**len(up_widths). Received: "
                             f"size={size}, len(up_widths)={len(up_widths)}")
        self.size, self.num_channels, self.latent_dim = size, num_channels, latent_dim
        self.num_classes = num_classes
        k = iter(range(10_000))
        self.project = layers.Dense(4 * 4 * block_width, kernel_initializer=_init(derive_seed(seed, next(k))))
        self.block_width = block_width
        if num_classes >= 2:
            self.embed = layers.Embedding(num_classes, embedding_dim,
                                          embeddings_initializer=_init(derive_seed(seed, next(k))))
            self.label_project = layers.Dense(4 * 4 * label_channels,
                                              kernel_initializer=_init(derive_seed(seed, next(k))))
            self.label_channels = label_channels
        self.ups = [layers.Conv2DTranspose(w, 4, strides=2, padding="same", use_bias=not batch_norm,
                                           kernel_initializer=_init(derive_seed(seed, next(k))))
                    for w in up_widths]
        self.norms = [layers.BatchNormalization() if batch_norm else None for _ in up_widths]
        self.out_conv = layers.Conv2D(num_channels, 3, padding="same", activation="tanh",
                                      kernel_initializer=_init(derive_seed(seed, next(k))))

    def call(self, inputs, training=False):
        z, labels = inputs
        x = ops.reshape(self.project(z), (-1, 4, 4, self.block_width))
        x = ops.leaky_relu(x, negative_slope=0.2)
        if self.num_classes >= 2:
            y = self.label_project(self.embed(labels))
            x = ops.concatenate([x, ops.reshape(y, (-1, 4, 4, self.label_channels))], axis=-1)
        for up, norm in zip(self.ups, self.norms):
            x = up(x)
            if norm is not None:
                x = norm(x, training=training)
            x = ops.leaky_relu(x, negative_slope=0.2)
        return self.out_conv(x)


class DCGANDiscriminator(keras.Model):
    """``[image, class_index]`` → one real/fake logit.

    Five 4×4 stride-2 convs with LeakyReLU (seed 002: 128 filters, slope 0.02), flatten,
    dropout, one unit. Conditional: the label's embedding becomes one extra image-sized channel
    stacked onto the input. ``minibatch_std`` (not in seed 002) stacks the batch's feature
    spread onto the last conv's input. Dropout draws from this model's own ``SeedGenerator``.
    """

    def __init__(self, *, size: int, widths: list[int], num_classes: int = 0,
                 embedding_dim: int = 50, leaky_slope: float = 0.02, dropout: float = 0.4,
                 minibatch_std: bool = False, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.size, self.num_classes, self.minibatch_std = size, num_classes, minibatch_std
        self.leaky_slope, self.dropout = leaky_slope, dropout
        k = iter(range(10_000))
        if num_classes >= 2:
            self.embed = layers.Embedding(num_classes, embedding_dim,
                                          embeddings_initializer=_init(derive_seed(seed, next(k))))
            self.label_project = layers.Dense(size * size, kernel_initializer=_init(derive_seed(seed, next(k))))
        self.convs = [layers.Conv2D(w, 4, strides=2, padding="same",
                                    kernel_initializer=_init(derive_seed(seed, next(k))))
                      for w in widths]
        self.flatten = layers.Flatten()
        self.out = layers.Dense(1, kernel_initializer=_init(derive_seed(seed, next(k))))
        self.dropout_seed = keras.random.SeedGenerator(derive_seed(seed, 7002))

    @property
    def seed_generators(self):
        return [self.dropout_seed]

    def call(self, inputs, training=False):
        x, labels = inputs
        if self.num_classes >= 2:
            y = ops.reshape(self.label_project(self.embed(labels)), (-1, self.size, self.size, 1))
            x = ops.concatenate([x, y], axis=-1)
        for i, conv in enumerate(self.convs):
            if self.minibatch_std and i == len(self.convs) - 1:
                x = ops.concatenate([x, ops.ones_like(x[..., :1]) * minibatch_stddev(x)], axis=-1)
            x = ops.leaky_relu(conv(x), negative_slope=self.leaky_slope)
        x = self.flatten(x)
        if training and self.dropout > 0:
            x = keras.random.dropout(x, self.dropout, seed=self.dropout_seed)
        return self.out(x)
