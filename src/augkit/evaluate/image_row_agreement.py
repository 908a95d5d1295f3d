"""Does a generated image agree with its generated table row? A joint image + table generator
(tabimage) is only useful if the two halves of a pair belong together: a classifier of one row
column (e.g. the tumour grade) trained on real images is scored on real held-out images against
their true value and on generated images against their generated value."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CLASSIFIER = ("logistic regression (C=0.1, balanced) on augkit.evaluate.features image features "
              "(intensity, GLCM, LBP, gradient) of FLAIR, fitted on the training slices")


def is_missing(value) -> bool:
    """An empty table cell as the readers give it: ``None`` or a float NaN."""
    return value is None or (isinstance(value, float) and np.isnan(value))


def agreement_scores(probability: np.ndarray, truth: np.ndarray,
                     patients: Sequence[str] | None = None) -> dict:
    """How far predictions (``probability`` of the positive class > 0.5) agree with ``truth``
    (0/1), set against the agreement two independent guessers with these shares would reach by
    chance; with ``patients``, also the AUC of each patient's mean probability."""
    from sklearn.metrics import roc_auc_score

    p, truth = np.asarray(probability, float), np.asarray(truth, int)
    pred = (p > 0.5).astype(int)
    chance = float(pred.mean() * truth.mean() + (1 - pred.mean()) * (1 - truth.mean()))
    out = {"slices": len(p), "share_grade_III": round(float(truth.mean()), 3),
           "share_predicted_grade_III": round(float(pred.mean()), 3),
           "agreement": round(float(np.mean(pred == truth)), 3),
           "agreement_by_chance_at_these_shares": round(chance, 3),
           "auc": round(float(roc_auc_score(truth, p)), 3) if len(set(truth)) == 2 else None}
    if patients is not None:
        ids = sorted(set(patients))
        mean_p = [float(np.mean([q for q, pid in zip(p, patients) if pid == one])) for one in ids]
        truth_p = [int(next(t for t, pid in zip(truth, patients) if pid == one)) for one in ids]
        out["patients"] = len(ids)
        out["patient_auc"] = round(float(roc_auc_score(truth_p, mean_p)), 3)
    return out


def image_row_agreement(train, test, synthetic, column: str, positive=2, *,
                        checkpoint_hash: str | None = None) -> dict:
    """Fit the image classifier of ``column == positive`` on the real ``train`` Samples and score
    it on the real ``test`` Samples (per slice and per patient, ``meta["table_id"]``) and on the
    generated ``synthetic`` pairs; Samples without a value in ``column`` are left out. The
    ``checkpoint_hash`` of the model that made the pairs goes into the record (the share keys
    say ``grade_III`` for the ``positive`` class: the record's names as first published)."""
    from sklearn.linear_model import LogisticRegression

    from augkit.evaluate.features import FeatureSpace

    train, test, synthetic = ([s for s in group if not is_missing(s.features[column])]
                              for group in (train, test, synthetic))
    space = FeatureSpace.fit(train, use_masks=False)
    truth = {name: np.array([int(s.features[column]) == positive for s in group], int)
             for name, group in (("train", train), ("test", test), ("synthetic", synthetic))}
    clf = LogisticRegression(C=0.1, max_iter=5000, class_weight="balanced")
    clf.fit(space.transform(train), truth["train"])

    def probability(group):
        return clf.predict_proba(space.transform(group))[:, 1]

    return {"classifier": CLASSIFIER, "target": column, "train_slices": len(train),
            "checkpoint_hash": checkpoint_hash,
            "real_test": agreement_scores(probability(test), truth["test"], [s.meta["table_id"] for s in test]),
            "synthetic": agreement_scores(probability(synthetic), truth["synthetic"])}


def agreement_markdown(result: dict, command: str) -> str:
    """``result`` of ``image_row_agreement`` as a Markdown table, under the ``command`` that made it."""
    t, g = result["real_test"], result["synthetic"]
    return f"""# Does a generated image agree with its generated grade?

`{command}`: {result['classifier']}
({result['train_slices']} slices of the training patients, grade II vs III). Scored on:

| slices | n | grade III share | predicted grade III | agreement (accuracy) | agreement by chance at these shares | AUC |
|---|---:|---:|---:|---:|---:|---:|
| real, test patients (true grade) | {t['slices']} | {t['share_grade_III']} | {t['share_predicted_grade_III']} | {t['agreement']} | {t['agreement_by_chance_at_these_shares']} | {t['auc']} |
| generated pairs (generated grade) | {g['slices']} | {g['share_grade_III']} | {g['share_predicted_grade_III']} | {g['agreement']} | {g['agreement_by_chance_at_these_shares']} | {g['auc']} |

Per test patient (mean probability of its slices): AUC {t['patient_auc']} over {t['patients']} patients.
"""
