"""The networks of seed 001 (a pix2pix U-Net generator and a PatchGAN discriminator) and the
Keras model that trains them together. TensorFlow backend."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers, ops

from augkit.generators.distribute import global_rows, replica_share, synchronized_norm
from augkit.seeding import derive_seed
from augkit.generators.training import AdversarialModel, DiffAugment
from augkit_patchgan.blocks import PatchDiscriminator, seeded_normal


class UNetGenerator(keras.Model):
    """Label map (one-hot, K channels) → image (C channels in [-1, 1]).

    ``len(widths)`` down-sampling blocks (4×4 stride-2 conv, batch norm, LeakyReLU 0.2), a
    bottleneck (4×4 stride-2 conv, ReLU) down to 1×1, as many up-sampling blocks (4×4 stride-2
    transposed conv, batch norm, dropout, ReLU, concatenated with the skip of the same size) and
    a 4×4 stride-2 transposed conv with tanh.

    Dropout (seed 001: 0.3 in every up block) is drawn from the model's SeedGenerator while
    training. When generating it is off, unless the caller passes ``noise`` (one scaled
    keep-mask per up block, see ``noise_shapes``), made per sample so that a sample's noise
    depends on its own seed, not on the batch it was generated in.
    """

    def __init__(self, *, size: int, num_classes: int, num_channels: int, widths: list[int],
                 dropout: float = 0.3, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.size, self.num_classes, self.num_channels = size, num_classes, num_channels
        self.widths, self.dropout, self.seed = list(widths), dropout, seed
        if size != 2 ** (len(widths) + 1):
            raise ValueError(f"UNetGenerator needs size == 2**(len(widths)+1). Received: "
                             f"size={size}, len(widths)={len(widths)}")
        k = iter(range(10_000))
        conv = dict(kernel_size=4, strides=2, padding="same", use_bias=False)
        self.down_convs = [layers.Conv2D(w, **conv, kernel_initializer=seeded_normal(derive_seed(seed, next(k))))
                           for w in widths]
        self.down_norms = [layers.BatchNormalization(synchronized=synchronized_norm()) for _ in widths]
        self.bottleneck = layers.Conv2D(widths[-1], 4, strides=2, padding="same",
                                        kernel_initializer=seeded_normal(derive_seed(seed, next(k))))
        up_widths = list(reversed(widths))
        self.up_convs = [layers.Conv2DTranspose(w, **conv, kernel_initializer=seeded_normal(derive_seed(seed, next(k))))
                         for w in up_widths]
        self.up_norms = [layers.BatchNormalization(synchronized=synchronized_norm()) for _ in up_widths]
        self.out_conv = layers.Conv2DTranspose(num_channels, 4, strides=2, padding="same",
                                               activation="tanh",
                                               kernel_initializer=seeded_normal(derive_seed(seed, next(k))))
        self.dropout_seed = keras.random.SeedGenerator(derive_seed(seed, 7001))

    @property
    def seed_generators(self):
        """The SeedGenerators of this network's random draws (its dropout), for the checkpoint."""
        return [self.dropout_seed]

    def noise_shapes(self) -> list[tuple[int, int, int]]:
        """Per-sample shape of each up block's dropout keep-mask, in call order."""
        return [(2 ** (i + 1), 2 ** (i + 1), w) for i, w in enumerate(reversed(self.widths))]

    def call(self, condition, training=False, noise=None):
        x, skips = condition, []
        for conv, norm in zip(self.down_convs, self.down_norms):
            x = ops.leaky_relu(norm(conv(x), training=training), negative_slope=0.2)
            skips.append(x)
        x = ops.relu(self.bottleneck(x))
        for i, (conv, norm, skip) in enumerate(zip(self.up_convs, self.up_norms, reversed(skips))):
            x = norm(conv(x), training=training)
            if noise is not None:
                x = x * noise[i]
            elif training and self.dropout > 0:
                # drawn as for the global batch: the same mask per sample on any number of replicas
                x = global_rows(lambda t: keras.random.dropout(t, self.dropout, seed=self.dropout_seed), x)
            x = ops.concatenate([ops.relu(x), skip], axis=-1)
        return self.out_conv(x)


class Pix2PixGAN(AdversarialModel):
    """Trains a mask → image generator against a patch discriminator with GAN + α·L1 loss.

    The ``SeedGenerator`` draws the left-right flips. Data is ``(condition, image)``: one-hot
    label maps and images in [-1, 1].
    """

    metric_names = ("d_loss", "g_loss", "g_gan", "g_l1")

    def __init__(self, generator: UNetGenerator, discriminator: PatchDiscriminator, *,
                 l1_weight: float = 100.0, diff_augment: DiffAugment | None = None,
                 flip: bool = True, seed: int = 0, **kwargs):
        super().__init__(generator, discriminator, diff_augment=diff_augment, seed=seed, **kwargs)
        self.l1_weight = float(l1_weight)
        self.flip = flip

    def _discriminate(self, condition, image):
        pair = ops.concatenate([condition, image], axis=-1)
        if self.diff_augment is not None:
            # one augmentation of the pair keeps mask and image aligned; brightness only on the image
            channels = ops.shape(image)[-1]
            pair = global_rows(lambda p: self.diff_augment(p, num_color_channels=channels), pair)
        return self.discriminator(pair, training=True)

    def train_step(self, data):
        condition, real, _ = keras.utils.unpack_x_y_sample_weight(data)
        if self.flip:
            def flip(both):
                coin = keras.random.uniform((ops.shape(both)[0], 1, 1, 1), seed=self.seed_generator)
                return ops.where(coin < 0.5, ops.flip(both, axis=2), both)

            both = global_rows(flip, ops.concatenate([condition, real], axis=-1))
            condition, real = both[..., : ops.shape(condition)[-1]], both[..., ops.shape(condition)[-1]:]
        # one generator pass serves both updates (pix2pix): D learns from it, G from D's verdict
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = self.generator(condition, training=True)
            d_real = self._discriminate(condition, real)
            d_fake = self._discriminate(condition, fake)
            d_loss = 0.5 * (self.loss_fn(ops.ones_like(d_real), d_real)
                            + self.loss_fn(ops.zeros_like(d_fake), d_fake))
            g_gan = self.loss_fn(ops.ones_like(d_fake), d_fake)
            # its share of the global mean, as Keras' loss_fn gives the others under a strategy
            g_l1 = replica_share(ops.mean(ops.abs(real - fake)))
            g_loss = g_gan + self.l1_weight * g_l1
        self._step_both(g_tape, g_loss, d_tape, d_loss)
        return self._log(d_loss, g_loss, g_gan, g_l1)
