"""The networks of seed 004 (one generator with a shared trunk and an image head and a table
head; one discriminator with an image branch and a table branch joined before the verdict) and
the Keras model that trains them together. TensorFlow backend.

Differences from the seed, and why: the shared trunk is a narrow dense layer that both heads
read (the seed shares its 160,000-wide image layer, which makes the table head's first layer
64 M weights); the table head ends in one activation per column kind (tanh for numbers, sigmoid
for binary values and missing-value flags, softmax per categorical column) instead of one
sigmoid for all; the discriminator's joint layer has a LeakyReLU (the seed's is linear, which
makes its two output layers one); it returns logits and uses the stable ``from_logits`` loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf
from keras import layers, ops

from augkit.seeding import derive_seed
from augkit.generators.training import AdversarialModel, DiffAugment

_SLOPE = 0.2


def _init(seed: int) -> keras.initializers.Initializer:
    # Glorot uniform, the Keras default seed 004 trained with: the discriminator has no
    # normalisation, and DCGAN's N(0, 0.02) shrinks its signal ~100× over its layers, which
    # stalls the first hundreds of steps. One seed per layer: a shared int seed would give
    # equal-shaped layers equal weights.
    return keras.initializers.GlorotUniform(seed=seed)


def activate_table(logits, blocks: Sequence[dict[str, Any]]):
    """Per-block activations of the table head's logits, concatenated in block order."""
    parts = []
    for b in blocks:
        x = logits[:, b["start"]:b["start"] + b["size"]]
        if b["kind"] == "numeric":
            parts.append(ops.tanh(x))
        elif b["kind"] == "categorical" and b["size"] == 1:
            parts.append(ops.ones_like(x))  # a single-valued column (LGG's tumor_tissue_site)
        elif b["kind"] == "categorical":
            parts.append(ops.softmax(x, axis=-1))
        else:  # binary, missing
            parts.append(ops.sigmoid(x))
    return ops.concatenate(parts, axis=-1)


