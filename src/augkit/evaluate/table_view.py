"""The "indicator view" a real and a synthetic table are compared in (numbers as they are,
binary columns as 0/1, one 0/1 column per categorical value, missing kept as NaN), and the
value frequencies of a column. Shared by the fidelity measures, the utility check and the
plots, so none of those imports another."""

from __future__ import annotations

import numpy as np
import pandas as pd

from augkit.tables.encoding import TablePreprocessor


def level_key(value):
    return TablePreprocessor._key(value)


def indicator_view(df: pd.DataFrame, prep: TablePreprocessor) -> pd.DataFrame:
    """Numbers as they are; binary → 0/1; categorical → one 0/1 column per value; NaN = missing."""
    out = {}
    for c in prep.columns:
        s = df[c.name]
        missing = s.isna().to_numpy()
        if c.kind == "numeric":
            out[c.name] = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
            continue
        keys = np.array([level_key(v) if not m else None for v, m in zip(s.tolist(), missing)], dtype=object)
        levels = c.categories[1:] if c.kind == "binary" else c.categories
        for level in levels:
            col = (keys == level_key(level)).astype(float)
            col[missing] = np.nan
            out[c.name if c.kind == "binary" else f"{c.name}={level}"] = col
    return pd.DataFrame(out)


def frequencies(s: pd.Series) -> dict[str, float]:
    keys = ["(missing)" if pd.isna(v) else str(level_key(v)) for v in s.tolist()]
    counts = pd.Series(keys).value_counts(normalize=True)
    return {str(k): float(v) for k, v in counts.items()}
