"""The Markdown of evaluate_tables' headline numbers: every target of the utility check, failures said."""

from augkit.evaluate.table_summary import checks_markdown, utility_markdown


def _utility(auc_real, auc_synth):
    scores = lambda auc: {"auc": auc, "accuracy": 0.5, "precision": None, "recall": 1.0, "f1": 0.25}  # noqa: E731
    return {"model": "logistic", "num_real_test": 10, "test_class_counts": {"0": 6, "1": 4},
            "rows_without_target": {"test": 1}, "majority_baseline_accuracy": 0.6,
            "num_real_train": 20, "num_synthetic_train": 200, "trtr": scores(auc_real), "tstr": scores(auc_synth),
            "bootstrap": {"trtr": [0.5, 0.9], "tstr_minus_trtr": [-0.3, 0.1]}}


def test_each_target_gets_its_table_and_a_failed_one_says_why():
    text = utility_markdown({"grade": _utility(0.81, 0.66), "death": {"error": "one class only"}})
    assert "Predicting `grade` (logistic classifier), tested on 10 rows" in text
    assert "| 20 real rows (training patients) | 0.81 | 0.50 | – | 1.00 | 0.25 | [0.50, 0.90] |" in text
    assert "| 200 synthetic rows | 0.66 | 0.50 | – | 1.00 | 0.25 | – |" in text
    assert "TSTR − TRTR AUC: [-0.30, +0.10]." in text
    assert "`death`: not computed (one class only)" in text


def test_no_utility_check_is_empty():
    assert utility_markdown(None) == ""


def test_checks_table():
    text = checks_markdown({"flagged_columns": [], "biggest_difference": "age", "mean_column_score": 0.1234,
                            "detection_auc": 0.7},
                           {"share_exact_copies": 0.05, "share_near_copies": 0.5, "dcr_median": 0.3},
                           {"mean_abs_diff": 0.2, "max_abs_diff": 0.9})
    assert "| flagged columns (KS / TVD > 0.2) | none |" in text
    assert "| mean column score (KS / TVD) | 0.123 |" in text
    assert "| exact / near copies of training rows | 5.0% / 50.0% |" in text
    assert "0.300 / nan |" in text  # no held-out patients
