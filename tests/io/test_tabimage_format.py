"""``tabimage``: images joined to a CSV by an id; detection that leaves paired2d alone; writer
round trip; the LGG slices joined to a per-patient table by an id pattern."""

from __future__ import annotations

import math

import numpy as np
import pytest

from augkit.errors import DataError, UsageError
from augkit.io import detect_format, get_format, read_dataset

LGG_PATTERN = r"(TCGA_[A-Z0-9]+_[A-Z0-9]+)"


def gray(value: int, shape=(6, 5)) -> np.ndarray:
    return np.full(shape, value, np.uint8)


TABLE = b"id,age,sex,grade\na,61,F,G2\nb,,M,G3\nc,45,M,\n"


def test_detects_one_table_beside_images_and_reads_rows(tmp_dataset):
    root = tmp_dataset({"table.csv": TABLE, "images/a.png": gray(10), "images/b.png": gray(20),
                        "images/c.png": gray(30), "manifest.csv": b"index,id\n"})
    assert detect_format(root).name == "tabimage"
    ds = read_dataset(root)
    assert [s.id for s in ds] == ["images/a", "images/b", "images/c"]
    a, b, c = ds.samples
    assert a.features == {"age": 61.0, "sex": "F", "grade": "G2"} and a.label is None
    assert math.isnan(b.features["age"]) and isinstance(c.features["grade"], float)
    assert b.image.shape == (6, 5, 1) and int(b.image[0, 0, 0]) == 20
    assert b.meta["table_id"] == "b" and ds.options["id_column"] == "id"


def test_does_not_steal_paired2d_or_bare_folders(tmp_dataset):
    pairs = tmp_dataset({"notes.csv": TABLE, "a.png": gray(1), "a_mask.png": gray(0)})
    assert detect_format(pairs).name == "paired2d"
    two_tables = tmp_dataset({"t1.csv": TABLE, "t2.csv": TABLE, "x/a.png": gray(1)})
    assert not get_format("tabimage").detect(two_tables)
    only_manifest = tmp_dataset({"manifest.csv": TABLE, "x/a.png": gray(1)})
    assert not get_format("tabimage").detect(only_manifest)


def test_id_pattern_joins_slices_to_patient_rows_and_skips_masks(tmp_dataset, tmp_path):
    files = {}
    for patient, slices in (("TCGA_CS_4941_19960909", (3, 12)), ("TCGA_HT_A61B_19991127", (7,))):
        for k in slices:
            files[f"{patient}/{patient}_{k}.tif"] = np.dstack([gray(k), gray(100 + k), gray(200)])
            files[f"{patient}/{patient}_{k}_mask.tif"] = gray(0)
    root = tmp_dataset(files)
    table = tmp_path / "patients.csv"
    table.write_text("Patient,age,death01\nTCGA_CS_4941,67,1\nTCGA_HT_A61B,35,0\nTCGA_XX_0000,50,0\n")
    ds = read_dataset(root, format="tabimage", table=str(table), id_column="Patient",
                      id_pattern=LGG_PATTERN, channels="1", label_column="death01")
    assert [s.id.rsplit("/", 1)[1] for s in ds] == ["TCGA_CS_4941_19960909_3", "TCGA_CS_4941_19960909_12",
                                                     "TCGA_HT_A61B_19991127_7"]
    assert [s.features for s in ds] == [{"age": 67}, {"age": 67}, {"age": 35}]
    assert [s.label for s in ds] == [1, 1, 0]
    assert ds[1].image.shape == (6, 5, 1) and int(ds[1].image[0, 0, 0]) == 112  # FLAIR channel only
    assert all(s.mask is None for s in ds)
    glob = read_dataset(root, format="tabimage", table=str(table), id_column="Patient",
                        id_pattern=LGG_PATTERN, image_glob="TCGA_HT_*/*.tif")
    assert len(glob) == 1 and glob[0].image.shape == (6, 5, 3)


