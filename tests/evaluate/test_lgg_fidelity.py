"""Real data: LGG validation patients against the 30 training slices sit near the real-vs-real
floor, far below a set of noise images of the same shape."""

from __future__ import annotations

import numpy as np

from augkit.evaluate.features import FeatureSpace
from augkit.evaluate.fidelity import compare_to_floor
from augkit.sample import Provenance, Sample


def test_val_is_near_the_floor_and_noise_is_far(lgg):
    train, val = lgg("train30"), lgg("val")
    rng = np.random.default_rng(0)
    noise = [Sample(image=rng.integers(0, 256, s.image.shape, dtype=np.uint8), mask=s.mask,
                    provenance=Provenance(id=f"noise{i}", source="gan")) for i, s in enumerate(train)]
    space = FeatureSpace.fit(train)
    x_train = space.transform(train)
    to_val = compare_to_floor(x_train, space.transform(val), seed=0)["frechet"]
    to_noise = compare_to_floor(x_train, space.transform(noise), seed=0)["frechet"]
    assert to_val["ratio"] < 1.5  # measured ≈ 1.1: other patients look like real data
    assert to_noise["ratio"] > 20  # measured ≈ 275
    # the gap to the floor is small next to noise's gap
    assert (to_val["matched"] - to_val["floor"]) < 0.01 * (to_noise["matched"] - to_noise["floor"])
