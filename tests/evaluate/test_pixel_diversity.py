"""Pixel diversity: copies and collapsed sets show up, varied sets do not."""

import numpy as np
import pytest

from augkit.evaluate.pixel_diversity import diversity, label_effect, pairwise_l2, pixel_measures, total_variation


def _images(num, seed, side=16):
    return np.random.default_rng(seed).integers(0, 256, (num, side, side, 1), dtype=np.uint8)


def test_a_collapsed_set_has_no_diversity():
    same = np.repeat(_images(1, 0), 5, axis=0)
    got = diversity(same)
    assert got["mean_pairwise_l2"] == pytest.approx(0.0, abs=1e-6)
    assert got["mean_pairwise_1_minus_ncc"] == pytest.approx(0.0, abs=1e-6)
    assert got["near_duplicate_pair_share"] == 1.0


def test_independent_noise_images_are_uncorrelated_and_not_duplicates():
    got = diversity(_images(6, 1))
    assert got["mean_pairwise_1_minus_ncc"] == pytest.approx(1.0, abs=0.1)
    assert got["near_duplicate_pair_share"] == 0.0


def test_pairwise_l2_is_the_rms_difference_in_unit_range():
    a = np.zeros((2, 4, 4, 1), np.uint8)
    a[1] = 255
    a[1, :2] = 0  # half the pixels differ by 1
    assert pairwise_l2(a)[0, 1] == pytest.approx(np.sqrt(0.5))


def test_total_variation_is_zero_for_flat_images_and_high_for_a_checkerboard():
    flat = np.full((1, 8, 8, 1), 90, np.uint8)
    board = (np.indices((8, 8)).sum(0) % 2 * 255).astype(np.uint8)[None, ..., None]
    assert total_variation(flat) == 0.0
    assert total_variation(board) == pytest.approx(2.0)


def test_a_copied_real_image_is_at_distance_zero_from_its_nearest_real():
    reals = _images(10, 2)
    fakes = np.concatenate([reals[:1], _images(3, 3)])
    got = pixel_measures(fakes, reals[:4], reals)
    assert got["nearest_real_1_minus_ncc"]["generated_min"] == pytest.approx(0.0, abs=1e-6)
    # each shown real is compared with the *other* reals, not itself
    assert got["nearest_real_1_minus_ncc"]["real_to_other_real_median"] > 0.5


def test_label_effect_compares_class_change_with_noise_change():
    assert label_effect({"a": np.zeros((3, 2, 2))}) is None
    base = np.random.default_rng(4).random((4, 8, 8))
    got = label_effect({"a": base, "b": base + 0.01, "c": base})
    assert got["classes"] == ["a", "b"] and got["num_noise_vectors"] == 4
    assert got["mean_abs_pixel_change_same_noise_other_class"] == pytest.approx(0.01)
    assert got["mean_abs_pixel_change_other_noise_same_class"] > 0.1
