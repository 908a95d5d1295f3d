"""Near-copy detection: copies (even dimmed or slightly noisy) are flagged, classical variants
(shifted, rotated) and different images are not."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from augkit.evaluate import DEFAULT_NEAR_COPY_THRESHOLD, find_near_copies
from augkit.evaluate.features import thumbnails, zscore_flat
from augkit.evaluate.privacy import memorisation, real_nn_similarities


def test_copies_are_all_flagged_with_their_source(real_set, derive):
    copies = derive(real_set, lambda im, m: (im.copy(), m), "copy")
    found = find_near_copies(copies, real_set)
    assert [(s, r) for s, r, _ in found] == [(c.id, r.id) for c, r in zip(copies, real_set)]
    assert all(v == pytest.approx(1.0) for _, _, v in found)


def test_degraded_copies_are_still_flagged(real_set, derive):
    rng = np.random.default_rng(1)

    def dim_and_noise(im, m):
        out = 0.7 * im.astype(np.float64) + 20 + rng.normal(0, 4, im.shape)
        return np.clip(out, 0, 255).astype(np.uint8), m

    assert len(find_near_copies(derive(real_set, dim_and_noise, "dim"), real_set)) == len(real_set)


@pytest.mark.parametrize("name,fn", [
    ("shift", lambda im, m: (np.roll(im, (5, -4), (0, 1)), np.roll(m, (5, -4), (0, 1)))),
    ("rotate", lambda im, m: (ndimage.rotate(im, 20, reshape=False, order=1, mode="reflect"),
                              ndimage.rotate(m, 20, reshape=False, order=0))),
])
def test_shifted_or_rotated_versions_are_not_flagged(real_set, derive, name, fn):
    assert find_near_copies(derive(real_set, fn, name), real_set) == []


def test_other_images_are_not_flagged_and_threshold_is_respected(real_set, make_set):
    others = make_set(10, seed=99, tag="other", source="gan")
    assert find_near_copies(others, real_set) == []
    assert len(find_near_copies(others, real_set, threshold=-1.0)) == 10
    assert find_near_copies([], real_set) == []
    assert DEFAULT_NEAR_COPY_THRESHOLD == 0.95


def test_real_reference_leaves_each_image_out(real_set):
    idx, sim = real_nn_similarities(zscore_flat(thumbnails(real_set)))
    assert np.all(idx != np.arange(len(real_set))) and sim.max() < 0.95


def test_memorisation_summary(real_set, derive):
    half = derive(real_set[:5], lambda im, m: (im.copy(), m), "copy") + derive(
        real_set[5:10], lambda im, m: (np.rot90(im).copy(), np.rot90(m).copy()), "rot")
    mem = memorisation(real_set, half)
    assert mem["num_near_copies"] == 5 and mem["near_copy_fraction"] == 0.5
    assert [p["near_copy"] for p in mem["pairs"]] == [True] * 5 + [False] * 5
    assert all(p["ssim"] == pytest.approx(1.0) for p in mem["pairs"][:5])
    assert mem["above_real_max"] >= 5 and len(mem["real_pairs"]) == 30
