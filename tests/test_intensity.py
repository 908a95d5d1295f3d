"""Images between a dataset's form and the GAN generators' [-1, 1] arrays."""

import numpy as np

from augkit.transforms.intensity import resize_image, robust_range, scale_from_unit, scale_to_unit, unit_to_uint8


def test_robust_range_maps_uint8_exactly_and_ignores_a_few_hot_voxels():
    assert robust_range([np.zeros((4, 4, 2), np.uint8)]) == ((0.0, 0.0), (255.0, 255.0))
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 100, (64, 64, 1)).astype(np.float32)
    image[0, 0, 0] = 1e6  # one hot voxel
    (low,), (high,) = robust_range([image, image])
    assert low == 0.0 and 95 < high < 100  # non-negative data starts at 0; the hot voxel is cut
    signed = rng.normal(0, 1, (64, 64, 1)).astype(np.float32)
    (low,), (high,) = robust_range([signed])
    assert low == np.percentile(signed.astype(np.float64), 0.5) and high > 2


def test_robust_range_of_a_constant_image_is_never_empty():
    (low,), (high,) = robust_range([np.full((4, 4, 1), 7.0, np.float32)])
    assert high > low


def test_scaling_round_trips_and_pictures_are_uint8():
    image = np.arange(16, dtype=np.uint16).reshape(4, 4, 1) * 100
    x = scale_to_unit(image, (0.0,), (1500.0,))
    assert x.min() == -1.0 and x.max() == 1.0
    np.testing.assert_array_equal(scale_from_unit(x, (0.0,), (1500.0,), np.uint16), image)
    picture = unit_to_uint8(np.concatenate([x, x, x, x], axis=-1))
    assert picture.dtype == np.uint8 and picture.shape == (4, 4, 3)
    assert picture.min() == 0 and picture.max() == 255


def test_resize_image_keeps_channels_and_float32():
    x = np.random.default_rng(1).uniform(-1, 1, (32, 32, 3)).astype(np.float64)
    small = resize_image(x, (8, 8))
    assert small.shape == (8, 8, 3) and small.dtype == np.float32
    assert abs(float(small.mean()) - float(x.mean())) < 0.05
    assert resize_image(x, (32, 32)).dtype == np.float32
