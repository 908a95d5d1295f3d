"""agreement_scores: agreement with the truth set against chance at the same shares, per slice and per patient."""

import numpy as np
import pytest

from augkit.evaluate.image_row_agreement import agreement_markdown, agreement_scores, is_missing


def test_a_perfect_classifier_agrees_fully_and_beats_chance():
    truth = np.array([1, 1, 0, 0, 0])
    got = agreement_scores(np.array([0.9, 0.7, 0.3, 0.2, 0.1]), truth)
    assert got["agreement"] == 1.0 and got["auc"] == 1.0
    # shares 0.4 and 0.4: chance = 0.4 * 0.4 + 0.6 * 0.6
    assert got["agreement_by_chance_at_these_shares"] == pytest.approx(0.52)
    assert got["share_grade_III"] == got["share_predicted_grade_III"] == 0.4
    assert "patient_auc" not in got


def test_always_one_answer_agrees_only_by_chance():
    truth = np.array([1, 1, 1, 0])
    got = agreement_scores(np.full(4, 0.8), truth)
    assert got["share_predicted_grade_III"] == 1.0
    assert got["agreement"] == got["agreement_by_chance_at_these_shares"] == 0.75


def test_one_class_has_no_auc():
    assert agreement_scores(np.array([0.2, 0.9]), np.array([1, 1]))["auc"] is None


def test_per_patient_auc_uses_each_patients_mean_probability():
    # slice-level ranks are mixed, but each patient's mean ranks the grade III patients first
    p = np.array([0.9, 0.3, 0.6, 0.6, 0.4, 0.5])
    truth = np.array([1, 1, 1, 1, 0, 0])
    patients = ["a", "a", "b", "b", "c", "c"]
    got = agreement_scores(p, truth, patients)
    assert got["patients"] == 3
    assert got["patient_auc"] == 1.0
    assert got["auc"] < 1.0


def test_missing_values():
    assert is_missing(None) and is_missing(float("nan"))
    assert not is_missing(0) and not is_missing("x") and not is_missing(2.0)


def test_markdown_shows_both_rows_and_the_command():
    scores = agreement_scores(np.array([0.9, 0.1, 0.8, 0.2]), np.array([1, 0, 1, 0]), ["a", "b", "c", "d"])
    text = agreement_markdown({"classifier": "clf", "train_slices": 7, "real_test": scores,
                               "synthetic": agreement_scores(np.array([0.9, 0.1]), np.array([0, 1]))},
                              "python bench.py agreement")
    assert "`python bench.py agreement`: clf" in text
    assert "| real, test patients (true grade) | 4 |" in text
    assert "| generated pairs (generated grade) | 2 |" in text
    assert "AUC 1.0 over 4 patients" in text
