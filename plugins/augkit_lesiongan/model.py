"""The networks of the local lesion painter and the Keras model that trains them. TensorFlow
backend.

The generator sees a crop with the region to paint zeroed, the region, the target lesion and a
noise channel, and its painting is composed in the model (``crop·(1-r) + G·r``), so the losses
see exactly what will be pasted: only the region is ever learnt or changed.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers, ops

from augkit.seeding import derive_seed
from augkit.generators.training import AdversarialModel, DiffAugment
from augkit_patchgan.blocks import PatchDiscriminator, seeded_normal


class InpaintUNet(keras.Model):
    """[masked crop, region, lesion, noise] (C + 3 channels) → a painting (C channels in [-1, 1]).

    ``len(widths)`` down blocks (4×4 stride-2 conv, batch norm but on the first, LeakyReLU
    0.2), up blocks mirroring them (4×4 stride-2 transposed conv, batch norm, ReLU, the skip of
    the same size concatenated) and a 4×4 stride-2 transposed conv with tanh. No dropout: the
    noise channel is the only randomness, given per sample.
    """

    def __init__(self, *, num_channels: int, widths: list[int], seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.num_channels, self.widths, self.seed = num_channels, list(widths), seed
        conv = dict(kernel_size=4, strides=2, padding="same", use_bias=False)
        k = iter(range(10_000))
        self.down_convs = [layers.Conv2D(w, **conv, kernel_initializer=seeded_normal(derive_seed(seed, next(k))))
                           for w in widths]
        self.down_norms = [layers.BatchNormalization() if i else None for i in range(len(widths))]
        up_widths = list(reversed(widths[:-1]))
        self.up_convs = [layers.Conv2DTranspose(w, **conv, kernel_initializer=seeded_normal(derive_seed(seed, next(k))))
                         for w in up_widths]
        self.up_norms = [layers.BatchNormalization() for _ in up_widths]
        self.out_conv = layers.Conv2DTranspose(num_channels, 4, strides=2, padding="same", activation="tanh",
                                               kernel_initializer=seeded_normal(derive_seed(seed, next(k))))

    def call(self, x, training=False):
        skips = []
        for conv, norm in zip(self.down_convs, self.down_norms):
            x = conv(x)
            x = ops.leaky_relu(norm(x, training=training) if norm is not None else x, negative_slope=0.2)
            skips.append(x)
        skips.pop()
        for conv, norm in zip(self.up_convs, self.up_norms):
            x = ops.relu(norm(conv(x), training=training))
            x = ops.concatenate([x, skips.pop()], axis=-1)
        return self.out_conv(x)


def compose(x, painting, num_channels: int):
    """What is pasted: the input crop outside the region, the painting inside it."""
    masked, region = x[..., :num_channels], x[..., num_channels:num_channels + 1]
    return masked + painting * region


class LesionPainterGAN(AdversarialModel):
    """Trains the painter against the patch discriminator: GAN loss over the patches that see the
    region + ``l1_weight`` × the mean absolute error inside the region. Data is ``(x, crop)`` at the network size; flips and
    jitter are done when the crops are cut, DiffAugment on what the discriminator sees."""

    metric_names = ("d_loss", "g_loss", "g_gan", "g_l1")

    def __init__(self, generator: InpaintUNet, discriminator: PatchDiscriminator, *,
                 l1_weight: float = 100.0, diff_augment: DiffAugment | None = None, seed: int = 0,
                 **kwargs):
        super().__init__(generator, discriminator, diff_augment=diff_augment, seed=seed, **kwargs)
        self.l1_weight = float(l1_weight)

    def _discriminate(self, x, image):
        c = ops.shape(image)[-1]
        pair = ops.concatenate([x[..., c:c + 2], image], axis=-1)  # region, lesion, image
        if self.diff_augment is not None:
            pair = self.diff_augment(pair, num_color_channels=image.shape[-1])
        return self.discriminator(pair, training=True)

    def train_step(self, data):
        x, real, _ = keras.utils.unpack_x_y_sample_weight(data)
        c = real.shape[-1]
        region = x[..., c:c + 1]
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = compose(x, self.generator(x, training=True), c)
            d_real = self._discriminate(x, real)
            d_fake = self._discriminate(x, fake)
            weight = patch_weights(region, d_fake)
            # only patches that see the region can tell real from painted: the rest are the same
            # pixels in both and would only pull the mean losses towards log 2
            d_loss = 0.5 * (_weighted_mean(ops.softplus(-d_real), weight)
                            + _weighted_mean(ops.softplus(d_fake), weight))
            g_gan = _weighted_mean(ops.softplus(-d_fake), weight)
            g_l1 = ops.sum(ops.abs(real - fake)) / (ops.sum(region) * c + 1.0)
            g_loss = g_gan + self.l1_weight * g_l1
        self._step_both(g_tape, g_loss, d_tape, d_loss)
        return self._log(d_loss, g_loss, g_gan, g_l1)


def patch_weights(region, logits):
    """1 for each discriminator patch whose cell of the region map holds any region, else 0
    (the region max-pooled to the logit map's size)."""
    factor = region.shape[1] // logits.shape[1]
    return ops.max_pool(region, pool_size=factor, strides=factor) if factor > 1 else region


def _weighted_mean(values, weight):
    """Per-patch BCE (softplus of ∓logit) averaged over the weighted patches."""
    return ops.sum(values * weight) / (ops.sum(weight) + 1e-6)
