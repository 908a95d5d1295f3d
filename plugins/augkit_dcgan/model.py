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


#: how a conditional generator takes its class (see DCGANGenerator)
CONDITIONINGS = ("film", "concat")


class DCGANGenerator(keras.Model):
    """``[z, class_index]`` → image (C channels in [-1, 1]).

    A dense layer makes the 4×4×``block_width`` block (seed 002: 1024×4×4); each up block is a
    4×4 stride-2 transposed conv (batch norm optional) with LeakyReLU 0.2; a 3×3 conv with tanh
    gives the image. Conditional (``num_classes >= 2``), by ``conditioning``:

    - ``"film"`` (default): the label's embedding is joined to ``z`` before the dense layer, and
      every up block's features are scaled and shifted per class (a learnt gain and bias per
      class and channel, as in conditional batch norm without the batch statistics), so the
      class reaches every resolution instead of a corner of the first block.
    - ``"concat"``: the label's embedding becomes a 4×4 map with ``label_channels`` channels
      stacked onto the block (the first design; on LGG grades and in the flip test the
      generator learnt to ignore it).
    """

    def __init__(self, *, size: int, num_channels: int, latent_dim: int, block_width: int,
                 up_widths: list[int], num_classes: int = 0, embedding_dim: int = 50,
                 label_channels: int = 8, batch_norm: bool = True, conditioning: str = "film",
                 seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"DCGANGenerator conditioning must be one of {CONDITIONINGS}. "
                             f"Received: conditioning={conditioning!r}")
        if size != 4 * 2 ** len(up_widths):
            raise ValueError(f"DCGANGenerator needs size == 4 * 2**len(up_widths). Received: "
                             f"size={size}, len(up_widths)={len(up_widths)}")
        self.size, self.num_channels, self.latent_dim = size, num_channels, latent_dim
        self.num_classes, self.conditioning = num_classes, conditioning
        k = iter(range(10_000))
        self.project = layers.Dense(4 * 4 * block_width, kernel_initializer=_init(derive_seed(seed, next(k))))
        self.block_width = block_width
        if num_classes >= 2:
            self.embed = layers.Embedding(num_classes, embedding_dim,
                                          embeddings_initializer=_init(derive_seed(seed, next(k))))
            if conditioning == "concat":
                self.label_project = layers.Dense(4 * 4 * label_channels,
                                                  kernel_initializer=_init(derive_seed(seed, next(k))))
                self.label_channels = label_channels
            else:  # per class and channel: gain 1 + g, bias b (both start at 0)
                self.gains = [layers.Embedding(num_classes, w, embeddings_initializer="zeros")
                              for w in up_widths]
                self.biases = [layers.Embedding(num_classes, w, embeddings_initializer="zeros")
                               for w in up_widths]
        self.ups = [layers.Conv2DTranspose(w, 4, strides=2, padding="same", use_bias=not batch_norm,
                                           kernel_initializer=_init(derive_seed(seed, next(k))))
                    for w in up_widths]
        self.norms = [layers.BatchNormalization() if batch_norm else None for _ in up_widths]
        self.out_conv = layers.Conv2D(num_channels, 3, padding="same", activation="tanh",
                                      kernel_initializer=_init(derive_seed(seed, next(k))))

    def call(self, inputs, training=False):
        z, labels = inputs
        film = self.num_classes >= 2 and self.conditioning == "film"
        if film:
            z = ops.concatenate([z, self.embed(labels)], axis=-1)
        x = ops.reshape(self.project(z), (-1, 4, 4, self.block_width))
        x = ops.leaky_relu(x, negative_slope=0.2)
        if self.num_classes >= 2 and not film:
            y = self.label_project(self.embed(labels))
            x = ops.concatenate([x, ops.reshape(y, (-1, 4, 4, self.label_channels))], axis=-1)
        for i, (up, norm) in enumerate(zip(self.ups, self.norms)):
            x = up(x)
            if norm is not None:
                x = norm(x, training=training)
            if film:
                gain = 1.0 + self.gains[i](labels)[:, None, None, :]
                x = x * gain + self.biases[i](labels)[:, None, None, :]
            x = ops.leaky_relu(x, negative_slope=0.2)
        return self.out_conv(x)


