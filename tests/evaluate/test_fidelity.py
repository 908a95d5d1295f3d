"""Fréchet distance, KID, the real-vs-real floor and diversity on known inputs."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from augkit.evaluate.fidelity import (compare_to_floor, frechet_distance, kid, mean_pairwise_distance,
                                      mean_pairwise_dissimilarity)


def test_frechet_matches_the_sqrtm_formula_when_full_rank():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 5))
    y = rng.normal(size=(150, 5)) @ rng.normal(size=(5, 5)) + 1.0
    sx, sy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    ref = np.sum((x.mean(0) - y.mean(0)) ** 2) + np.trace(sx + sy - 2 * scipy.linalg.sqrtm(sx @ sy).real)
    assert frechet_distance(x, y) == pytest.approx(ref, rel=1e-9)


def test_frechet_of_one_dimensional_gaussians():
    x = np.array([[-1.0], [1.0]])  # mean 0, var 2
    y = np.array([[4.0], [6.0]])  # mean 5, var 2
    assert frechet_distance(x, y) == pytest.approx(25.0)  # (5 - 0)² + (√2 - √2)²


def test_frechet_is_stable_with_fewer_samples_than_dims():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(15, 120)), rng.normal(size=(15, 120))
    d = frechet_distance(x, y)
    assert np.isfinite(d) and d > 0
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance(y, x) == pytest.approx(d, rel=1e-9)


def test_kid_is_unbiased_near_zero_and_grows_with_a_shift():
    rng = np.random.default_rng(3)
    same = [kid(rng.normal(size=(30, 20)), rng.normal(size=(30, 20))) for _ in range(20)]
    shifted = kid(rng.normal(size=(30, 20)), rng.normal(size=(30, 20)) + 2.0)
    assert abs(np.mean(same)) < 3 * np.std(same) / np.sqrt(len(same)) + 1e-3
    assert shifted > 20 * np.std(same)


def test_floor_is_seeded_and_matched_copy_sits_at_or_below_it():
    rng = np.random.default_rng(4)
    real = rng.normal(size=(30, 12))
    a = compare_to_floor(real, real.copy(), seed=7)
    assert a == compare_to_floor(real, real.copy(), seed=7)
    assert a["frechet"]["floor"] != compare_to_floor(real, real, seed=8)["frechet"]["floor"]
    assert a["frechet"]["full"] == pytest.approx(0.0, abs=1e-8)
    assert a["frechet"]["ratio"] <= 1.0
    far = compare_to_floor(real, rng.normal(size=(30, 12)) + 3.0, seed=7)
    assert far["frechet"]["ratio"] > 5 and far["kid"]["excess_sd"] > 5
    assert far["kid"]["ratio"] is None  # KID's floor is ~0: a ratio would be noise


def test_floor_needs_four_real_rows():
    out = compare_to_floor(np.eye(3), np.eye(3), seed=0)
    assert out["frechet"]["floor"] is None and out["frechet"]["full"] == pytest.approx(0.0, abs=1e-9)


def test_pairwise_spread():
    assert mean_pairwise_distance(np.array([[0.0, 0.0], [3.0, 4.0]])) == pytest.approx(5.0)
    assert mean_pairwise_distance(np.array([[0.0], [1.0], [3.0]])) == pytest.approx((1 + 3 + 2) / 3)
    assert mean_pairwise_distance(np.ones((5, 3))) == 0.0
    img = np.random.default_rng(5).normal(size=(8, 8, 1))
    assert mean_pairwise_dissimilarity(np.stack([img, img, 2 * img + 1])) == pytest.approx(0.0, abs=1e-9)
    assert mean_pairwise_dissimilarity(np.stack([img, -img])) == pytest.approx(2.0)
