"""Named training set-ups for ``tlgan``. ``paper`` is seed 000 (6 up-sampling levels to 256 px,
filters 2**l*8, Xception discriminator with a 2,048-weight head); ``cpu`` is a 64 px generator
against a MobileNetV2 (alpha 0.35) seen at 96 px, with small conv heads on its stride-4/8/16
maps besides the pooled head (``head="multiscale"``, Projected GAN), sized for a 2-core CPU;
``tiny`` exists for tests. Levels follow size: 4 → size doubles once per level."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from augkit.errors import UsageError
from augkit.generators.profiles import check_ranges, named_profile

from augkit_tlgan.backbones import get_backbone


@dataclass(frozen=True)
class Profile:
    name: str
    size: int  # the generator works at size×size; inputs of any size are resized to it
    width_multiplier: float = 1.0
    latent_dim: int = 100
    groups: int = 8  # group normalisation groups
    epochs: int = 600
    batch_size: int = 32  # one step: batch_size/2 reals + batch_size/2 fakes for D
    learning_rate: float = 2e-4
    d_learning_rate: float | None = None  # None: same as learning_rate
    beta_1: float = 0.5
    embedding_dim: int = 50  # generator-side label embedding when conditional
    conditional: bool | None = None  # None: conditional when the data has >= 2 labels
    real_label: float = 1.0
    mode_seeking: float = 0.0  # weight of the anti-collapse term (not in the seed; see gan.py)
    diff_augment: bool = True
    flip: bool = True
    sample_every: int = 10
    backbone: str = "xception"
    backbone_alpha: float = 1.0  # MobileNet widths only
    backbone_size: int | None = None  # side the backbone sees; None: max(size, its minimum)
    backbone_weights: str | None = None  # path of the notop ImageNet weights file, or "imagenet" (Keras' cache)
    random_backbone: bool = False  # explicit opt-in to a frozen randomly initialised backbone
    head_units: int = 0  # 0: pooling + one dense unit (seed 000); > 0 adds a hidden layer
    minibatch_std: bool = False  # batch feature spread into the head (against collapse)
    head: str = "pooled"  # "pooled": seed 000; "multiscale": + conv heads on stride 4/8/16 maps
    head_width: int = 64  # filters of each multiscale conv head
    tap_strides: tuple[int, ...] = (4, 8, 16)  # backbone maps (input side / map side) with a head

    def __post_init__(self) -> None:
        # settings files and --set give lists; the frozen dataclass keeps a hashable tuple
        object.__setattr__(self, "tap_strides", tuple(int(s) for s in self.tap_strides))
        if self.size < 8 or self.size & (self.size - 1):
            raise UsageError(f"tlgan profile {self.name!r}: size must be a power of two >= 8. "
                             f"Received: size={self.size}")
        backbone = get_backbone(self.backbone)
        if self.backbone_size is not None and self.backbone_size < backbone.min_size:
            raise UsageError(
                f"tlgan: the {backbone.constructor} backbone needs inputs of at least "
                f"{backbone.min_size} px; received backbone_size={self.backbone_size}. Fix: set "
                f"backbone_size >= {backbone.min_size} (images are resized up for the "
                "discriminator) or leave it out.")
        checks = {
            "width_multiplier": self.width_multiplier > 0,
            "latent_dim": self.latent_dim >= 1,
            "groups": self.groups >= 1,
            "epochs": self.epochs >= 1,
            "batch_size": self.batch_size >= 2,
            "learning_rate": self.learning_rate > 0,
            "d_learning_rate": self.d_learning_rate is None or self.d_learning_rate > 0,
            "beta_1": 0 <= self.beta_1 < 1,
            "embedding_dim": self.embedding_dim >= 1,
            "real_label": 0.5 < self.real_label <= 1,
            "mode_seeking": self.mode_seeking >= 0,
            "sample_every": self.sample_every >= 1,
            "backbone_alpha": self.backbone_alpha > 0,
            "head_units": self.head_units >= 0,
            "head": self.head in ("pooled", "multiscale"),
            "head_width": self.head_width >= 1,
            "tap_strides": bool(self.tap_strides) and all(
                s >= 2 and s & (s - 1) == 0 for s in self.tap_strides),
        }
        check_ranges("tlgan", self, checks)

    @property
    def num_levels(self) -> int:
        return int(math.log2(self.size)) - 2

    def _scaled(self, width: float) -> int:
        # a multiple of the group count, so group normalisation divides the channels evenly
        return max(self.groups, int(round(width * self.width_multiplier / self.groups)) * self.groups)

    @property
    def level_widths(self) -> list[int]:
        """Filters of level l = L..1 (seed 000: 2**l * 8)."""
        return [self._scaled(2 ** level * 8) for level in range(self.num_levels, 0, -1)]

    @property
    def block_width(self) -> int:
        """Depth of the 4×4 block the latent vector is projected to (2**(L+1) * 8)."""
        return self._scaled(2 ** (self.num_levels + 1) * 8)

    @property
    def discriminator_size(self) -> int:
        return self.backbone_size or max(self.size, get_backbone(self.backbone).min_size)


PROFILES = {
    "paper": Profile("paper", size=256, epochs=600, batch_size=32, backbone="xception"),
    "cpu": Profile("cpu", size=64, epochs=120, batch_size=32, backbone="mobilenet_v2",
                   backbone_alpha=0.35, backbone_size=96, minibatch_std=True, mode_seeking=0.2,
                   head_units=128, head="multiscale", sample_every=10),
    "tiny": Profile("tiny", size=16, width_multiplier=0.5, latent_dim=8, groups=4, epochs=1,
                    batch_size=4, embedding_dim=4, backbone="mobilenet_v2", backbone_alpha=0.35,
                    backbone_size=32, sample_every=1),
}


def get_profile(name: str, **overrides: Any) -> Profile:
    """The named profile with ``overrides`` applied; one-line UsageError on unknown names."""
    if overrides.get("backbone_weights") is not None:
        overrides = {**overrides, "backbone_weights": str(overrides["backbone_weights"])}
    return named_profile("tlgan", PROFILES, name, overrides)