class TabImageGenerator(keras.Model):
    """Noise (``latent_dim``) → (image size×size×C in [-1, 1], encoded table row)."""

    def __init__(self, *, size: int, num_channels: int, blocks: Sequence[dict[str, Any]],
                 latent_dim: int = 100, trunk_units: Sequence[int] = (256,),
                 image_widths: Sequence[int] = (256, 128, 64), kernel_size: int = 5,
                 table_widths: Sequence[int] = (400, 200, 128, 64), upsampling: str = "transpose",
                 row_to_image: bool = False, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if upsampling not in ("transpose", "resize"):
            raise ValueError(f"upsampling must be 'transpose' or 'resize'. Received: {upsampling!r}")
        self.size, self.num_channels, self.latent_dim = size, num_channels, latent_dim
        self.blocks = [dict(b) for b in blocks]
        self.num_features = sum(b["size"] for b in self.blocks)
        #: the image head reads the generated row (concatenated to the trunk's output), so the
        #: image is made from the row it goes with rather than from a shared code alone
        self.row_to_image = bool(row_to_image)
        self.start = size // 2 ** len(image_widths)
        k = iter(range(10_000))

        def dense(units):
            return layers.Dense(units, use_bias=False, kernel_initializer=_init(derive_seed(seed, next(k))))

        self.trunk = [(dense(u), layers.BatchNormalization()) for u in trunk_units]
        self.image_dense = dense(self.start * self.start * image_widths[0])
        self.image_dense_norm = layers.BatchNormalization()
        self.image_widths = list(image_widths)
        conv = dict(kernel_size=kernel_size, padding="same")

        def up_layer(width, stride, **extra):
            init = _init(derive_seed(seed, next(k)))
            if upsampling == "transpose" or stride == 1:
                make = layers.Conv2DTranspose if upsampling == "transpose" else layers.Conv2D
                return make(width, strides=stride, kernel_initializer=init, **conv, **extra)
            # nearest ×2 then a conv: no transposed-conv checkerboard (Odena et al. 2016)
            return keras.Sequential([layers.UpSampling2D(2, interpolation="nearest"),
                                     layers.Conv2D(width, kernel_initializer=init, **conv, **extra)])

        self.up = [(up_layer(w, 1 if i == 0 else 2, use_bias=False), layers.BatchNormalization())
                   for i, w in enumerate(image_widths)]
        self.image_out = up_layer(num_channels, 2, activation="tanh")
        self.table = [(dense(w), layers.BatchNormalization()) for w in table_widths]
        self.table_out = layers.Dense(self.num_features, kernel_initializer=_init(derive_seed(seed, next(k))))

    def call(self, noise, training=False):
        h = noise
        for d, n in self.trunk:
            h = ops.leaky_relu(n(d(h), training=training), negative_slope=_SLOPE)
        t = h
        for d, n in self.table:
            t = ops.leaky_relu(n(d(t), training=training), negative_slope=_SLOPE)
        row = activate_table(self.table_out(t), self.blocks)
        x = ops.concatenate([h, row], axis=-1) if self.row_to_image else h
        x = ops.leaky_relu(self.image_dense_norm(self.image_dense(x), training=training),
                           negative_slope=_SLOPE)
        x = ops.reshape(x, (-1, self.start, self.start, self.image_widths[0]))
        for c, n in self.up:
            x = ops.leaky_relu(n(c(x), training=training), negative_slope=_SLOPE)
        return self.image_out(x), row


class TabImageDiscriminator(keras.Model):
    """(image, encoded row) → one real/fake logit: a strided-conv image branch and a dense table
    branch, flattened and concatenated, then a small joint layer (seed 004)."""

    def __init__(self, *, image_widths: Sequence[int] = (64, 128, 256, 256),
                 image_strides: Sequence[int] = (2, 2, 2, 1), kernel_size: int = 5,
                 table_widths: Sequence[int] = (400, 200, 128, 64), joint_units: int = 25,
                 dropout: float = 0.3, aux_units: int = 0, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.dropout = float(dropout)
        self.aux_units = int(aux_units)
        k = iter(range(10_000))
        self.convs = [layers.Conv2D(w, kernel_size, strides=s, padding="same",
                                    kernel_initializer=_init(derive_seed(seed, next(k))))
                      for w, s in zip(image_widths, image_strides)]
        self.denses = [layers.Dense(w, kernel_initializer=_init(derive_seed(seed, next(k))))
                       for w in table_widths]
        self.joint = layers.Dense(joint_units, kernel_initializer=_init(derive_seed(seed, next(k))))
        self.out = layers.Dense(1, kernel_initializer=_init(derive_seed(seed, next(k))))
        #: with ``aux_units``, a head that reads the image branch alone and names the value of
        #: one row column (the grade): what lets the generator's image follow its row
        self.aux = layers.Dense(self.aux_units, kernel_initializer=_init(derive_seed(seed, 7002))) \
            if self.aux_units else None
        self.dropout_seed = keras.random.SeedGenerator(derive_seed(seed, 7001))

    @property
    def seed_generators(self):
        """The SeedGenerators of this network's random draws (its dropout), for the checkpoint."""
        return [self.dropout_seed]

    def _drop(self, x, training):
        if training and self.dropout > 0:
            return keras.random.dropout(x, self.dropout, seed=self.dropout_seed)
        return x

    def call(self, inputs, training=False):
        """The real/fake logit; with ``aux_units``, (logit, the image head's column logits)."""
        image, table = inputs
        x = image
        for conv in self.convs:
            x = self._drop(ops.leaky_relu(conv(x), negative_slope=_SLOPE), training)
        x = ops.reshape(x, (ops.shape(x)[0], -1))
        y = table
        for dense in self.denses:
            y = self._drop(ops.leaky_relu(dense(y), negative_slope=_SLOPE), training)
        z = ops.concatenate([x, y], axis=-1)
        z = self._drop(ops.leaky_relu(self.joint(z), negative_slope=_SLOPE), training)
        return (self.out(z), self.aux(x)) if self.aux is not None else self.out(z)


class TabImageGAN(AdversarialModel):
    """Trains the joint generator against the two-branch discriminator (seed 004's loop: one
    generator pass per step serves both updates; BCE on logits).

    The ``SeedGenerator`` draws the noise. Data is ``(images, rows)``: images in [-1, 1], rows
    encoded by the TablePreprocessor. DiffAugment, when given, is applied to every image the
    discriminator sees, real and fake, in both updates.
    """

    metric_names = ("d_loss", "g_loss", "d_real", "d_fake")

    def __init__(self, generator: TabImageGenerator, discriminator: TabImageDiscriminator, *,
                 diff_augment: DiffAugment | None = None, row_noise: float = 0.0,
                 image_block: dict[str, Any] | None = None, image_weight: float = 1.0, seed: int = 0, **kwargs):
        #: the encoded slot of the row column the image must show (``discriminator.aux`` names
        #: it from the image alone): D learns it on real pairs, G is scored on its own pairs
        self.image_block = dict(image_block) if image_block else None
        self.image_weight = float(image_weight)
        if self.image_block:
            self.metric_names = type(self).metric_names + ("d_aux", "g_aux")
        super().__init__(generator, discriminator, diff_augment=diff_augment, seed=seed, **kwargs)
        self.row_noise = float(row_noise)

    def _discriminate(self, image, table):
        if self.diff_augment is not None:
            image = self.diff_augment(image)
        if self.row_noise > 0:
            # DiffAugment for rows: Gaussian noise on every encoded row the discriminator sees,
            # real and fake. With ~40 rows, a discriminator that sees them exactly learns them
            # as points and rewards the generator for landing on one (a near copy); blurred, a
            # training row is a neighbourhood, and one-hot codes no longer tell real from soft.
            table = table + self.row_noise * keras.random.normal(ops.shape(table), seed=self.seed_generator)
        return self.discriminator((image, table), training=True)

    def _column_loss(self, rows, logits):
        """Cross-entropy of the image head's logits against the row's slot (a categorical
        one-hot or soft softmax; a binary probability), averaged over the rows that have a value:
        each row weighs 1 - its missing flag (a generated row: 1 - its missing probability), so a
        missing grade teaches the head nothing and asks nothing of the image."""
        b = self.image_block
        target = rows[:, b["start"]:b["start"] + b["size"]]
        if b["kind"] == "categorical":
            per_row = -ops.sum(target * ops.log_softmax(logits, axis=-1), axis=-1)
        else:
            per_row = ops.mean(ops.softplus(logits) - target * logits, axis=-1)  # BCE on logits
        if b.get("missing_start") is None:
            return ops.mean(per_row)
        weight = 1.0 - rows[:, b["missing_start"]]
        return ops.sum(per_row * weight) / (ops.sum(weight) + 1e-6)

    def column_losses(self, rows, aux_real, fake_rows, aux_fake):
        """(D's loss: the head on real images against their rows; G's: the head on generated
        images against their own rows, held fixed so that only the image moves)."""
        return self._column_loss(rows, aux_real), self._column_loss(ops.stop_gradient(fake_rows), aux_fake)

    def train_step(self, data):
        images, rows, _ = keras.utils.unpack_x_y_sample_weight(data)
        noise = keras.random.normal((ops.shape(images)[0], self.generator.latent_dim),
                                    seed=self.seed_generator)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake_images, fake_rows = self.generator(noise, training=True)
            d_real = self._discriminate(images, rows)
            d_fake = self._discriminate(fake_images, fake_rows)
            if self.image_block:
                (d_real, aux_real), (d_fake, aux_fake) = d_real, d_fake
            d_loss = (self.loss_fn(ops.ones_like(d_real), d_real)
                      + self.loss_fn(ops.zeros_like(d_fake), d_fake))
            g_loss = self.loss_fn(ops.ones_like(d_fake), d_fake)
            if self.image_block:
                # the head learns the column from real images only; the generator is asked for
                # an image that shows the value its own row has (the row is the target, held
                # fixed: the image follows the row, not the other way round)
                d_aux, g_aux = self.column_losses(rows, aux_real, fake_rows, aux_fake)
                d_loss = d_loss + self.image_weight * d_aux
                g_loss = g_loss + self.image_weight * g_aux
        self._step_both(g_tape, g_loss, d_tape, d_loss)
        logged = (d_loss, g_loss, ops.mean(ops.sigmoid(d_real)), ops.mean(ops.sigmoid(d_fake)))
        return self._log(*logged, d_aux, g_aux) if self.image_block else self._log(*logged)
