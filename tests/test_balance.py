"""plan_class_targets: equal split, reals kept, remainder spread deterministically."""

from __future__ import annotations

import pytest

from augkit.expand.balance import plan_class_targets
from augkit.errors import UsageError


def test_equal_split_of_balanced_classes():
    assert plan_class_targets(["a", "b"] * 5, 40) == {"a": 20, "b": 20}


def test_small_classes_are_filled_first_and_large_ones_keep_their_reals():
    labels = ["big"] * 50 + ["mid"] * 10 + ["small"] * 2
    plan = plan_class_targets(labels, 100)
    assert plan == {"big": 50, "mid": 25, "small": 25}
    assert sum(plan.values()) == 100


def test_remainder_goes_to_classes_at_the_level_in_sorted_order():
    # level 3 for all (9), one left: goes to the first label in sorted order
    assert plan_class_targets(["c", "a", "b"], 10) == {"a": 4, "b": 3, "c": 3}
    # 'a' is above the level and never takes the remainder
    plan = plan_class_targets(["a"] * 6 + ["b", "c"], 11)
    assert plan == {"a": 6, "b": 3, "c": 2}


def test_same_answer_whatever_the_order_of_the_labels():
    labels = ["G3", "G2", "G2", "G3", "G2", 7]
    shuffled = [labels[i] for i in (4, 0, 5, 2, 1, 3)]
    assert plan_class_targets(labels, 17) == plan_class_targets(shuffled, 17)
    assert sum(plan_class_targets(labels, 17).values()) == 17


def test_target_equal_to_reals_keeps_counts():
    assert plan_class_targets(["x", "x", "y"], 3) == {"x": 2, "y": 1}


@pytest.mark.parametrize("labels, target, words", [
    ([], 10, "none"),
    (["a", None], 10, "1 of 2 have none"),
    (["a", "b", "c"], 2, "at least 3"),
])
def test_bad_requests_are_refused_with_one_clear_message(labels, target, words):
    with pytest.raises(UsageError, match=words):
        plan_class_targets(labels, target)
