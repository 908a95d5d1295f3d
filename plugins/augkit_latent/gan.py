"""The Keras model that trains a latent-vector generator against a discriminator, shared by the
``dcgan`` and ``tlgan`` plugins. TensorFlow backend.

Both sub-models take ``[x, class_index]``; an unconditional pair ignores the index. The
discriminator returns logits (the seeds end in a sigmoid; the ``from_logits`` loss is the same
model, numerically stable).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from augkit.generators.training import AdversarialModel, DiffAugment


def minibatch_stddev(x):
    """The features' standard deviation across the batch, averaged to one number (ProGAN's
    minibatch-stddev). A collapsed generator makes batches with none, which the discriminator
    then sees at once: an inexpensive guard against mode collapse on small data sets."""
    std = ops.sqrt(ops.var(x, axis=0) + 1e-8)
    return ops.mean(std)


class LatentGAN(AdversarialModel):
    """One step = one discriminator update on a half batch of reals and a half batch of fakes
    (seed 002: "half real, half fake"), then one generator update on a full batch of fakes
    labelled real. Fakes carry the real half batch's class indices, so each update sees the
    classes in the data's proportions. ``mode_seeking`` > 0 adds that weight times
    1 / ``g_spread`` to the generator loss (``g_spread``: mean image distance of two fakes of
    one label per unit of latent distance), which keeps it from collapsing to one image.

    A discriminator whose output is wider than one unit gives class logits after its real/fake
    logit (an auxiliary classifier, AC-GAN): it then also learns to name the class of the *real*
    images (cross-entropy, weight ``class_weight``), and the generator is asked to make fakes
    that it names as their class (same weight). Training the class head on reals only keeps it
    a judge of real classes, which fakes must then match. ``d_class_acc`` / ``g_class_acc``:
    how often it names reals / fakes right.

    The ``SeedGenerator`` draws the latent vectors and the flips. Data is
    ``(images in [-1, 1], class indices)``.
    """

    metric_names = ("d_loss", "g_loss", "d_real_acc", "d_fake_acc", "g_spread", "d_class_acc",
                    "g_class_acc")

    def __init__(self, generator: keras.Model, discriminator: keras.Model, *, latent_dim: int,
                 diff_augment: DiffAugment | None = None, flip: bool = True,
                 real_label: float = 1.0, mode_seeking: float = 0.0, class_weight: float = 1.0,
                 seed: int = 0, **kwargs):
        super().__init__(generator, discriminator, diff_augment=diff_augment, seed=seed, **kwargs)
        self.latent_dim = int(latent_dim)
        self.flip = flip
        self.real_label = float(real_label)
        self.mode_seeking = float(mode_seeking)
        self.class_weight = float(class_weight)
        self.class_loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def _discriminate(self, images, labels):
        if self.diff_augment is not None:
            images = self.diff_augment(images)
        out = self.discriminator([images, labels], training=True)
        return out[:, :1], (out[:, 1:] if out.shape[-1] > 1 else None)

    def _class_terms(self, class_logits, labels):
        """(weighted cross-entropy, accuracy) of the class head; zeros without one."""
        if class_logits is None:
            return 0.0, ops.zeros(())
        loss = self.class_weight * self.class_loss_fn(labels, class_logits)
        hits = ops.equal(ops.argmax(class_logits, axis=-1), ops.cast(labels, "int64"))
        return loss, ops.mean(ops.cast(hits, "float32"))

    def train_step(self, data):
        real, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        half = ops.shape(real)[0]
        if self.flip:
            coin = keras.random.uniform((half, 1, 1, 1), seed=self.seed_generator)
            real = ops.where(coin < 0.5, ops.flip(real, axis=2), real)

        z = keras.random.normal((half, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as d_tape:
            fake = self.generator([z, labels], training=True)
            d_real, real_classes = self._discriminate(real, labels)
            d_fake, _ = self._discriminate(fake, labels)
            d_class_loss, d_class_acc = self._class_terms(real_classes, labels)
            d_loss = 0.5 * (self.loss_fn(ops.full_like(d_real, self.real_label), d_real)
                            + self.loss_fn(ops.zeros_like(d_fake), d_fake)) + d_class_loss
        d_vars = self.discriminator.trainable_variables
        self.d_optimizer.apply_gradients(zip(d_tape.gradient(d_loss, d_vars), d_vars))

        both = ops.concatenate([labels, labels], axis=0)
        z = keras.random.normal((2 * half, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as g_tape:
            fake = self.generator([z, both], training=True)
            verdict, fake_classes = self._discriminate(fake, both)
            g_class_loss, g_class_acc = self._class_terms(fake_classes, both)
            g_loss = self.loss_fn(ops.ones_like(verdict), verdict) + g_class_loss
            # fakes i and i + half share a label: how far apart they are per unit of latent
            # distance (mode seeking, Mao et al. 2019); a collapsed generator scores 0
            spread = ops.mean(ops.abs(fake[:half] - fake[half:]), axis=(1, 2, 3)) / \
                ops.mean(ops.abs(z[:half] - z[half:]), axis=1)
            spread = ops.mean(spread)
            if self.mode_seeking > 0:
                g_loss = g_loss + self.mode_seeking / (spread + 1e-5)
        g_vars = self.generator.trainable_variables
        self.g_optimizer.apply_gradients(zip(g_tape.gradient(g_loss, g_vars), g_vars))

        real_acc = ops.mean(ops.cast(d_real > 0, "float32"))
        fake_acc = ops.mean(ops.cast(d_fake < 0, "float32"))
        return self._log(d_loss, g_loss, real_acc, fake_acc, spread, d_class_acc, g_class_acc)
