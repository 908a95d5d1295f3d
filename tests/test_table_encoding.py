"""TablePreprocessor: every column kind and missing values survive transform → inverse."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from augkit.errors import DataError, UsageError
from augkit.tables.encoding import TablePreprocessor


@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 40
    gaps = rng.random(n) < 0.25
    return pd.DataFrame({
        "Patient": [f"TCGA_XX_{i:04d}" for i in range(n)],
        "age": rng.integers(20, 80, n),                              # integer numeric
        "weight": rng.normal(70, 10, n).round(3),                    # float numeric
        "sex": rng.choice(["female", "male"], n),                    # binary strings
        "smoker": rng.integers(0, 2, n),                             # binary 0/1
        "flag": rng.random(n) > 0.5,                                 # bool
        "grade": rng.choice(["G2", "G3", "G4"], n),                  # categorical strings
        "cluster": rng.integers(1, 5, n),                            # small integer codes
        "pressure": np.where(gaps, np.nan, rng.normal(120, 5, n)),   # numeric with gaps
        "site": pd.Series(np.where(rng.random(n) < 0.2, None, rng.choice(["a", "b", "c"], n)), dtype="str"),
        "visits": np.where(rng.random(n) < 0.2, np.nan, rng.integers(0, 60, n).astype(float)),  # ints with gaps
    })


def test_kinds_inferred(table):
    prep = TablePreprocessor(exclude=["Patient"]).fit(table)
    kinds = {c.name: (c.kind, c.has_missing) for c in prep.columns}
    assert kinds == {
        "age": ("numeric", False), "weight": ("numeric", False), "sex": ("binary", False),
        "smoker": ("binary", False), "flag": ("binary", False), "grade": ("categorical", False),
        "cluster": ("categorical", False), "pressure": ("numeric", True), "site": ("categorical", True),
        "visits": ("numeric", True),
    }
    assert "Patient" not in prep.column_names
    # 2 numeric + 3 binary + 3 grade + 4 cluster + (1 + flag) pressure + (3 + flag) site + (1 + flag) visits
    assert prep.num_features == 2 + 3 + 3 + 4 + 2 + 4 + 2


def test_round_trip_keeps_values_columns_and_dtypes(table):
    prep = TablePreprocessor(exclude=["Patient"]).fit(table)
    encoded = prep.transform(table)
    assert encoded.dtype == np.float32 and encoded.shape == (len(table), prep.num_features)
    back = prep.inverse_transform(encoded)
    expected = table.drop(columns=["Patient"])
    assert list(back.columns) == list(expected.columns)
    assert dict(back.dtypes) == dict(expected.dtypes)
    pd.testing.assert_frame_equal(back, expected, check_exact=False, rtol=1e-5)
    # integers come back exactly, missing cells come back missing
    assert back["age"].tolist() == expected["age"].tolist()
    assert back["site"].isna().tolist() == expected["site"].isna().tolist()
    assert back["visits"].dropna().map(float.is_integer).all()


def test_config_round_trips_through_json(table):
    prep = TablePreprocessor(exclude=["Patient"], kinds={"cluster": "numeric"}).fit(table)
    again = TablePreprocessor.from_config(json.loads(prep.to_json()))
    encoded = prep.transform(table)
    np.testing.assert_array_equal(again.transform(table), encoded)
    pd.testing.assert_frame_equal(again.inverse_transform(encoded), prep.inverse_transform(encoded))
    assert again.get_config() == json.loads(prep.to_json())


def test_blocks_describe_the_layout(table):
    prep = TablePreprocessor(exclude=["Patient"]).fit(table)
    blocks = prep.blocks
    assert sum(b["size"] for b in blocks) == prep.num_features
    assert [b["start"] for b in blocks] == list(np.cumsum([0] + [b["size"] for b in blocks[:-1]]))
    assert {"column": "grade", "kind": "categorical", "start": blocks[5]["start"], "size": 3} in blocks
    assert [b["column"] for b in blocks if b["kind"] == "missing"] == ["pressure", "site", "visits"]
    assert prep.num_draws == sum(1 for b in blocks if b["kind"] != "numeric")


def test_decoding_clips_rounds_and_draws(table):
    prep = TablePreprocessor(exclude=["Patient"]).fit(table)
    wild = np.full((3, prep.num_features), 5.0, np.float32)  # out-of-range network output
    back = prep.inverse_transform(wild)
    assert back["age"].tolist() == [table["age"].max()] * 3
    assert back["pressure"].isna().all()  # missing flag 5.0 > 0.5
    # with draws: a binary slot of 0.3 comes out "1" for draws below 0.3 only
    soft = prep.transform(table.iloc[:2])
    smoker = next(b for b in prep.blocks if b["column"] == "smoker")
    soft[:, smoker["start"]] = 0.3
    draws = np.full((2, prep.num_draws), 0.99)
    index = [b for b in prep.blocks if b["kind"] != "numeric"].index(smoker)
    draws[0, index] = 0.1
    assert prep.inverse_transform(soft, draws=draws)["smoker"].tolist() == [1, 0]


def test_bad_input_is_reported(table):
    prep = TablePreprocessor(exclude=["Patient"]).fit(table)
    unseen = table.copy()
    unseen.loc[0, "grade"] = "G9"
    with pytest.raises(DataError, match="'G9'"):
        prep.transform(unseen)
    gaps = table.copy()
    gaps.loc[0, "age"] = np.nan
    with pytest.raises(DataError, match="'age' has 1 missing"):
        prep.transform(gaps)
    with pytest.raises(UsageError, match="not fitted"):
        TablePreprocessor().transform(table)
    with pytest.raises(UsageError, match="binary column needs exactly 2"):
        TablePreprocessor(kinds={"grade": "binary"}).fit(table)
    with pytest.raises(DataError, match="no rows"):
        TablePreprocessor().fit(table.iloc[:0])
