"""patient_table keeps one row per patient, in the order the patients first appear."""

import numpy as np

from augkit.sample import Provenance, Sample
from augkit.tables.patients import patient_table


def _slice(name, features, table_id=None):
    meta = {"table_id": table_id} if table_id else {}
    return Sample(image=np.zeros((4, 4, 1), np.uint8), features=features, meta=meta,
                  provenance=Provenance(id=name))


def test_one_row_per_patient_in_first_seen_order():
    samples = [_slice("b1", {"age": 50}, "B"), _slice("a1", {"age": 40}, "A"), _slice("b2", {"age": 50}, "B")]
    table = patient_table(samples)
    assert table["age"].tolist() == [50, 40]


def test_samples_without_a_table_id_count_once_per_distinct_row():
    samples = [_slice("x", {"age": 1}), _slice("y", {"age": 1}), _slice("z", {"age": 2})]
    assert patient_table(samples)["age"].tolist() == [1, 2]
