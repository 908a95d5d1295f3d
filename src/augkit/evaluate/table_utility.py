"""Train-synthetic-test-real (TSTR) against train-real-test-real (TRTR): is a classifier
trained on synthetic rows as good on real held-out rows as one trained on real rows?"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from augkit.errors import UsageError
from augkit.evaluate.table_fidelity import level_key
from augkit.table_encoding import TablePreprocessor


def utility(real, synth, prep, target, seed, model, test_fraction) -> dict:
    from sklearn.model_selection import train_test_split

    if target not in real.columns:
        raise UsageError(f"evaluate_tables: target {target!r} is not a column; columns: {list(real.columns)}")
    spec = next(c for c in prep.columns if c.name == target)
    if spec.kind == "numeric":
        raise UsageError(f"evaluate_tables: target {target!r} is numeric; the utility check classifies. "
                         "Fix: pick a binary or categorical column.")
    if model not in ("logistic", "gradient_boosting"):
        raise UsageError(f"evaluate_tables: model must be 'logistic' or 'gradient_boosting'. Received: {model!r}")
    lookup = {level_key(v): i for i, v in enumerate(spec.categories)}

    def xy(df):
        keep = df[target].notna().to_numpy()
        df = df[keep].reset_index(drop=True)
        y = np.array([lookup[level_key(v)] for v in df[target].tolist()])
        return df.drop(columns=[target]), y

    features = TablePreprocessor(kinds={c.name: c.kind for c in prep.columns if c.name != target})
    real_x, real_y = xy(real)
    synth_x, synth_y = xy(synth)
    classes, counts = np.unique(real_y, return_counts=True)
    result: dict[str, Any] = {"target": target, "model": model, "classes": [str(c) for c in spec.categories]}
    if len(classes) < 2:
        result["error"] = f"the real {target!r} column has a single value; nothing to predict"
        return result
    stratify = real_y if counts.min() >= 2 else None
    train_idx, test_idx = train_test_split(np.arange(len(real_y)), test_size=test_fraction,
                                           random_state=seed, stratify=stratify)
    features.fit(pd.concat([real_x, synth_x], ignore_index=True))
    xr, xs = features.transform(real_x), features.transform(synth_x)
    result.update(num_real_train=len(train_idx), num_real_test=len(test_idx), num_synthetic_train=len(synth_y))
    result["trtr"] = fit_score(xr[train_idx], real_y[train_idx], xr[test_idx], real_y[test_idx],
                                len(spec.categories), model, seed)
    result["tstr"] = fit_score(xs, synth_y, xr[test_idx], real_y[test_idx], len(spec.categories), model, seed)
    return result


def fit_score(x_train, y_train, x_test, y_test, num_classes, model, seed) -> dict:
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

    present = np.unique(y_train)
    if len(present) < 2:
        return {"error": f"training rows hold a single class ({int(present[0]) if len(present) else 'none'}); "
                         "a classifier cannot be trained"}
    clf = LogisticRegression(max_iter=2000) if model == "logistic" \
        else GradientBoostingClassifier(random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x_train, y_train)
    proba_known = clf.predict_proba(x_test)
    proba = np.zeros((len(x_test), num_classes))
    proba[:, clf.classes_] = proba_known
    pred = clf.predict(x_test)
    binary = num_classes == 2
    average = "binary" if binary else "macro"
    scores = {
        "accuracy": float(accuracy_score(y_test, pred)),
        "precision": float(precision_score(y_test, pred, average=average, zero_division=0)),
        "recall": float(recall_score(y_test, pred, average=average, zero_division=0)),
        "f1": float(f1_score(y_test, pred, average=average, zero_division=0)),
    }
    test_classes = np.unique(y_test)
    if len(test_classes) < 2:
        scores["auc"] = None
    elif binary:
        scores["auc"] = float(roc_auc_score(y_test, proba[:, 1]))
    else:
        p = proba[:, test_classes]
        p = p / np.clip(p.sum(axis=1, keepdims=True), 1e-12, None)
        scores["auc"] = float(roc_auc_score(y_test, p, multi_class="ovr", average="macro", labels=test_classes)) \
            if len(test_classes) > 2 else float(roc_auc_score(y_test == test_classes[1], p[:, 1]))
    return scores
