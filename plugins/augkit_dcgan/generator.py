"""``DCGAN``: seed 002's generator for classification and unconditional image data."""

from __future__ import annotations


from augkit.seeding import derive_seed

from augkit_latent.images import ImageSpec
from augkit_latent.generator import LatentGenerator
from augkit_dcgan.profiles import get_profile


class DCGAN(LatentGenerator):
    """Latent vector (+ class label) → image, trained against a small conv discriminator.

    ``DCGAN(profile="cpu", seed=0, **overrides)``: ``profile`` is ``paper`` (seed 002: 128 px,
    1024×4×4 block, 128-filter convs, batches of 128 + 128), ``cpu`` (64 px, narrow tapering
    generator, DiffAugment and a minibatch-stddev channel against mode collapse; trains on a
    few hundred slices in about 10 minutes on 2 cores) or ``tiny`` (tests);
    ``overrides`` change single profile fields (``size=256``, ``epochs=50``, ...). ``seed``
    seeds weight initialisation; ``fit(seed=...)`` seeds the training stream.

    Trained on labelled samples (two or more classes) it is class-conditional:
    ``generate(n, seed=..., conditions=["G2", "G3", ...])`` yields samples with those labels,
    which is how ``expand`` brings every class to a target count. The default conditioning
    (``conditioning="projection"``: projection discriminator + auxiliary class head, per-class
    gain and bias in the generator, class-balanced epochs) makes samples that follow their
    class; ``conditioning="concat"`` is the first design, kept for comparison. Images come back in the
    training images' dtype, channel count and (when they all share one) size.
    """

    name = "dcgan"
    get_profile = staticmethod(get_profile)

    def _networks(self, spec: ImageSpec, *, loading: bool):
        from augkit_dcgan.model import DCGANDiscriminator, DCGANGenerator

        p = self.profile
        num_classes = len(spec.classes)
        generator = DCGANGenerator(size=p.size, num_channels=spec.num_channels,
                                   latent_dim=p.latent_dim, block_width=p.block_width,
                                   up_widths=p.up_widths, num_classes=num_classes,
                                   embedding_dim=p.embedding_dim, batch_norm=p.batch_norm,
                                   conditioning="film" if p.conditioning == "projection" else "concat",
                                   seed=derive_seed(self.seed, 1))
        discriminator = DCGANDiscriminator(size=p.size, widths=p.discriminator_widths,
                                           num_classes=num_classes, embedding_dim=p.embedding_dim,
                                           leaky_slope=p.leaky_slope, dropout=p.dropout,
                                           minibatch_std=p.minibatch_std,
                                           conditioning=p.conditioning,
                                           seed=derive_seed(self.seed, 2))
        return self._built(generator, discriminator, spec)
