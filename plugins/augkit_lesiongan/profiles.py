"""Named training set-ups. ``cpu`` trains on 30 LGG slices in under 20 minutes on a loaded
2-core CPU (64 px crops); ``paper`` is the larger crop of Huo et al.'s lesion painter (96 px,
wider networks); ``tiny`` exists for tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from augkit.errors import UsageError
from augkit.generators.profiles import check_ranges, named_profile


@dataclass(frozen=True)
class Profile:
    name: str
    size: int  # the networks work on size×size crops; windows of any size are resized to it
    generator_widths: tuple[int, ...] = (32, 64, 128, 128)
    discriminator_widths: tuple[int, ...] = (32, 64, 128)
    epochs: int = 120  # ~7 s an epoch on LGG train30 (34 lesions) with 2 loaded cores
    batch_size: int = 8
    crops_per_lesion: int = 8  # jittered, flipped crops of every training lesion per epoch
    l1_weight: float = 100.0
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    diff_augment: bool = True
    # DiffAugment's translation only: its cutout (a quarter of the crop) mostly hides the
    # painted region (a sixth of the crop), and with it on the discriminator stayed at chance
    # (d_loss 0.694 for 28 epochs on LGG train30), leaving an L1-only painter
    diff_augment_policy: tuple[str, ...] = ("translation",)
    # the window and the region, as fractions of the image side (the same at any resolution)
    context: float = 1.8  # window side = context × the region's extent ...
    min_window: float = 0.25  # ... but at least this × the image side
    margin: float = 0.012  # tissue painted around the lesion
    feather: float = 0.02  # soft edge beyond the margin
    jitter: float = 0.15  # training windows move by up to this × their side
    zoom_range: tuple[float, float] = (0.85, 1.25)  # and are scaled by this
    min_lesion_pixels: int = 16  # smaller specks are not trained on as lesions
    restore_best: bool = True  # end fit() with the weights of the lowest validation L1
    val_max_crops: int = 24
    sample_every: int = 10  # epochs between sample grids in checkpoint_dir
    # generating: the share of placed lesions painted by the network; the rest keep lesionmix's
    # transplanted donor tissue (both kinds in one set). Acts only when generating, so a trained
    # painter takes another share without retraining (LesionGAN.set_paint_share)
    paint_share: float = 1.0

    def __post_init__(self) -> None:
        levels = len(self.generator_widths)
        if self.size < 8 or self.size % (2 ** levels):
            raise UsageError(f"lesiongan profile {self.name!r}: size must be a multiple of "
                             f"2**len(generator_widths) = {2 ** levels}. Received: size={self.size}")
        object.__setattr__(self, "zoom_range", tuple(float(v) for v in self.zoom_range))
        checks = {
            "epochs": self.epochs >= 1, "batch_size": self.batch_size >= 1,
            "crops_per_lesion": self.crops_per_lesion >= 1, "l1_weight": self.l1_weight >= 0,
            "learning_rate": self.learning_rate > 0, "beta_1": 0 <= self.beta_1 < 1,
            "context": self.context >= 1, "min_window": 0 < self.min_window <= 1,
            "margin": self.margin >= 0, "feather": self.feather >= 0, "jitter": 0 <= self.jitter < 0.5,
            "zoom_range": len(self.zoom_range) == 2 and 0 < self.zoom_range[0] <= self.zoom_range[1]
            and self.zoom_range[0] * self.context >= 1,
            "val_max_crops": self.val_max_crops >= 1, "sample_every": self.sample_every >= 1,
            "paint_share": 0 <= self.paint_share <= 1,
        }
        check_ranges("lesiongan", self, checks)


PROFILES = {
    "cpu": Profile("cpu", size=64),
    # 96 = 3 × 2**5: five levels down to 3×3
    "paper": Profile("paper", size=96, generator_widths=(64, 128, 256, 256, 256),
                     discriminator_widths=(64, 128, 256), epochs=200, crops_per_lesion=16),
}
PROFILES["tiny"] = Profile("tiny", size=16, generator_widths=(4, 8), discriminator_widths=(4,), epochs=1,
                           batch_size=2, crops_per_lesion=1, val_max_crops=4, sample_every=1)


def get_profile(name: str, **overrides: Any) -> Profile:
    """The named profile with ``overrides`` applied; one-line UsageError on unknown names."""
    return named_profile("lesiongan", PROFILES, name, overrides)