class DCGANDiscriminator(keras.Model):
    """``[image, class_index]`` → one real/fake logit (and, with ``conditioning="projection"``,
    one class logit per class after it: output width 1 + num_classes).

    Five 4×4 stride-2 convs with LeakyReLU (seed 002: 128 filters, slope 0.02), flatten,
    dropout, one unit. Conditional, by ``conditioning``:

    - ``"projection"`` (default; Miyato & Koyama 2018): the logit adds the inner product of the
      label's embedding with the image features, so the discriminator judges "a real image *of
      this class*" rather than "a real image"; an auxiliary class head on the same features
      (AC-GAN, Odena et al. 2017) gives class logits that the training step uses to make the
      generator's samples recognisable as their class.
    - ``"concat"``: the label's embedding becomes one extra image-sized channel stacked onto the
      input (the first design).

    ``minibatch_std`` (not in seed 002) stacks the batch's feature
    spread onto the last conv's input. Dropout draws from this model's own ``SeedGenerator``.
    """

    def __init__(self, *, size: int, widths: list[int], num_classes: int = 0,
                 embedding_dim: int = 50, leaky_slope: float = 0.02, dropout: float = 0.4,
                 minibatch_std: bool = False, conditioning: str = "projection", seed: int = 0,
                 **kwargs):
        super().__init__(**kwargs)
        if conditioning not in ("concat", "projection"):
            raise ValueError("DCGANDiscriminator conditioning must be 'concat' or 'projection'. "
                             f"Received: conditioning={conditioning!r}")
        self.size, self.num_classes, self.minibatch_std = size, num_classes, minibatch_std
        self.projection = num_classes >= 2 and conditioning == "projection"
        self.leaky_slope, self.dropout = leaky_slope, dropout
        k = iter(range(10_000))
        if num_classes >= 2 and not self.projection:
            self.embed = layers.Embedding(num_classes, embedding_dim,
                                          embeddings_initializer=_init(derive_seed(seed, next(k))))
            self.label_project = layers.Dense(size * size, kernel_initializer=_init(derive_seed(seed, next(k))))
        self.convs = [layers.Conv2D(w, 4, strides=2, padding="same",
                                    kernel_initializer=_init(derive_seed(seed, next(k))))
                      for w in widths]
        self.flatten = layers.Flatten()
        self.out = layers.Dense(1, kernel_initializer=_init(derive_seed(seed, next(k))))
        if self.projection:
            # embedding width = the flattened features (the last conv's width at 1×1 or more)
            features = widths[-1] * max(1, size // 2 ** len(widths)) ** 2
            self.class_embed = layers.Embedding(num_classes, features,
                                                embeddings_initializer=_init(derive_seed(seed, 9001)))
            self.class_head = layers.Dense(num_classes,
                                           kernel_initializer=_init(derive_seed(seed, 9002)))
        self.dropout_seed = keras.random.SeedGenerator(derive_seed(seed, 7002))

    @property
    def seed_generators(self):
        return [self.dropout_seed]

    def call(self, inputs, training=False):
        x, labels = inputs
        if self.num_classes >= 2 and not self.projection:
            y = ops.reshape(self.label_project(self.embed(labels)), (-1, self.size, self.size, 1))
            x = ops.concatenate([x, y], axis=-1)
        for i, conv in enumerate(self.convs):
            if self.minibatch_std and i == len(self.convs) - 1:
                x = ops.concatenate([x, ops.ones_like(x[..., :1]) * minibatch_stddev(x)], axis=-1)
            x = ops.leaky_relu(conv(x), negative_slope=self.leaky_slope)
        x = self.flatten(x)
        if training and self.dropout > 0:
            x = keras.random.dropout(x, self.dropout, seed=self.dropout_seed)
        if not self.projection:
            return self.out(x)
        logit = self.out(x) + ops.sum(self.class_embed(labels) * x, axis=-1, keepdims=True)
        return ops.concatenate([logit, self.class_head(x)], axis=-1)
