"""The self-supervised task of the stand-in backbone: 8 labelled variants of each image."""

import numpy as np

from augkit_tlgan.pretrain import rotation_noise_task


def test_each_image_comes_in_four_rotations_with_and_without_noise():
    images = np.random.default_rng(0).uniform(-1, 1, (3, 6, 6, 3))
    x, y = rotation_noise_task(images, np.random.default_rng(1))
    assert x.shape == (24, 6, 6, 3) and x.dtype == np.float32
    assert np.bincount(y).tolist() == [3] * 8
    np.testing.assert_allclose(x[y == 1], np.rot90(images, 1, axes=(1, 2)), rtol=1e-6)
    noisy = x[y == 4]
    assert not np.allclose(noisy, images, atol=1e-3) and noisy.min() >= -1 and noisy.max() <= 1
