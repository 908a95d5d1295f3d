"""Named training set-ups for ``dcgan``. ``paper`` is seed 002 as written (128 px, 1024×4×4
latent block, 128-filter convolutions, batches of 128 real + 128 fake); ``cpu`` trains on a few
hundred 64 px slices in 10-13 minutes on the shared 2-core CPU (quarter-width generator with
filters halving at each up block, half-width discriminator with a minibatch-stddev channel,
a mode-seeking term against collapse, batches of 16 + 16); ``tiny`` exists for tests. The number
of up-sampling blocks follows the size: 4 → size doubles once per block."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from augkit.errors import UsageError
from augkit.generators.profiles import check_ranges, named_profile

#: seed 002 at ``width_multiplier=1``: the 4×4 block's depth, each up block's and each
#: discriminator conv's filters
PAPER_BLOCK_WIDTH = 1024
PAPER_UP_WIDTH = 128
PAPER_DISCRIMINATOR_WIDTH = 128
NUM_DISCRIMINATOR_CONVS = 5


@dataclass(frozen=True)
class Profile:
    name: str
    size: int  # the networks work at size×size; inputs of any size are resized to it
    width_multiplier: float = 1.0
    d_width_multiplier: float | None = None  # discriminator's own; None: width_multiplier
    latent_dim: int = 100
    epochs: int = 200
    batch_size: int = 256  # one step: batch_size/2 reals + batch_size/2 fakes for D
    learning_rate: float = 2e-4
    d_learning_rate: float | None = None  # None: same as learning_rate
    beta_1: float = 0.5
    leaky_slope: float = 0.02  # discriminator LeakyReLU (seed 002)
    dropout: float = 0.4  # before the discriminator's output unit
    # Batch norm in the generator's up blocks (DCGAN style). Off by default: on a few hundred
    # LGG slices it collapsed every sample to one image within 150 steps (1-NCC diversity
    # 0.017 vs 0.19 without, 32 px, 15 epochs); seed 002's listing leaves it out too.
    batch_norm: bool = False
    minibatch_std: bool = False  # feature spread across the batch into D (against collapse)
    taper: bool = False  # halve the filters at each up block (cheaper at high resolution)
    embedding_dim: int = 50  # class-label embedding on both sides when conditional
    conditional: bool | None = None  # None: conditional when the data has >= 2 labels
    # How a conditional model takes its class (model.py): "projection" = projection
    # discriminator with an auxiliary class head + per-class gain/bias in every generator up
    # block; "concat" = the first design (label map stacked on the input / first block), which
    # the generator learnt to ignore (LGG grades: 0.009 pixel change on a class flip vs 0.099
    # for new noise).
    conditioning: str = "projection"
    class_weight: float = 1.0  # weight of the auxiliary class loss ("projection" only)
    # Conditional: each epoch draws every class equally often (minority classes repeated), so
    # a class with few images is not learnt as an afterthought.
    balance_classes: bool = True
    real_label: float = 1.0  # < 1: one-sided label smoothing
    mode_seeking: float = 0.0  # weight of the anti-collapse term (not in the seed; see gan.py)
    diff_augment: bool = False
    flip: bool = True  # random left-right flip of the reals while training
    # How images meet the network size: "resize" (bilinear), or "pad": images of one size no
    # larger than the network's are edge-padded in and generated images cropped back, with no
    # resampling. Resizing 28 px chest X-rays to 32 and back blurs them enough that a classifier
    # trained on real train500 calls 30 % of real normal val images pneumonia (accuracy on
    # normal 0.94 -> 0.70; pneumonia 0.97 -> 1.00): blur reads as opacity.
    resample: str = "resize"
    sample_every: int = 10  # epochs between sample grids in checkpoint_dir

    def __post_init__(self) -> None:
        if self.size < 16 or self.size & (self.size - 1):
            raise UsageError(f"dcgan profile {self.name!r}: size must be a power of two >= 16. "
                             f"Received: size={self.size}")
        checks = {
            "width_multiplier": self.width_multiplier > 0,
            "d_width_multiplier": self.d_width_multiplier is None or self.d_width_multiplier > 0,
            "latent_dim": self.latent_dim >= 1,
            "epochs": self.epochs >= 1,
            "batch_size": self.batch_size >= 2,
            "learning_rate": self.learning_rate > 0,
            "d_learning_rate": self.d_learning_rate is None or self.d_learning_rate > 0,
            "beta_1": 0 <= self.beta_1 < 1,
            "leaky_slope": 0 <= self.leaky_slope < 1,
            "dropout": 0 <= self.dropout < 1,
            "embedding_dim": self.embedding_dim >= 1,
            "real_label": 0.5 < self.real_label <= 1,
            "mode_seeking": self.mode_seeking >= 0,
            "conditioning": self.conditioning in ("projection", "concat"),
            "class_weight": self.class_weight >= 0,
            "resample": self.resample in ("resize", "pad"),
            "sample_every": self.sample_every >= 1,
        }
        check_ranges("dcgan", self, checks)

    @property
    def num_up_blocks(self) -> int:
        """Transposed-conv blocks from the 4×4 block to size×size."""
        return int(math.log2(self.size)) - 2

    def _scaled(self, width: int, multiplier: float | None = None) -> int:
        return max(4, int(round(width * (multiplier or self.width_multiplier))))

    @property
    def block_width(self) -> int:
        return self._scaled(PAPER_BLOCK_WIDTH)

    @property
    def up_widths(self) -> list[int]:
        """Seed 002: 128 filters in every up block. ``taper``: block_width/2, /4, ... (min 8),
        so the costly full-resolution block is the narrowest."""
        if self.taper:
            return [max(8, self.block_width // 2 ** (k + 1)) for k in range(self.num_up_blocks)]
        return [self._scaled(PAPER_UP_WIDTH)] * self.num_up_blocks

    @property
    def discriminator_widths(self) -> list[int]:
        return [self._scaled(PAPER_DISCRIMINATOR_WIDTH, self.d_width_multiplier)] * NUM_DISCRIMINATOR_CONVS


PROFILES = {
    "paper": Profile("paper", size=128, width_multiplier=1.0, epochs=20000, batch_size=256,
                     sample_every=100),
    "cpu": Profile("cpu", size=64, width_multiplier=0.25, d_width_multiplier=0.5, taper=True,
                   epochs=160, batch_size=32, diff_augment=True, minibatch_std=True,
                   mode_seeking=0.2, sample_every=10),
    "tiny": Profile("tiny", size=16, width_multiplier=1 / 16, latent_dim=8, epochs=1,
                    batch_size=4, embedding_dim=4, sample_every=1),
}


def get_profile(name: str, **overrides: Any) -> Profile:
    """The named profile with ``overrides`` applied; one-line UsageError on unknown names."""
    return named_profile("dcgan", PROFILES, name, overrides)
