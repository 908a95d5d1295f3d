"""Named set-ups of the joint image + table GAN (seed 004).

``paper`` is seed 004's network: 200×200 images from a 25×25×256 block through transposed
5×5 convs (256 stride 1, then 128, 64, 1 stride 2), a 400-200-128-64 table head, a
discriminator of four 5×5 convs (64, 128, 256 stride 2, 256 stride 1) beside a 400-200-128-64
table branch, joined into a 25-unit layer; dropout 0.3; Adam 1e-4 for both; batches of 10.
Its shared trunk is 128 units (the seed shares its 160,000-wide image layer; see ``model.py``).
``cpu`` is the same design at 64×64 with narrower layers, 4×4 kernels and Adam 2e-4, β1 0.5
(DCGAN), sized to train on ~100 LGG slices in under 10 minutes on a 2-core CPU. ``tiny`` exists
for tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from augkit.errors import UsageError
from augkit.generators.profiles import check_ranges, named_profile


@dataclass(frozen=True)
class Profile:
    name: str
    size: int  # images are made at size×size (inputs of any size are resized to it)
    latent_dim: int = 100
    trunk_units: tuple[int, ...] = (256,)  # shared dense trunk both heads read from
    #: image head: a Dense to (size/2**len) ** 2 × widths[0], a stride-1 transposed conv of
    #: widths[0], stride-2 ones of widths[1:], and a stride-2 one to the image channels
    image_widths: tuple[int, ...] = (256, 128, 64)
    kernel_size: int = 5
    #: how the image head doubles its size: "transpose" (strided transposed convs, the seed) or
    #: "resize" (nearest up-sampling + conv, free of checkerboard patterns)
    upsampling: str = "transpose"
    table_widths: tuple[int, ...] = (400, 200, 128, 64)
    #: the image head reads the generated row as well as the shared trunk (the image follows
    #: its row); off keeps seed 004's design, where both heads read only the trunk
    row_to_image: bool = False
    #: standard deviation of Gaussian noise on the encoded rows the discriminator sees (real and
    #: fake; 0 = none): against memorising a few dozen training rows
    row_noise: float = 0.0
    #: a categorical or binary row column (LGG: "neoplasm_histologic_grade") that the image
    #: must show: the discriminator gets a head that names it from the image alone (learnt on
    #: real pairs) and the generator is scored on whether its image shows its own row's value
    image_column: str | None = None
    image_column_weight: float = 1.0
    disc_image_widths: tuple[int, ...] = (64, 128, 256, 256)
    disc_image_strides: tuple[int, ...] = (2, 2, 2, 1)
    disc_table_widths: tuple[int, ...] = (400, 200, 128, 64)
    disc_joint_units: int = 25
    dropout: float = 0.3
    epochs: int = 100
    batch_size: int = 10
    g_learning_rate: float = 1e-4
    d_learning_rate: float = 1e-4
    beta_1: float = 0.9
    diff_augment: bool = True  # on the discriminator's image branch (small data)
    diff_augment_policy: tuple[str, ...] = ("translation", "cutout", "brightness")
    #: decode binary/categorical/missing slots by drawing from their probabilities (seeded per
    #: sample) instead of thresholding; keeps rare values rare rather than never
    sample_table: bool = True
    checkpoint_every: int = 25  # epochs between checkpoints (and always the last epoch)
    sample_every: int = 25  # epochs between sample grids in checkpoint_dir

    def __post_init__(self) -> None:
        steps = 2 ** len(self.image_widths)
        if self.size < 8 or self.size % steps:
            raise UsageError(f"tabimage profile {self.name!r}: size must be a multiple of "
                             f"2**len(image_widths) = {steps}. Received: size={self.size}")
        if len(self.disc_image_widths) != len(self.disc_image_strides):
            raise UsageError(f"tabimage profile {self.name!r}: disc_image_widths and "
                             "disc_image_strides must have the same length.")
        if self.upsampling not in ("transpose", "resize"):
            raise UsageError(f"tabimage profile {self.name!r}: upsampling must be 'transpose' or "
                             f"'resize'. Received: {self.upsampling!r}")
        checks = {
            "latent_dim": self.latent_dim >= 1, "kernel_size": self.kernel_size >= 1,
            "epochs": self.epochs >= 1, "batch_size": self.batch_size >= 1,
            "g_learning_rate": self.g_learning_rate > 0, "d_learning_rate": self.d_learning_rate > 0,
            "beta_1": 0 <= self.beta_1 < 1, "dropout": 0 <= self.dropout < 1,
            "row_noise": self.row_noise >= 0, "image_column_weight": self.image_column_weight >= 0,
            "checkpoint_every": self.checkpoint_every >= 1, "sample_every": self.sample_every >= 1,
            "image_widths": bool(self.image_widths) and min(self.image_widths) >= 1,
            "trunk_units": bool(self.trunk_units) and min(self.trunk_units) >= 1,
        }
        check_ranges("tabimage", self, checks)

    @property
    def start_size(self) -> int:
        return self.size // 2 ** len(self.image_widths)


PROFILES = {
    "paper": Profile("paper", size=200, trunk_units=(128,), epochs=5000, batch_size=10,
                     checkpoint_every=500, sample_every=100),
    # narrow convs: on 2 shared cores, steps count more than width (a 4× wider model gave
    # checkerboard squares after 10 minutes, this one skull-rimmed brains); 4×4 kernels, as
    # DCGAN, divide evenly by the stride
    "cpu": Profile("cpu", size=64, trunk_units=(256,), image_widths=(64, 32, 16), kernel_size=4,
                   table_widths=(128, 64), disc_image_widths=(16, 32, 64),
                   disc_image_strides=(2, 2, 2), disc_table_widths=(128, 64), disc_joint_units=25,
                   epochs=600, batch_size=16, g_learning_rate=2e-4, d_learning_rate=2e-4,
                   beta_1=0.5, checkpoint_every=50, sample_every=50),
    "tiny": Profile("tiny", size=16, trunk_units=(16,), image_widths=(8, 4), kernel_size=3,
                    table_widths=(16,), disc_image_widths=(4, 8), disc_image_strides=(2, 2),
                    disc_table_widths=(8,), disc_joint_units=4, epochs=1, batch_size=4,
                    checkpoint_every=1, sample_every=1),
}



def get_profile(name: str, **overrides: Any) -> Profile:
    """The named profile with ``overrides`` applied; one-line UsageError on unknown names."""
    return named_profile("tabimage", PROFILES, name, overrides)
