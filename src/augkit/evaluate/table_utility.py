"""Train-synthetic-test-real (TSTR) against train-real-test-real (TRTR): is a classifier
trained on synthetic rows as good on real held-out rows as one trained on real rows?"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from augkit.errors import UsageError
from augkit.evaluate.table_view import level_key
from augkit.tables.encoding import TablePreprocessor


def utility(real: pd.DataFrame, synth: pd.DataFrame, test: pd.DataFrame, prep: TablePreprocessor,
            target: str, seed: int, model: str, num_bootstrap: int = 2000) -> dict:
    """TRTR (train on ``real``) and TSTR (train on ``synth``), both tested on ``test``: real rows of
    patients that neither the generator nor the real baseline saw (the caller's split, by
    patient). Rows whose target is missing are left out of that model's rows and counted;
    missing feature values keep their own indicator slot (no imputation). A bootstrap over the
    test rows gives 95 % intervals for each AUC and for TSTR − TRTR."""
    if target not in real.columns:
        raise UsageError(f"evaluate_tables: target {target!r} is not a column; columns: {list(real.columns)}")
    spec = next(c for c in prep.columns if c.name == target)
    if spec.kind == "numeric":
        raise UsageError(f"evaluate_tables: target {target!r} is numeric; the utility check classifies. "
                         "Fix: pick a binary or categorical column.")
    if model not in ("logistic", "gradient_boosting"):
        raise UsageError(f"evaluate_tables: model must be 'logistic' or 'gradient_boosting'. Received: {model!r}")
    levels = list(spec.categories)
    for value in test[target].dropna().tolist():  # a test value no training table has: its own class
        if level_key(value) not in {level_key(v) for v in levels}:
            levels.append(value)
    lookup = {level_key(v): i for i, v in enumerate(levels)}

    def xy(df):
        keep = df[target].notna().to_numpy()
        df = df[keep].reset_index(drop=True)
        y = np.array([lookup[level_key(v)] for v in df[target].tolist()], dtype=int)
        return df.drop(columns=[target]), y, int((~keep).sum())

    (real_x, real_y, real_gaps), (synth_x, synth_y, synth_gaps), (test_x, test_y, test_gaps) = \
        xy(real), xy(synth), xy(test)
    result: dict[str, Any] = {
        "target": target, "model": model, "classes": [str(level_key(c)) for c in levels],
        "split": "by patient: the test rows are patients outside the real training rows",
        "num_real_train": len(real_y), "num_synthetic_train": len(synth_y), "num_real_test": len(test_y),
        "rows_without_target": {"real": real_gaps, "synthetic": synth_gaps, "test": test_gaps},
        "test_class_counts": {str(level_key(levels[k])): int(n) for k, n in
                              zip(*np.unique(test_y, return_counts=True))},
    }
    if len(np.unique(test_y)) < 2:
        result["error"] = f"the test rows hold a single {target!r} value; nothing to score"
        return result
    # the one-hot vocabulary, ranges and missing flags of every table (no labels: unsupervised),
    # so that a value or a gap seen in one table only still has its slot
    features = TablePreprocessor(kinds={c.name: c.kind for c in prep.columns if c.name != target})
    features.fit(pd.concat([real_x, synth_x, test_x], ignore_index=True))
    xr, xs, xt = features.transform(real_x), features.transform(synth_x), features.transform(test_x)
    num_classes = len(levels)
    majority = int(np.bincount(real_y, minlength=num_classes).argmax()) if len(real_y) else 0
    result["majority_baseline_accuracy"] = float(np.mean(test_y == majority))
    probas = {}
    for key, x, y in (("trtr", xr, real_y), ("tstr", xs, synth_y)):
        result[key], probas[key] = fit_score(x, y, xt, test_y, num_classes, model, seed)
    if all(p is not None for p in probas.values()):
        result["bootstrap"] = _bootstrap_auc(test_y, probas, num_classes, seed, num_bootstrap)
    return result


def _auc(y: np.ndarray, proba: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    present = np.unique(y)
    if len(present) < 2:
        return None
    if proba.shape[1] == 2:
        return float(roc_auc_score(y, proba[:, 1]))
    p = proba[:, present]
    p = p / np.clip(p.sum(axis=1, keepdims=True), 1e-12, None)
    if len(present) == 2:
        return float(roc_auc_score(y == present[1], p[:, 1]))
    return float(roc_auc_score(y, p, multi_class="ovr", average="macro", labels=present))


def _bootstrap_auc(y: np.ndarray, probas: dict, num_classes: int, seed: int, num: int) -> dict:
    """95 % percentile intervals over test rows drawn with replacement (draws with one class skipped)."""
    rng = np.random.default_rng([seed, 0xB007])
    draws = {"trtr": [], "tstr": [], "tstr_minus_trtr": []}
    for _ in range(num):
        idx = rng.integers(0, len(y), len(y))
        if len(np.unique(y[idx])) < 2:
            continue
        a, b = _auc(y[idx], probas["trtr"][idx]), _auc(y[idx], probas["tstr"][idx])
        draws["trtr"].append(a)
        draws["tstr"].append(b)
        draws["tstr_minus_trtr"].append(b - a)
    out = {k: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] for k, v in draws.items() if v}
    out["num_resamples"] = len(draws["trtr"])
    out["measure"] = "AUC, 95 % percentile interval over test rows resampled with replacement"
    return out


def fit_score(x_train, y_train, x_test, y_test, num_classes, model, seed) -> tuple[dict, np.ndarray | None]:
    """Scores of a classifier trained on (x_train, y_train) on the test rows, and its class
    probabilities on them (None when it could not be trained)."""
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    present = np.unique(y_train)
    if len(present) < 2:
        return {"error": f"training rows hold a single class ({int(present[0]) if len(present) else 'none'}); "
                         "a classifier cannot be trained"}, None
    clf = LogisticRegression(max_iter=2000) if model == "logistic" \
        else GradientBoostingClassifier(random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x_train, y_train)
    proba = np.zeros((len(x_test), num_classes))
    proba[:, clf.classes_] = clf.predict_proba(x_test)
    pred = clf.predict(x_test)
    average = "binary" if num_classes == 2 else "macro"
    scores = {
        "auc": _auc(y_test, proba),
        "accuracy": float(accuracy_score(y_test, pred)),
        "precision": float(precision_score(y_test, pred, average=average, zero_division=0)),
        "recall": float(recall_score(y_test, pred, average=average, zero_division=0)),
        "f1": float(f1_score(y_test, pred, average=average, zero_division=0)),
    }
    return scores, proba
