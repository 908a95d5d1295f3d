"""Shared GAN training helpers: DiffAugment, checkpoints, best weights, history and grids."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import keras  # required dependencies: a broken install fails here, it is not skipped
import tensorflow as tf

from augkit.errors import ModelError  # noqa: E402
from augkit.generators.training import (  # noqa: E402
    BestWeights,
    CheckpointManager,
    CheckpointWarning,
    DiffAugment,
    Checkpoint,
    assign_arrays,
    check_resumable,
    save_image_grid,
    train_one_epoch,
    variable_arrays,
    weights_hash,
    write_history,
)


def _batch(seed=0, shape=(3, 16, 12, 5)):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


# ---------------------------------------------------------------- DiffAugment
def test_diffaugment_same_seed_same_output_and_shape():
    x = _batch()
    a = np.asarray(DiffAugment(seed=7)(x))
    b = np.asarray(DiffAugment(seed=7)(x))
    c = np.asarray(DiffAugment(seed=8)(x))
    assert a.shape == x.shape
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_diffaugment_draws_fresh_each_call():
    x = _batch()
    aug = DiffAugment(seed=7)
    assert not np.allclose(np.asarray(aug(x)), np.asarray(aug(x)))


def test_diffaugment_gradients_reach_the_input():
    x = tf.Variable(_batch())
    aug = DiffAugment(seed=1)
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(aug(x) ** 2)
    grad = tape.gradient(y, x)
    assert grad is not None
    assert np.isfinite(grad.numpy()).all() and np.abs(grad.numpy()).sum() > 0


def test_diffaugment_brightness_only_on_colour_channels():
    x = _batch(shape=(4, 8, 8, 5))
    y = np.asarray(DiffAugment(["brightness"], seed=3)(x, num_color_channels=3))
    np.testing.assert_array_equal(y[..., :2], x[..., :2])  # the condition is not brightened
    shift = y[..., 2:] - x[..., 2:]
    assert np.allclose(shift, shift[:, :1, :1, :1], atol=1e-6)  # one shift per image
    assert np.abs(shift).max() > 0 and np.abs(shift).max() <= 0.5


def test_diffaugment_translation_moves_content_with_zero_fill():
    x = np.zeros((8, 16, 16, 1), np.float32)
    x[:, 6:10, 6:10] = 1.0
    y = np.asarray(DiffAugment(["translation"], seed=5)(x))
    assert y.shape == x.shape
    np.testing.assert_allclose(y.sum(axis=(1, 2, 3)), 16.0)  # a whole 4×4 block, shifted
    assert set(np.unique(y)) <= {0.0, 1.0}
    assert not np.array_equal(y, x)


def test_diffaugment_cutout_zeroes_one_square():
    x = np.ones((4, 16, 16, 2), np.float32)
    y = np.asarray(DiffAugment(["cutout"], seed=2)(x))
    zeros = (y == 0).all(axis=-1)
    assert zeros.any(axis=(1, 2)).all()
    assert (zeros.sum(axis=(1, 2)) <= 64).all()  # at most an 8×8 square (ratio 0.5)


def test_diffaugment_rejects_unknown_policy():
    with pytest.raises(ValueError, match="policy"):
        DiffAugment(["colour"])


# ---------------------------------------------------------------- checkpoints
def _vars():
    return {"model": [keras.Variable(np.arange(6, dtype="float32").reshape(2, 3)),
                      keras.Variable(np.zeros(4, dtype="float32"))],
            "rng": [keras.random.SeedGenerator(3).state]}


def test_checkpoint_round_trip_and_keep(tmp_path):
    groups = _vars()
    manager = CheckpointManager(tmp_path, keep=2)
    for epoch in (1, 2, 3):
        groups["model"][1].assign(np.full(4, epoch, "float32"))
        manager.save(epoch, variable_arrays(groups), {"epoch_note": epoch})
    assert sorted(p.name for p in tmp_path.glob("epoch-*")) == ["epoch-0002", "epoch-0003"]
    fresh = _vars()
    ckpt = manager.restore()
    assert ckpt.epoch == 3 and ckpt.state == {"epoch_note": 3}
    assign_arrays(fresh, ckpt.arrays, ckpt.path)
    np.testing.assert_array_equal(np.asarray(fresh["model"][1]), np.full(4, 3.0))


def test_checkpoint_empty_folder_is_none(tmp_path):
    assert CheckpointManager(tmp_path / "none").restore() is None


def test_checkpoint_damaged_newest_falls_back(tmp_path):
    manager = CheckpointManager(tmp_path)
    groups = _vars()
    manager.save(1, variable_arrays(groups), {})
    newest = manager.save(2, variable_arrays(groups), {})
    (newest / "arrays.npz").write_bytes(b"truncated")
    (tmp_path / ".tmp-epoch-0003-x").mkdir()  # what a kill mid-write leaves behind
    with pytest.warns(CheckpointWarning, match="epoch-0002"):
        ckpt = manager.restore()
    assert ckpt.epoch == 1
    assert not (tmp_path / ".tmp-epoch-0003-x").exists()


def test_checkpoint_all_damaged_is_model_error(tmp_path):
    manager = CheckpointManager(tmp_path)
    path = manager.save(1, variable_arrays(_vars()), {})
    (path / "state.json").unlink()
    with pytest.warns(CheckpointWarning), pytest.raises(ModelError, match="no readable checkpoint") as err:
        manager.restore()
    assert "\n" not in str(err.value) and str(tmp_path) in str(err.value)


def test_checkpoint_blobs_are_shared_checked_and_pruned(tmp_path):
    manager = CheckpointManager(tmp_path, keep=2)
    arrays = variable_arrays(_vars())
    first = manager.write_blob("best", {"best/0": np.zeros(3)})
    manager.save(1, arrays, {}, blobs=[first])
    manager.save(2, arrays, {}, blobs=[first])
    second = manager.write_blob("best", {"best/0": np.ones(3)})
    assert second != first
    manager.save(3, arrays, {}, blobs=[second])
    assert (tmp_path / first).exists()  # epoch 2 still refers to it
    manager.save(4, arrays, {}, blobs=[second])
    assert not (tmp_path / first).exists()  # no kept checkpoint refers to it any more
    np.testing.assert_array_equal(manager.restore().blobs[second]["best/0"], np.ones(3))
    (tmp_path / second).write_bytes(b"torn")
    with pytest.warns(CheckpointWarning, match="does not match its checksum"), \
            pytest.raises(ModelError, match="no readable checkpoint"):
        manager.restore()


def test_checkpoint_newer_format_refused(tmp_path):
    manager = CheckpointManager(tmp_path)
    path = manager.save(1, variable_arrays(_vars()), {})
    meta = json.loads((path / "state.json").read_text())
    meta["format"] = 99
    (path / "state.json").write_text(json.dumps(meta))
    with pytest.warns(CheckpointWarning), pytest.raises(ModelError, match="upgrade augkit"):
        manager.restore()


def test_assign_arrays_shape_mismatch_is_model_error(tmp_path):
    arrays = variable_arrays(_vars())
    arrays["model/0"] = np.zeros((3, 3), "float32")
    with pytest.raises(ModelError, match="does not fit this model"):
        assign_arrays(_vars(), arrays, tmp_path)


# ---------------------------------------------------------------- best weights, hash
def test_best_weights_keeps_lowest_and_restores():
    w = [keras.Variable(np.zeros(3, "float32"))]
    best = BestWeights()
    assert best.update(0.5, 1, w)
    w[0].assign(np.ones(3, "float32"))
    assert not best.update(0.7, 2, w)
    assert not best.update(float("nan"), 3, w)
    assert best.epoch == 1 and best.loss == 0.5
    again = BestWeights.from_state(best.to_state(), best.to_arrays())
    assert again.restore_into(w)
    np.testing.assert_array_equal(np.asarray(w[0]), np.zeros(3))


def test_weights_hash_changes_with_values():
    a = [np.zeros((2, 2), np.float32)]
    b = [np.ones((2, 2), np.float32)]
    assert weights_hash(a) == weights_hash([a[0].copy()])
    assert weights_hash(a) != weights_hash(b)
    assert len(weights_hash(a)) == 12


# ---------------------------------------------------------------- history and grid
def test_write_history_csv_and_png(tmp_path):
    history = {"g_loss": [3.0, 2.0, 1.5], "g_l1": [0.5, 0.4, 0.3], "val_l1": [0.6, 0.5]}
    write_history(history, tmp_path / "h.csv", tmp_path / "h.png")
    rows = list(csv.reader((tmp_path / "h.csv").read_text().splitlines()))
    assert rows[0] == ["epoch", "g_loss", "g_l1", "val_l1"]
    assert rows[3] == ["3", "1.5", "0.3", ""]
    assert (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_save_image_grid(tmp_path):
    rows = [[np.zeros((8, 8), np.uint8), np.full((8, 8, 3), 200, np.uint8)],
            [np.full((8, 8, 1), 50, np.uint8)]]
    save_image_grid(tmp_path / "g" / "grid.png", rows, column_titles=["a", "b"], title="t")
    from PIL import Image

    picture = np.asarray(Image.open(tmp_path / "g" / "grid.png").convert("RGB")).astype(int)
    assert picture.shape == (360, 320, 3)  # 2 × 2 cells of 1.6 in + 0.4 in title, at 100 dpi

    def area(grey):  # pixels of exactly this grey: what one 8×8 cell is scaled up to
        return int((np.abs(picture - grey).max(axis=-1) <= 1).sum())

    # each image shows with its own grey (vmin 0, vmax 255): 0, 200 (RGB) and 50 (H×W×1)
    assert area(0) > 1500 and area(200) > 1500 and area(50) > 1500
    # the missing cell (row 2, column 2) stays blank
    assert (picture[225:345, 175:305] == 255).all()


class _Bar:
    def __init__(self):
        self.steps, self.postfix = 0, {}

    def update(self, n):
        self.steps += n

    def set_postfix(self, refresh=False, **kwargs):
        self.postfix = kwargs


def test_train_one_epoch_runs_whole_batches_in_order_and_averages_the_logs():
    seen = []

    def step(x, y, return_dict):
        seen.append((x.copy(), y.copy()))
        return {"d_loss": float(x.sum()), "g_loss": 1.0}

    x, y = np.arange(7.0), np.arange(7) * 10
    order = np.array([6, 0, 5, 1, 4, 2, 3])
    bar = _Bar()
    record = train_one_epoch(step, (x, y), order, 3, epoch=4, bar=bar, name="toy", fix="none")
    # 7 samples, batches of 3: two batches, the odd one out dropped; indices sorted per batch
    assert [b[0].tolist() for b in seen] == [[0.0, 5.0, 6.0], [1.0, 2.0, 4.0]]
    assert all((b[1] == b[0] * 10).all() for b in seen)  # arrays are indexed together
    assert record == {"d_loss": pytest.approx((11 + 7) / 2), "g_loss": 1.0}
    assert bar.steps == 2 and bar.postfix["epoch"] == 5 and bar.postfix["d_loss"] == "7.000"


def test_train_one_epoch_names_the_epoch_and_the_fix_when_the_losses_turn_nan():
    def step(x, return_dict):
        return {"d_loss": float("nan"), "g_loss": 0.5}

    with pytest.raises(ModelError, match=r"toy training diverged at epoch 3 .*Fix: lower it"):
        train_one_epoch(step, (np.zeros(4),), np.arange(4), 2, epoch=2, bar=_Bar(), name="toy",
                        fix="lower it")


def test_check_resumable_refuses_another_model_or_seed(tmp_path):
    ckpt = Checkpoint(tmp_path / "epoch-0002", 2, {}, {"generator": "dcgan", "config": {"a": 1},
                                                       "data": {"c": 3}, "fit_seed": 7})
    check_resumable(ckpt, {"generator": "dcgan", "config": {"a": 1}, "data": {"c": 3}}, 7)
    with pytest.raises(ModelError, match=r"epoch-0002: .*differs from this one in config .*"
                                         r"new checkpoint_dir"):
        check_resumable(ckpt, {"generator": "dcgan", "config": {"a": 2}, "data": {"c": 3}}, 7)
    with pytest.raises(ModelError, match="seed=7 or use a new checkpoint_dir"):
        check_resumable(ckpt, {"generator": "dcgan", "config": {"a": 1}, "data": {"c": 3}}, 8)