def test_problems_name_the_file(tmp_dataset, tmp_path):
    root = tmp_dataset({"table.csv": TABLE, "a.png": gray(1), "z.png": gray(2)})
    with pytest.raises(DataError, match=r"z\.png: 1 image id\(s\) have no row in .*table\.csv \(column 'id'\): 'z'\."):
        read_dataset(root, format="tabimage")
    empty = tmp_path / "empty.csv"
    empty.write_text("Patient,age\r\n")
    with pytest.raises(DataError, match="empty.csv: table has a header but no rows"):
        read_dataset(root, format="tabimage", table=str(empty), id_column="Patient")
    dup = tmp_path / "dup.csv"
    dup.write_text("id,age\na,1\na,2\n")
    with pytest.raises(DataError, match="'a' appears on more than one row"):
        read_dataset(root, format="tabimage", table=str(dup))
    with pytest.raises(DataError, match="no id column 'key'"):
        read_dataset(root, format="tabimage", id_column="key")
    with pytest.raises(DataError, match="does not match the image path"):
        read_dataset(root, format="tabimage", id_pattern=r"TCGA_\d+")
    with pytest.raises(UsageError, match="does not know the option"):
        read_dataset(root, format="tabimage", slices="all")


def test_writer_round_trip_and_rewrite(tmp_dataset, tmp_path):
    root = tmp_dataset({"t.csv": TABLE, "images/a.png": gray(10), "images/b.png": gray(20),
                        "images/c.png": gray(30)})
    ds = read_dataset(root, format="tabimage", label_column="grade")
    fmt = get_format("tabimage")
    out = tmp_path / "out"
    for s in ds:
        assert fmt.write(s, out) == [f"images/{s.id.rsplit('/', 1)[1]}.png"]
    fmt.write(ds[0], out)  # written again (a resumed run): replaces its row, no duplicate
    assert (out / "table.csv").read_text() == "id,age,sex,label\nb,,M,G3\nc,45,M,\na,61,F,G2\n"
    back = read_dataset(out)
    assert back.format == "tabimage"
    assert [s.id for s in back] == ["images/a", "images/b", "images/c"]
    for x, y in zip(ds, back):
        np.testing.assert_array_equal(x.image, y.image)
        assert x.features["sex"] == y.features["sex"]
    assert back[0].features["label"] == "G2" and ds[2].label is None


def test_every_lgg_slice_joins_its_patients_real_row(shared_data):
    """The authors' tables: each split's slices find their patient by the ``Patient`` id taken
    from the path; the integer codes and the empty (missing) cells come through as they are."""
    import pandas as pd

    lgg = shared_data / "lgg"
    for split, num_slices, num_patients in (("train30", 30, 30), ("val", 70, 10), ("test", 149, 20)):
        table = pd.read_csv(lgg / f"patients_{split}.csv").set_index("Patient")
        ds = read_dataset(lgg / split, format="tabimage", table=str(lgg / f"patients_{split}.csv"),
                          id_column="Patient", id_pattern=LGG_PATTERN, channels="1", drop_columns="case")
        assert len(ds) == num_slices and len({s.meta["table_id"] for s in ds}) == num_patients
        for s in ds:
            row = table.loc[s.meta["table_id"]]
            assert s.id.split("/")[0] == row["case"]  # the slice sits in its patient's folder
            assert list(s.features) == [c for c in table.columns if c != "case"]
            for column, value in s.features.items():
                expected = row[column]
                assert (pd.isna(value) and pd.isna(expected)) or value == expected, (s.id, column)
    train = read_dataset(lgg / "train30", format="tabimage", table=str(lgg / "patients_train30.csv"),
                         id_column="Patient", id_pattern=LGG_PATTERN, drop_columns="case")
    grades = [s.features["neoplasm_histologic_grade"] for s in train]
    assert (grades.count(1), grades.count(2)) == (13, 17)  # the README's two WHO grades


def test_a_missing_patient_row_is_named(shared_data, tmp_path):
    lgg = shared_data / "lgg"
    lines = (lgg / "patients_train30.csv").read_text().splitlines(keepends=True)
    table = tmp_path / "patients.csv"
    table.write_text("".join(lines[:3] + lines[4:]))  # the third patient's row left out
    patient = lines[3].split(",")[1]
    with pytest.raises(DataError, match=f"1 image id\\(s\\) have no row .* \\(column 'Patient'\\): '{patient}'\\. Fix"):
        read_dataset(lgg / "train30", format="tabimage", table=str(table), id_column="Patient",
                     id_pattern=LGG_PATTERN)
    with pytest.raises(DataError, match="drop_columns names \\['MRN'\\]"):
        read_dataset(lgg / "train30", format="tabimage", table=str(lgg / "patients_train30.csv"),
                     id_column="Patient", id_pattern=LGG_PATTERN, drop_columns="case,MRN")
