"""Golden-value determinism of the Dice-gain benchmark's U-Net (MONAI-style): a tiny U-Net
trained a few steps on fixed data gives the same losses every time from the same seed, so two
conditions of the benchmark differ by their data and not by chance in the training loop."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

SEGMENTER = Path(__file__).resolve().parents[1] / "benchmarks" / "segmenter.py"

# Losses of the first run below, recorded on x86-64 (TF 2.21, Keras 3.15). Compared with a
# tolerance: other CPUs may round the last bits differently; same-machine runs must be exact.
GOLDEN_LOSSES = [1.5053462982177734, 1.3834506273269653, 1.3568110466003418, 1.3302505016326904,
                 1.3102020025253296, 1.280493974685669]


@pytest.fixture(scope="module")
def segmenter():
    spec = importlib.util.spec_from_file_location("dice_gain_segmenter", SEGMENTER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def _data():
    rng = np.random.default_rng(1234)
    x = rng.random((6, 16, 16, 3), dtype=np.float32)
    yy, xx = np.mgrid[:16, :16]
    centres = rng.integers(4, 12, size=(6, 2))
    y = np.stack([((yy - cy) ** 2 + (xx - cx) ** 2 < 9) for cy, cx in centres]).astype(np.float32)[..., None]
    x[..., 1] += 0.5 * y[..., 0]  # the "tumour" is brighter in one channel: something to learn
    return x, y


def _train(segmenter, seed):
    cfg = segmenter.SegmenterConfig(size=16, base_width=4, num_levels=2, batch_size=2, num_steps=6,
                                    eval_every=3, batch_norm=False, learning_rate=1e-2)
    x, y = _data()
    return segmenter.train_segmenter(x, y, cfg, seed=seed, val=(x[:2], y[:2]))


def test_same_seed_same_losses(segmenter):
    first = _train(segmenter, seed=3)
    second = _train(segmenter, seed=3)

    assert len(first.losses) == 6 and all(np.isfinite(first.losses))
    assert first.losses == second.losses  # exact: same seed, same process, same bytes
    assert first.history == second.history and first.best_step == second.best_step
    assert first.losses[-1] < first.losses[0]  # it learns
    for a, b in zip(first.model.get_weights(), second.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(first.losses, GOLDEN_LOSSES, rtol=1e-4)


def test_seed_reaches_the_weights(segmenter):
    cfg = segmenter.SegmenterConfig(size=16, base_width=4, num_levels=2)
    a = segmenter.build_unet(cfg, 3, seed=3).get_weights()
    b = segmenter.build_unet(cfg, 3, seed=3).get_weights()
    c = segmenter.build_unet(cfg, 3, seed=4).get_weights()
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_batches_cycle_a_small_set_with_a_fixed_shape(segmenter):
    idx = segmenter.batch_indices(num_samples=3, batch_size=4, num_steps=5, seed=0)
    assert idx.shape == (5, 4)
    # every pass is a permutation: each sample appears once per 3 draws
    flat = idx.ravel()
    for start in range(0, 18, 3):
        assert sorted(flat[start:start + 3]) == [0, 1, 2]
    assert not np.array_equal(idx, segmenter.batch_indices(3, 4, 5, seed=1))
