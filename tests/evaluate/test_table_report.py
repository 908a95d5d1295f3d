"""evaluate_tables on tiny tables: identical tables show no difference; a shifted column is the
one flagged; the report files are written; utility and privacy figures make sense. The utility
check is tested on held-out patients only, with the real LGG rows too."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from augkit.errors import DataError, UsageError
from augkit.evaluate.table_report import evaluate_tables

FILES = {"stats_diff.png", "corr_diff.png", "pca.png", "tsne.png", "violin.png", "categories.png",
         "utility_death01.png", "dcr.png", "report.html", "metrics.json"}


def patients(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(55, 10, n).round()
    return pd.DataFrame({
        "Patient": [f"p{seed}-{i}" for i in range(n)],
        "age_at_diagnosis": age,
        "sex": rng.choice(["F", "M"], n),
        "grade": np.where(age + rng.normal(0, 4, n) > 55, "G3", "G2"),
        "cluster": rng.integers(1, 4, n),
        "pressure": np.where(rng.random(n) < 0.2, np.nan, rng.normal(120, 5, n).round(1)),
        "death01": (age + rng.normal(0, 4, n) > 60).astype(int),
    })


def test_identical_tables_show_no_difference(tmp_path):
    real = patients(40, 0)
    m = evaluate_tables(real, real.copy(), tmp_path, target="death01", test_df=patients(30, 9),
                        exclude=["Patient"], num_bootstrap=50)
    assert FILES <= {p.name for p in tmp_path.iterdir()}
    assert m["flagged_columns"] == []
    assert m["mean_column_score"] == 0.0 and all(c["score"] == 0.0 for c in m["columns"].values())
    assert m["statistics"]["max_abs_diff"] == 0.0
    assert m["correlation"]["max_abs_diff"] == 0.0
    assert m["privacy"]["share_exact_copies"] == 1.0  # every row is a copy: the check sees it
    assert m["violin_column"] == "age_at_diagnosis"
    # trained on the same rows, TSTR is TRTR; the test patients are others
    u = m["utility"]["death01"]
    assert u["tstr"] == u["trtr"] and u["num_real_test"] == 30 and u["num_real_train"] == 40
    assert m["privacy"]["holdout_dcr_median"] > 0.0 == m["privacy"]["dcr_median"]
    assert json.loads((tmp_path / "metrics.json").read_text()) == m


def test_a_shifted_column_is_flagged_and_the_biggest(tmp_path):
    real = patients(60, 0)
    synth = patients(80, 1)  # same distribution, other rows
    synth["age_at_diagnosis"] += 25
    m = evaluate_tables(real, synth, tmp_path, target="grade", test_df=patients(20, 4), exclude=["Patient"],
                        seed=3, plots=False, num_bootstrap=50)
    assert m["biggest_difference"] == "age_at_diagnosis"
    assert m["flagged_columns"] == ["age_at_diagnosis"]
    assert m["columns"]["age_at_diagnosis"]["score"] > 0.8
    per = m["statistics"]["per_column"]["age_at_diagnosis"]["diff_in_range_units"]
    assert all(per[s] > 0.3 for s in ("median", "mean", "q25", "q75"))
    assert m["privacy"]["share_exact_copies"] == 0.0
    assert "age_at_diagnosis" in (tmp_path / "report.html").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "report.html"]  # plots=False


def test_utility_compares_train_on_real_and_train_on_synthetic(tmp_path):
    real = patients(80, 0)
    useless = patients(80, 1)
    useless["death01"] = np.random.default_rng(5).permutation(useless["death01"].to_numpy())  # no signal
    m = evaluate_tables(real, useless, tmp_path, target=["death01"], test_df=patients(40, 7),
                        exclude=["Patient"], plots=False, num_bootstrap=200)
    u = m["utility"]["death01"]
    assert set(u["trtr"]) == {"auc", "accuracy", "precision", "recall", "f1"}
    assert (u["num_real_train"], u["num_synthetic_train"], u["num_real_test"]) == (80, 80, 40)
    assert u["trtr"]["auc"] > 0.8  # age predicts death01 in the real rows
    assert u["tstr"]["auc"] < u["trtr"]["auc"] - 0.2  # shuffled labels teach nothing
    low, high = u["bootstrap"]["tstr_minus_trtr"]
    assert low <= u["tstr"]["auc"] - u["trtr"]["auc"] <= high and low < -0.2


def test_synthetic_copies_are_counted(tmp_path):
    real = patients(40, 0)
    synth = pd.concat([real.iloc[:10], patients(30, 2)], ignore_index=True)
    m = evaluate_tables(real, synth, tmp_path, exclude=["Patient"], plots=False)
    assert m["privacy"]["share_exact_copies"] == pytest.approx(10 / 40)
    assert m["privacy"]["share_near_copies"] >= 10 / 40
    assert "utility" not in m


def test_bad_input_is_reported(tmp_path):
    real = patients(20, 0)
    with pytest.raises(DataError, match="differ in columns"):
        evaluate_tables(real, real.drop(columns=["sex"]), tmp_path)
    with pytest.raises(UsageError, match="numeric"):
        evaluate_tables(real, real, tmp_path, target="pressure", test_df=real, exclude=["Patient"])
    with pytest.raises(DataError, match="no rows"):
        evaluate_tables(real, real.iloc[:0], tmp_path)
    with pytest.raises(UsageError, match="needs test_df: real rows of patients that neither the generator"):
        evaluate_tables(real, real, tmp_path, target="death01", exclude=["Patient"])
    with pytest.raises(DataError, match="test_df lacks \\['sex'\\]"):
        evaluate_tables(real, real, tmp_path, target="death01", test_df=real.drop(columns=["sex"]))


def lgg_rows(shared_data, split):
    return pd.read_csv(shared_data / "lgg" / f"patients_{split}.csv")


def test_utility_on_the_real_lgg_rows_tests_on_the_test_patients_only(shared_data, tmp_path):
    """train30's 30 patients train both models; the 20 test patients (one without a grade or
    death01) are the test rows. A generator that copies its training rows gets TRTR's score
    exactly and shows as 100 % copies, while new patients are not copies."""
    real, test = lgg_rows(shared_data, "train30"), lgg_rows(shared_data, "test")
    assert not set(real["Patient"]) & set(test["Patient"])
    ids = ["case", "Patient"]
    m = evaluate_tables(real, real.copy(), tmp_path, target=["neoplasm_histologic_grade", "death01"],
                        test_df=test, exclude=ids, plots=False, num_bootstrap=100)
    for name in ("neoplasm_histologic_grade", "death01"):
        u = m["utility"][name]
        assert (u["num_real_train"], u["num_real_test"]) == (30, 19)
        assert u["rows_without_target"] == {"real": 0, "synthetic": 0, "test": 1}
        assert u["tstr"] == u["trtr"] and 0.0 <= u["trtr"]["auc"] <= 1.0
    assert m["utility"]["neoplasm_histologic_grade"]["classes"] == ["1", "2"]
    assert m["privacy"]["share_exact_copies"] == 1.0
    assert m["privacy"]["holdout_dcr_p5"] > 0.0  # no test patient is a training row
    # gaps stay gaps: the missing share of a column is compared, not filled in
    assert m["columns"]["RNASeqCluster"]["real_frequencies"]["(missing)"] == pytest.approx(5 / 30)
    # a generator whose rows carry no grade signal: TSTR falls to chance, TRTR does not move
    noise = real.copy()
    noise["neoplasm_histologic_grade"] = np.random.default_rng(0).permutation(noise["neoplasm_histologic_grade"])
    shuffled = evaluate_tables(real, noise, tmp_path / "shuffled", target="neoplasm_histologic_grade",
                               test_df=test, exclude=ids, plots=False, num_bootstrap=100)
    u = shuffled["utility"]["neoplasm_histologic_grade"]
    assert u["trtr"] == m["utility"]["neoplasm_histologic_grade"]["trtr"]
    assert u["tstr"] != u["trtr"]
