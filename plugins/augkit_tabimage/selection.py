"""Choosing a tabimage set-up on validation patients: train on the training patients, and at
each stop (a number of epochs) score the generated pairs against the validation patients the
model never saw: the share of generated rows that are near copies of a training row, the grade
learnt from the generated rows (TSTR AUC on the validation rows) and whether the generated image
follows its generated grade (the real-trained image classifier's AUC). The stop chosen is the one
with the best TSTR among those whose near-copy share is at most ``max_near_copies``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def score_stop(gen, train, val, out_dir, *, target: str, num_samples: int, seed: int) -> dict[str, Any]:
    """One stop's validation scores (the generator as it is now); ``out_dir`` takes the table
    check's metrics.json (no figures)."""
    import pandas as pd

    from augkit.evaluate.image_row_agreement import image_row_agreement
    from augkit.evaluate.table_report import evaluate_tables
    from augkit.tables.patients import patient_table

    synthetic = list(gen.generate(num_samples, seed=seed))
    metrics = evaluate_tables(patient_table(train), pd.DataFrame([s.features for s in synthetic]), out_dir,
                              target=target, test_df=patient_table(val), seed=seed, plots=False,
                              num_bootstrap=200)
    utility = metrics["utility"][target]
    agreement = image_row_agreement(train, val, synthetic, target)
    return {"epochs": gen.epochs_trained,
            "share_near_copies": metrics["privacy"]["share_near_copies"],
            "share_exact_copies": metrics["privacy"]["share_exact_copies"],
            "tstr_auc": utility["tstr"].get("auc"), "trtr_auc": utility["trtr"].get("auc"),
            "image_row_auc": agreement["synthetic"]["auc"],
            "image_row_auc_real_val": agreement["real_test"]["auc"]}


def choose(stops: Sequence[dict[str, Any]], *, max_near_copies: float = 0.05) -> dict[str, Any] | None:
    """The stop with the best validation TSTR AUC among those with at most ``max_near_copies``
    near copies (ties: fewer epochs); None when no stop is private enough."""
    private = [s for s in stops if s["share_near_copies"] <= max_near_copies and s["tstr_auc"] is not None]
    if not private:
        return None
    return max(private, key=lambda s: (s["tstr_auc"], -s["epochs"]))
