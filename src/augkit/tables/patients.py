"""One table row per patient from the Samples of a tabimage dataset: several slices of a patient
share one row, and a table check must count each patient once (``evaluate_folders``, the tabimage
benchmark)."""

from __future__ import annotations

import json


def patient_table(samples):
    """One row per patient: several real slices of a patient share one table row (the tabimage
    reader's ``table_id``; samples without one count as one row per distinct row), in the order
    the patients first appear."""
    import pandas as pd

    return pd.DataFrame(patient_rows(samples)[0])


def patient_rows(samples) -> tuple[list[dict], list[str]]:
    """The rows of ``patient_table`` and the id of each patient's first sample: the real rows a near-copy check measures against, where a patient's several slices must
    not count as duplicate rows (which would make the near-copy threshold that of exact copies)."""
    rows, ids, seen = [], [], set()
    for s in samples:
        key = s.meta.get("table_id") or json.dumps(s.features, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            rows.append(s.features)
            ids.append(s.id)
    return rows, ids
