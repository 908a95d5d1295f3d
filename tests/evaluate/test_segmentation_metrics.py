"""Segmentation metrics on hand-computed label maps."""

from __future__ import annotations

import numpy as np
import pytest

from augkit.errors import UsageError
from augkit.evaluate.segmentation import accuracy, dice, dice_per_class, mean_iou, segmentation_scores


def strip(cols, width=10):
    """A 1×width map with label 1 on ``cols``."""
    m = np.zeros((1, width), np.uint8)
    m[0, list(cols)] = 1
    return m


def test_known_overlap():
    truth = strip(range(0, 4))  # 4 foreground pixels
    pred = strip(range(2, 8))  # 6 pixels, 2 shared
    assert dice(pred, truth) == pytest.approx(2 * 2 / (4 + 6))
    assert accuracy(pred, truth) == pytest.approx(4 / 10)  # cols 0, 1 and 4..7 wrong
    # background: truth 6, pred 4, shared 2 (cols 8, 9) -> union 8; foreground: 2 / 8
    assert mean_iou(pred, truth) == pytest.approx((2 / 8 + 2 / 8) / 2)


def test_perfect_and_disjoint():
    truth = strip([1, 2])
    assert dice(truth, truth) == 1.0 and mean_iou(truth, truth) == 1.0 and accuracy(truth, truth) == 1.0
    assert dice(strip([5, 6]), truth) == 0.0


def test_empty_maps_convention():
    empty = np.zeros((4, 4), np.uint8)
    assert dice(empty, empty) == 1.0  # nothing to find, nothing found
    assert dice(strip([0]), np.zeros((1, 10), np.uint8)) == 0.0  # false alarm on empty truth
    assert dice(np.zeros((1, 10), np.uint8), strip([0])) == 0.0  # missed lesion
    assert mean_iou(empty, empty) == 1.0  # background only, all right


def test_multiclass_and_binary_foreground():
    truth = np.array([[0, 1, 1, 2, 2, 4]])
    pred = np.array([[0, 1, 2, 2, 2, 0]])
    per = dice_per_class(pred, truth)
    assert per == {1: pytest.approx(2 / 3), 2: pytest.approx(0.8), 4: 0.0}
    assert dice(pred, truth) == pytest.approx(2 * 4 / (4 + 5))  # any label > 0 is foreground
    assert dice_per_class(pred, truth, classes=[3]) == {3: 1.0}  # absent from both
    # IoU over classes 0, 1, 2, 4: 1/2, 1/2, 2/3, 0
    assert mean_iou(pred, truth) == pytest.approx((0.5 + 0.5 + 2 / 3 + 0) / 4)


def test_batched_scores_mean_per_image_and_pooled():
    a_t, a_p = strip(range(0, 4)), strip(range(2, 8))  # dice 0.4
    b_t = np.zeros((1, 10), np.uint8)  # empty truth, empty pred: dice 1
    scores = segmentation_scores([(a_p, a_t), (b_t, b_t)])
    assert scores["num_images"] == 2
    assert scores["dice"] == pytest.approx((0.4 + 1.0) / 2)
    assert scores["dice_pooled"] == pytest.approx(0.4)  # the empty pair adds no pixels
    assert scores["accuracy"] == pytest.approx((0.4 + 1.0) / 2)
    assert scores["dice_per_class"] == {1: pytest.approx(0.7)}
    assert scores["mean_class_dice"] == pytest.approx(0.7)


def test_lgg_style_255_masks_and_channel_axis():
    truth = np.zeros((8, 8, 1), np.uint8)
    truth[2:6, 2:6] = 255
    pred = truth[..., 0].copy()
    pred[2:6, 2:4] = 0  # half the lesion found
    assert dice(pred, truth) == pytest.approx(2 * 8 / (8 + 16))
    assert segmentation_scores([(pred, truth)])["dice_per_class"] == {255: pytest.approx(2 / 3)}


def test_bad_input():
    with pytest.raises(UsageError, match="same shape"):
        dice(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(UsageError, match="at least one"):
        segmentation_scores([])
