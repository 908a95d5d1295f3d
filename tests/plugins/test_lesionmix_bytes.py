"""lesionmix's fast paths give the same bytes as the plain code they replaced: the outputs of
small real-data expands are pinned by hash (taken before the speed-ups), and each exact
rewrite (channel mean, hole filling, the grown lesion, the brain statistics) is checked against
the numpy / scipy expression it stands for."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy import ndimage

from augkit.transforms.anatomy import _channel_mean, _fill_holes, percentile_of_counts
from augkit.expand.run import expand
from augkit.io import read_dataset
from augkit.registry.host import get_generator
from augkit_lesionmix.carve import BrainStats
from augkit_lesionmix.generator import _grow

# sha256 over (relative path, bytes) of every output file, from the code before the speed-ups
PINNED = {
    ("alpha", 40, 0): "5ca8543c7c674fe7",
    ("poisson", 36, 1): "6af0cc8fe26c9925",
}


def tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@pytest.mark.parametrize("blend, target, seed", list(PINNED))
def test_lgg_expand_bytes_are_pinned(shared_data, tmp_path, blend, target, seed):
    src = shared_data / "lgg" / "train30"
    data = read_dataset(src)
    gen = get_generator("lesionmix")(blend=blend)
    gen.fit(data.samples, progress=False)
    expand(src, target, tmp_path / "out", seed=seed, generator=gen, gan_fraction=1.0, progress=False,
           dataset=data)
    assert tree_hash(tmp_path / "out") == PINNED[(blend, target, seed)]


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.float64, np.int32])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_channel_mean_is_numpys_mean(dtype, channels):
    rng = np.random.default_rng(channels)
    x = (rng.standard_normal((37, 41, channels)) * 300).astype(dtype)
    expected = x.astype(np.float32).mean(axis=-1)
    assert np.array_equal(_channel_mean(x).view(np.uint32), expected.view(np.uint32))


def test_fill_holes_is_scipys():
    rng = np.random.default_rng(0)
    for k in range(50):
        binary = ndimage.binary_opening(rng.random((53, 71)) < rng.uniform(0.3, 0.8))
        binary = ~binary if k % 2 else binary
        assert np.array_equal(_fill_holes(binary), ndimage.binary_fill_holes(binary))


def test_grow_on_the_lesion_box_is_the_full_distance_map():
    rng = np.random.default_rng(1)
    for k in range(100):
        inside = np.zeros((90, 120), bool)
        y, x = rng.integers(0, 90), rng.integers(0, 120)
        inside[max(y - 9, 0):y + 5, max(x - 3, 0):x + 12] = rng.random() < 0.5 or k % 3
        inside &= rng.random(inside.shape) < 0.8
        if not inside.any():
            continue
        pixels = float(rng.uniform(0.5, 25))
        full = cv2.distanceTransform((~inside).astype(np.uint8), cv2.DIST_L2, 5) <= pixels
        assert np.array_equal(_grow(inside, pixels), full)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("size", [5, 9000, 70000])
def test_brain_stats_are_numpys(channels, size):
    rng = np.random.default_rng(size + channels)
    image = (rng.random((size, 1, channels)) * 1000).astype(np.float32)
    brain = rng.random((size, 1)) < 0.9
    pixels = image[brain]
    low, high = np.percentile(pixels, (0.5, 99.5), axis=0)
    stats = BrainStats.of(image, brain)
    for got, want in ((stats.mean, pixels.mean(0)), (stats.std, np.maximum(pixels.std(0), 1e-3)),
                      (stats.low, low), (stats.high, high)):
        assert got.dtype == want.dtype and np.array_equal(got, want)


@pytest.mark.parametrize("q", [99, 0.5, 50, 0, 100, (0.5, 99.5), (0.5,)])
def test_percentile_of_counts_is_numpys(q):
    rng = np.random.default_rng(7)
    values = np.arange(766, dtype=np.float32) / 3
    for k in range(200):
        keys = rng.integers(0, 766 if k % 3 else 4, int(rng.integers(1, 3000)))
        want = np.percentile(values[keys], q)
        got = percentile_of_counts(np.bincount(keys, minlength=len(values)), values, q)
        assert type(got) is type(want) and np.asarray(got).dtype == np.asarray(want).dtype
        assert np.array_equal(got, want)


def test_brain_stats_of_a_uint8_slice_are_numpys():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (64, 80, 3)).astype(np.uint8)
    brain = rng.random((64, 80)) < 0.6
    pixels = image.astype(np.float32)[brain]
    stats = BrainStats.of(image, brain)
    low, high = np.percentile(pixels, (0.5, 99.5), axis=0)
    assert np.array_equal(stats.low, low) and np.array_equal(stats.high, high)
    assert np.array_equal(stats.mean, pixels.mean(0)) and np.array_equal(stats.std, pixels.std(0))
