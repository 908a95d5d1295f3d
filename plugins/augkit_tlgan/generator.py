"""``TLGAN``: seed 000's generator, trained against a frozen pretrained backbone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from augkit.errors import DataError, UsageError
from augkit.seeding import derive_seed

from augkit_latent.images import ImageSpec
from augkit_latent.generator import LatentGenerator
from augkit_tlgan.backbones import get_backbone, missing_weights_message
from augkit_tlgan.profiles import get_profile


class TLGAN(LatentGenerator):
    """Latent vector (+ class label) → image; the discriminator is a frozen Keras Applications
    backbone (Xception by default; mobilenet_v2, mobilenet, resnet50, resnet50v2, inception_v3,
    densenet121) with a small trainable head (transfer learning, seed 000).

    ``TLGAN(profile="cpu", seed=0, backbone_weights=PATH, **overrides)``. Nothing downloads
    unasked: the backbone's ImageNet weights come from the notop ``.h5`` file named by
    ``backbone_weights``, or, with the explicit ``backbone_weights="imagenet"``, from Keras'
    own cache, which Keras fills from its origin with its hash check when the file is not
    there (``backbones.keras_cache_weights``; offline: one line naming the file and
    ``--backbone-weights PATH``). Without either the constructor refuses (saying which file to
    get) unless ``random_backbone=True`` is passed explicitly. A file made for another backbone
    is refused when the model is built. A saved model holds its backbone's weights, so
    ``load`` needs no file and fetches nothing.

    Channels: the backbones are RGB networks. 3-channel images go in as they are; 1-channel
    (grayscale) images are tiled to 3 channels inside the discriminator (the generator still
    makes 1-channel images); other channel counts are refused. Size: the discriminator resizes
    images to ``backbone_size`` (default: the larger of ``size`` and the backbone's minimum, 71
    px for Xception, 75 for InceptionV3, 32 for the rest).
    """

    name = "tlgan"
    get_profile = staticmethod(get_profile)

    def __init__(self, profile: str = "cpu", seed: int = 0, **overrides: Any):
        if isinstance(overrides.get("backbone_weights"), Path):
            overrides["backbone_weights"] = str(overrides["backbone_weights"])
        super().__init__(profile, seed, **overrides)
        p = self.profile
        if p.backbone_weights is None and not p.random_backbone:
            backbone = get_backbone(p.backbone)
            raise UsageError(missing_weights_message(backbone, p.backbone_alpha, p.discriminator_size))

    def _check_spec(self, spec: ImageSpec) -> None:
        if spec.num_channels not in (1, 3):
            backbone = get_backbone(self.profile.backbone)
            raise DataError(None, f"training images have {spec.num_channels} channels, but the "
                            f"{backbone.constructor} backbone takes RGB (3-channel) images; tlgan "
                            "tiles 1-channel images to 3 and refuses other counts",
                            "convert the images to RGB or grayscale, or use the dcgan generator")

    def _prepare(self, images: np.ndarray) -> None:
        self._gan.discriminator.calibrate(images)

    def _networks(self, spec: ImageSpec, *, loading: bool):
        from augkit_tlgan.backbones import build_backbone
        from augkit_tlgan.model import BackboneDiscriminator, TLGenerator

        p = self.profile
        backbone_info = get_backbone(p.backbone)
        num_classes = len(spec.classes)
        weights = None if loading or p.random_backbone else p.backbone_weights
        backbone = build_backbone(backbone_info, size=p.discriminator_size,
                                  alpha=p.backbone_alpha, weights=weights,
                                  random_seed=None if loading else derive_seed(self.seed, 5))
        generator = TLGenerator(size=p.size, num_channels=spec.num_channels, latent_dim=p.latent_dim,
                                block_width=p.block_width, level_widths=p.level_widths,
                                groups=p.groups, num_classes=num_classes,
                                embedding_dim=p.embedding_dim, seed=derive_seed(self.seed, 1))
        discriminator = BackboneDiscriminator(backbone, mode=backbone_info.mode, input_size=p.size,
                                              backbone_size=p.discriminator_size,
                                              num_classes=num_classes, head_units=p.head_units,
                                              minibatch_std=p.minibatch_std,
                                              head=p.head, head_width=p.head_width,
                                              tap_strides=p.tap_strides,
                                              seed=derive_seed(self.seed, 2))
        return self._built(generator, discriminator, spec)
