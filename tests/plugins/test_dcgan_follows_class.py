"""dcgan follows its class: under the same noise, flipping the class changes a sample more
than new noise does (tiny profile, toy classes that differ in where the bright half lies)."""

from __future__ import annotations

import numpy as np
import pytest

import tensorflow  # noqa: F401  (required: a broken install fails, it is not skipped)

from augkit.sample import Provenance, Sample  # noqa: E402
from augkit_dcgan.generator import DCGAN  # noqa: E402


def two_classes(num_per_class: int = 8, side: int = 16, seed: int = 0) -> list[Sample]:
    """Class ``top``: bright upper half; class ``bottom``: bright lower half; noise on both."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(2 * num_per_class):
        label = ("top", "bottom")[i % 2]
        image = rng.integers(0, 60, (side, side, 1)).astype(np.uint8)
        rows = slice(0, side // 2) if label == "top" else slice(side // 2, side)
        image[rows] += 180
        out.append(Sample(image, Provenance(f"toy-{i}"), label=label))
    return out


def flip_and_noise_change(model: DCGAN, num: int = 16) -> tuple[float, float]:
    """Mean absolute pixel change ([0, 1] units) when the class flips under the same noise, and
    when the noise is new under the same class."""
    def images(seed, label):
        return np.stack([s.image for s in model.generate(num, seed=seed, conditions=[label])]
                        ).astype(np.float64) / 255.0

    top, bottom, top_new = images(5, "top"), images(5, "bottom"), images(6, "top")
    bottom_new = images(6, "bottom")
    flip = 0.5 * (np.abs(top - bottom).mean() + np.abs(top_new - bottom_new).mean())
    noise = 0.5 * (np.abs(top - top_new).mean() + np.abs(bottom - bottom_new).mean())
    return float(flip), float(noise)


@pytest.mark.parametrize("seed", [0, 1])
def test_flipping_the_class_changes_a_sample_more_than_new_noise(seed):
    # 96 steps. Measured over weight seeds 0-3: flip/noise 10-20 with the default conditioning;
    # 0.2-0.4 for seeds 0-2 with the first design (conditioning="concat", the code before
    # issue 23), which learnt the class on this toy only at seed 3.
    model = DCGAN("tiny", seed=seed, learning_rate=1e-3)
    model.fit(two_classes(), epochs=12, seed=seed, progress=False)
    flip, noise = flip_and_noise_change(model)
    assert flip > 3 * noise, (flip, noise)
