"""Named training set-ups. ``paper`` is seed 001 as written; ``cpu`` trains on 30 LGG slices in
under 15 minutes on a 2-core CPU; ``tiny`` exists for tests. Depth follows resolution: the U-Net
halves the image down to 1×1, so a 256 px profile has 7 down-sampling blocks, 128 px has 6, ..."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from augkit.errors import UsageError
from augkit.generators.profiles import check_ranges, named_profile

#: filters of seed 001's seven down-sampling blocks (the up path mirrors them) and of its
#: five discriminator blocks, at ``width_multiplier=1``
PAPER_GENERATOR_WIDTHS = (64, 128, 256, 512, 512, 512, 512)
PAPER_DISCRIMINATOR_WIDTHS = (64, 128, 256, 512, 512)
LABEL_MAPS = ("mask", "tissue")


@dataclass(frozen=True)
class Profile:
    name: str
    size: int  # the network works at size×size; inputs of any size are resized to it
    width_multiplier: float = 1.0
    epochs: int = 100
    batch_size: int = 1
    l1_weight: float = 100.0  # α in GAN + α·L1 (pix2pix; seed 001 does not give its value)
    learning_rate: float = 1e-4
    beta_1: float = 0.5
    dropout: float = 0.3
    diff_augment: bool = True
    flip: bool = True  # random left-right flip of (mask, image) pairs while training
    inference_dropout: bool = False  # True: dropout on when generating, seeded per sample
    restore_best: bool = True  # end fit() with the weights of the lowest validation L1
    val_max_samples: int = 16  # validation L1 on at most this many pairs, fixed per run
    sample_every: int = 5  # epochs between sample grids in checkpoint_dir
    #: what the generator is conditioned on: "mask" (the label map alone, seed 001) or "tissue"
    #: (head + ``tissue_classes`` k-means intensity classes + lesion, built from a real slice;
    #: generating then needs real Samples, see ``augkit_pix2pix.tissue``)
    label_map: str = "mask"
    tissue_classes: int = 3

    def __post_init__(self) -> None:
        if self.size < 16 or self.size & (self.size - 1):
            raise UsageError(
                f"pix2pix profile {self.name!r}: size must be a power of two >= 16. "
                f"Received: size={self.size}"
            )
        if self.label_map not in LABEL_MAPS:
            raise UsageError(
                f"pix2pix profile {self.name!r}: label_map must be one of {', '.join(LABEL_MAPS)}. "
                f"Received: label_map={self.label_map!r}"
            )
        checks = {
            "tissue_classes": self.tissue_classes >= 1,
            "width_multiplier": self.width_multiplier > 0,
            "epochs": self.epochs >= 1,
            "batch_size": self.batch_size >= 1,
            "l1_weight": self.l1_weight >= 0,
            "learning_rate": self.learning_rate > 0,
            "beta_1": 0 <= self.beta_1 < 1,
            "dropout": 0 <= self.dropout < 1,
            "val_max_samples": self.val_max_samples >= 1,
            "sample_every": self.sample_every >= 1,
        }
        check_ranges("pix2pix", self, checks)

    @property
    def num_levels(self) -> int:
        """Down-sampling blocks before the bottleneck: size / 2**(levels + 1) == 1."""
        return int(math.log2(self.size)) - 1

    def _scaled(self, widths: tuple[int, ...]) -> list[int]:
        return [max(4, int(round(w * self.width_multiplier))) for w in widths]

    @property
    def generator_widths(self) -> list[int]:
        return self._scaled(PAPER_GENERATOR_WIDTHS[: self.num_levels])

    @property
    def discriminator_widths(self) -> list[int]:
        # 5 blocks at 256 px as in the paper, one fewer per halving: the patch map stays 8×8
        num_blocks = max(1, min(len(PAPER_DISCRIMINATOR_WIDTHS), self.num_levels - 2))
        return self._scaled(PAPER_DISCRIMINATOR_WIDTHS[:num_blocks])


PROFILES = {
    "paper": Profile("paper", size=256, width_multiplier=1.0, epochs=100, batch_size=1),
    # ~5 s an epoch on 30 slices with 2 CPU cores; 2e-4 (pix2pix's rate) because 120 short
    # epochs give far fewer steps than the paper's 100 epochs at 256 px
    "cpu": Profile("cpu", size=128, width_multiplier=0.5, epochs=120, batch_size=2,
                   learning_rate=2e-4, sample_every=10),
    "tiny": Profile("tiny", size=16, width_multiplier=1 / 16, epochs=1, batch_size=2,
                    val_max_samples=4, sample_every=1),
}


def get_profile(name: str, **overrides: Any) -> Profile:
    """The named profile with ``overrides`` applied; one-line UsageError on unknown names."""
    return named_profile("pix2pix", PROFILES, name, overrides)
