"""The captions of image + row pairs and the rows written beside the grid."""

import numpy as np

from augkit.sample import Provenance, Sample
from augkit_tabimage.grids import row_caption, write_rows_csv


def test_caption_names_the_grade_and_marks_missing_cells():
    text = row_caption({"neoplasm_histologic_grade": 2.0, "age_at_initial_pathologic": 41.0,
                        "death01": float("nan"), "gender": "female", "other": 5})
    lines = text.splitlines()
    assert lines == ["grade: 2 (WHO III)", "death01: (missing)", "age: 41", "gender: female"]


def test_caption_keeps_an_unknown_grade_code_and_a_fractional_value():
    assert row_caption({"neoplasm_histologic_grade": 3, "age_at_initial_pathologic": 41.5}) == \
        "grade: 3\nage: 41.5"


def test_rows_csv_has_one_line_per_sample_under_its_id(tmp_path):
    samples = [Sample(image=np.zeros((2, 2, 1), np.uint8), features={"age": age}, provenance=Provenance(id=name))
               for name, age in (("s0", 30), ("s1", 60))]
    write_rows_csv(tmp_path / "rows.csv", samples)
    assert (tmp_path / "rows.csv").read_text().splitlines() == ["sample,age", "s0,30", "s1,60"]
