"""evaluate_tables on tiny tables: identical tables show no difference; a shifted column is the
one flagged; the report files are written; utility and privacy figures make sense."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from augkit.errors import DataError, UsageError
from augkit.evaluate.table_report import evaluate_tables

FILES = {"stats_diff.png", "corr_diff.png", "pca.png", "tsne.png", "violin.png", "categories.png",
         "utility.png", "dcr.png", "report.html", "metrics.json"}


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
    m = evaluate_tables(real, real.copy(), tmp_path, target="death01", exclude=["Patient"])
    assert FILES <= {p.name for p in tmp_path.iterdir()}
    assert m["flagged_columns"] == []
    assert m["mean_column_score"] == 0.0 and all(c["score"] == 0.0 for c in m["columns"].values())
    assert m["statistics"]["max_abs_diff"] == 0.0
    assert m["correlation"]["max_abs_diff"] == 0.0
    assert m["privacy"]["share_exact_copies"] == 1.0  # every row is a copy: the check sees it
    assert m["violin_column"] == "age_at_diagnosis"
    # the synthetic copy holds the real test rows too, so training on it cannot do worse
    assert m["utility"]["tstr"]["auc"] >= m["utility"]["trtr"]["auc"]
    assert json.loads((tmp_path / "metrics.json").read_text()) == m


def test_a_shifted_column_is_flagged_and_the_biggest(tmp_path):
    real = patients(60, 0)
    synth = patients(80, 1)  # same distribution, other rows
    synth["age_at_diagnosis"] += 25
    m = evaluate_tables(real, synth, tmp_path, target="grade", exclude=["Patient"], seed=3, plots=False)
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
    m = evaluate_tables(real, useless, tmp_path, target="death01", exclude=["Patient"], plots=False)
    u = m["utility"]
    assert set(u["trtr"]) == {"auc", "accuracy", "precision", "recall", "f1"}
    assert u["num_real_test"] == 24 and u["num_synthetic_train"] == 80
    assert u["trtr"]["auc"] > 0.8  # age predicts death01 in the real rows
    assert u["tstr"]["auc"] < u["trtr"]["auc"] - 0.2  # shuffled labels teach nothing


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
        evaluate_tables(real, real, tmp_path, target="pressure", exclude=["Patient"])
    with pytest.raises(DataError, match="no rows"):
        evaluate_tables(real, real.iloc[:0], tmp_path)
