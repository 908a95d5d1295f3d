"""``TablePreprocessor``: a table row ↔ a float vector a network can make, and back.

Column kinds (inferred on ``fit``, overridable with ``kinds=``):

- ``numeric``: scaled to [-1, 1] by the fitted min and max (a tanh output covers it); decoded
  values are clipped to that range, and integer columns (integer dtype, or floats that are all
  whole numbers, e.g. an integer column with gaps) come back rounded;
- ``binary``: two distinct values (0/1, True/False, "M"/"F", ...) → one 0/1 slot;
- ``categorical``: one-hot over the fitted values (strings; integer columns with at most
  ``max_integer_levels`` distinct values, such as cluster ids; any single-valued column).

A column with missing values when fitted gets an extra indicator slot (1 = missing) after its
value slots, and comes back empty (NaN) where the indicator says so. ``inverse_transform``
returns the fitted columns in their order and dtypes. Decoding is a threshold / argmax, or,
given uniform draws, a draw from the encoded probabilities (generators use this so that a soft
0.3 becomes "yes" 30 % of the time instead of never).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from augkit.errors import DataError, UsageError

KINDS = ("numeric", "binary", "categorical")
CONFIG_VERSION = 1


@dataclass
class ColumnSpec:
    name: str
    kind: str
    dtype: str  # pandas dtype name to restore
    categories: list | None = None  # binary: [value of 0, value of 1]; categorical: one per slot
    low: float | None = None
    high: float | None = None
    integer: bool = False
    has_missing: bool = False

    @property
    def width(self) -> int:
        values = 1 if self.kind in ("numeric", "binary") else len(self.categories or [])
        return values + (1 if self.has_missing else 0)


def _native(value: Any) -> Any:
    """A JSON-able Python scalar for a category value."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _sorted_values(values: Sequence[Any]) -> list:
    values = [_native(v) for v in values]
    try:
        return sorted(values)
    except TypeError:  # mixed types: a stable, documented order
        return sorted(values, key=lambda v: (type(v).__name__, str(v)))


def _is_whole(values: np.ndarray) -> bool:
    return bool(values.size) and bool(np.all(np.isfinite(values))) and bool(np.all(values == np.round(values)))


class TablePreprocessor:
    """Fit on a DataFrame; ``transform`` → float32 array; ``inverse_transform`` → DataFrame.

    ``TablePreprocessor(exclude=("Patient",), kinds={"grade": "categorical"})``: ``exclude``
    lists columns left out (ids); ``kinds`` forces a column's kind.
    """

    def __init__(self, *, exclude: Sequence[str] = (), kinds: Mapping[str, str] | None = None,
                 max_integer_levels: int = 10):
        self.exclude = tuple(exclude)
        self.kinds = dict(kinds or {})
        bad = {k: v for k, v in self.kinds.items() if v not in KINDS}
        if bad:
            raise UsageError(f"TablePreprocessor kinds must be one of {KINDS}. Received: {bad}")
        self.max_integer_levels = int(max_integer_levels)
        self.columns: list[ColumnSpec] = []

    # ------------------------------------------------------------------ fitting
    def fit(self, df: pd.DataFrame) -> "TablePreprocessor":
        if not isinstance(df, pd.DataFrame):
            raise UsageError(f"TablePreprocessor.fit needs a pandas DataFrame. Received: {type(df).__name__}")
        unknown = sorted(set(self.kinds) - set(df.columns))
        if unknown:
            raise UsageError(f"TablePreprocessor kinds name columns the table lacks: {unknown}; "
                             f"columns: {list(df.columns)}")
        if len(df) == 0:
            raise DataError(None, "table has no rows to fit on", "give a table with at least one row")
        self.columns = [self._fit_column(df[c]) for c in df.columns if c not in self.exclude]
        if not self.columns:
            raise DataError(None, "table has no columns left after excluding the id column",
                            "give a table with feature columns")
        return self

    def _fit_column(self, series: pd.Series) -> ColumnSpec:
        name = str(series.name)
        present = series.dropna()
        if len(present) == 0:
            raise DataError(None, f"column {name!r} is empty in every row",
                            "drop the column or fill some values")
        kind = self.kinds.get(name) or self._infer_kind(series, present)
        spec = ColumnSpec(name=name, kind=kind, dtype=str(series.dtype),
                          has_missing=bool(series.isna().any()))
        if kind == "numeric":
            try:
                values = present.to_numpy(dtype=np.float64)
            except (TypeError, ValueError):
                raise UsageError(f"column {name!r} cannot be numeric: it holds non-numbers such as "
                                 f"{present.iloc[0]!r}. Fix: give it kind 'categorical'.") from None
            spec.low, spec.high = float(values.min()), float(values.max())
            spec.integer = pd.api.types.is_integer_dtype(series.dtype) or _is_whole(values)
        else:
            levels = _sorted_values(pd.unique(present))
            if kind == "binary" and len(levels) != 2:
                raise UsageError(f"column {name!r} has {len(levels)} distinct values, a binary column "
                                 "needs exactly 2. Fix: give it kind 'categorical'.")
            spec.categories = levels
        return spec

    def _infer_kind(self, series: pd.Series, present: pd.Series) -> str:
        num_levels = present.nunique()
        if pd.api.types.is_bool_dtype(series.dtype) or num_levels == 2:
            return "binary"
        if num_levels == 1:
            return "categorical"
        if pd.api.types.is_numeric_dtype(series.dtype):
            values = present.to_numpy(dtype=np.float64)
            whole = pd.api.types.is_integer_dtype(series.dtype) or _is_whole(values)
            if whole and num_levels <= self.max_integer_levels and len(present) > 2 * num_levels:
                return "categorical"  # small integer codes (cluster ids, grades) are labels, not amounts
            return "numeric"
        return "categorical"

    # ------------------------------------------------------------------ layout
    @property
    def fitted(self) -> bool:
        return bool(self.columns)

    def _check_fitted(self) -> None:
        if not self.columns:
            raise UsageError("TablePreprocessor is not fitted. Fix: call fit(df) first.")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def num_features(self) -> int:
        return sum(c.width for c in self.columns)

    @property
    def blocks(self) -> list[dict[str, Any]]:
        """Slots of the encoded vector: ``{"column", "kind", "start", "size"}`` in order; kind is
        numeric, binary, categorical or missing. A network's table head activates each block by
        its kind (tanh, sigmoid, softmax, sigmoid)."""
        self._check_fitted()
        out, start = [], 0
        for c in self.columns:
            size = 1 if c.kind in ("numeric", "binary") else len(c.categories)
            out.append({"column": c.name, "kind": c.kind, "start": start, "size": size})
            start += size
            if c.has_missing:
                out.append({"column": c.name, "kind": "missing", "start": start, "size": 1})
                start += 1
        return out

    @property
    def num_draws(self) -> int:
        """Uniform draws ``inverse_transform`` uses per row when sampling (one per non-numeric block)."""
        return sum(1 for b in self.blocks if b["kind"] != "numeric")

    # ------------------------------------------------------------------ encoding
    def transform(self, df: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        missing_cols = [c.name for c in self.columns if c.name not in df.columns]
        if missing_cols:
            raise DataError(None, f"table lacks the fitted column(s) {missing_cols}",
                            "give a table with the columns the preprocessor was fitted on")
        parts = [self._encode(c, df[c.name]) for c in self.columns]
        return np.concatenate(parts, axis=1).astype(np.float32) if parts else np.zeros((len(df), 0), np.float32)

    def _encode(self, c: ColumnSpec, series: pd.Series) -> np.ndarray:
        missing = series.isna().to_numpy()
        if missing.any() and not c.has_missing:
            raise DataError(None, f"column {c.name!r} has {int(missing.sum())} missing values but had "
                            "none when the preprocessor was fitted",
                            "fill them, or fit on data that shows missing values in this column")
        n = len(series)
        if c.kind == "numeric":
            values = np.zeros(n, np.float64)
            values[~missing] = series[~missing].to_numpy(dtype=np.float64)
            span = c.high - c.low
            scaled = (values - c.low) / span * 2.0 - 1.0 if span > 0 else np.zeros(n)
            block = np.where(missing, 0.0, scaled)[:, None]
        else:
            lookup = {self._key(v): i for i, v in enumerate(c.categories)}
            index = np.full(n, -1)
            for row, (value, gone) in enumerate(zip(series.tolist(), missing)):
                if gone:
                    continue
                k = lookup.get(self._key(value))
                if k is None:
                    raise DataError(None, f"column {c.name!r} has the value {value!r}, unseen when "
                                    f"fitted (known: {c.categories})",
                                    "fit on data that has every value, or map it to a known one")
                index[row] = k
            if c.kind == "binary":
                block = (index == 1).astype(np.float64)[:, None]
            else:
                block = np.zeros((n, len(c.categories)))
                block[np.flatnonzero(index >= 0), index[index >= 0]] = 1.0
        if c.has_missing:
            block = np.concatenate([block, missing.astype(np.float64)[:, None]], axis=1)
        return block

    @staticmethod
    def _key(value: Any) -> Any:
        # 1, 1.0 and np.int64(1) are one category; "1" stays a string
        value = _native(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    # ------------------------------------------------------------------ decoding
    def inverse_transform(self, array: np.ndarray, *, draws: np.ndarray | None = None) -> pd.DataFrame:
        """Rows back to a DataFrame with the fitted columns, order and dtypes.

        ``draws``: optional uniforms in [0, 1), shape (rows, ``num_draws``); with them binary,
        categorical and missing slots are sampled from their values as probabilities (inverse
        CDF) instead of thresholded at 0.5 / arg-maxed.
        """
        self._check_fitted()
        array = np.asarray(array, dtype=np.float64)
        if array.ndim != 2 or array.shape[1] != self.num_features:
            raise UsageError(f"TablePreprocessor.inverse_transform needs (rows, {self.num_features}). "
                             f"Received: shape={array.shape}")
        n = len(array)
        if draws is not None:
            draws = np.asarray(draws, dtype=np.float64)
            if draws.shape != (n, self.num_draws):
                raise UsageError(f"draws must have shape ({n}, {self.num_draws}). Received: {draws.shape}")
        data: dict[str, pd.Series] = {}
        pos, draw = 0, 0
        for c in self.columns:
            size = 1 if c.kind in ("numeric", "binary") else len(c.categories)
            block = array[:, pos:pos + size]
            pos += size
            if c.kind == "numeric":
                values = self._decode_numeric(c, block[:, 0])
            else:
                u = None if draws is None else draws[:, draw]
                draw += 1
                values = self._decode_levels(c, block, u)
            missing = np.zeros(n, bool)
            if c.has_missing:
                p = array[:, pos]
                pos += 1
                missing = p > 0.5 if draws is None else draws[:, draw] < np.clip(p, 0.0, 1.0)
                draw += 1
            data[c.name] = self._restore_dtype(c, values, missing)
        return pd.DataFrame(data, columns=self.column_names)

    @staticmethod
    def _decode_numeric(c: ColumnSpec, x: np.ndarray) -> np.ndarray:
        x = np.clip(np.nan_to_num(x, nan=0.0), -1.0, 1.0)
        values = (x + 1.0) / 2.0 * (c.high - c.low) + c.low
        values = np.clip(values, c.low, c.high)
        return np.round(values) if c.integer else values

    @staticmethod
    def _decode_levels(c: ColumnSpec, block: np.ndarray, u: np.ndarray | None) -> list:
        block = np.nan_to_num(block, nan=0.0)
        if c.kind == "binary":
            p = np.clip(block[:, 0], 0.0, 1.0)
            index = (p > 0.5 if u is None else u < p).astype(int)
        elif u is None:
            index = np.argmax(block, axis=1)
        else:
            probs = np.clip(block, 0.0, None)
            totals = probs.sum(axis=1, keepdims=True)
            probs = np.where(totals > 0, probs / np.where(totals > 0, totals, 1.0), 1.0 / block.shape[1])
            cdf = np.cumsum(probs, axis=1)
            index = np.minimum((u[:, None] >= cdf).sum(axis=1), block.shape[1] - 1)
        return [c.categories[i] for i in index]

    @staticmethod
    def _restore_dtype(c: ColumnSpec, values, missing: np.ndarray) -> pd.Series:
        if c.kind == "numeric":
            series = pd.Series(np.where(missing, np.nan, values))
        else:
            series = pd.Series([None if m else v for v, m in zip(values, missing)], dtype=object)
            if missing.any():
                series[missing] = np.nan
        try:
            if missing.any() and c.dtype in ("int64", "int32", "int16", "int8", "uint8"):
                return series.astype("float64")  # numpy ints cannot hold NaN
            return series.astype(c.dtype)
        except (TypeError, ValueError):
            return series

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        return {"version": CONFIG_VERSION, "exclude": list(self.exclude), "kinds": dict(self.kinds),
                "max_integer_levels": self.max_integer_levels,
                "columns": [asdict(c) for c in self.columns]}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "TablePreprocessor":
        if int(config.get("version", 0)) > CONFIG_VERSION:
            raise UsageError(f"TablePreprocessor config version {config.get('version')} is newer than "
                             f"this augkit reads ({CONFIG_VERSION}). Fix: upgrade augkit.")
        obj = cls(exclude=config.get("exclude", ()), kinds=config.get("kinds"),
                  max_integer_levels=config.get("max_integer_levels", 10))
        obj.columns = [ColumnSpec(**c) for c in config.get("columns", [])]
        return obj

    def to_json(self) -> str:
        return json.dumps(self.get_config(), allow_nan=False)

    def __repr__(self) -> str:
        kinds = {k: sum(1 for c in self.columns if c.kind == k) for k in KINDS}
        return f"TablePreprocessor({len(self.columns)} columns {kinds}, {self.num_features} features)" \
            if self.columns else "TablePreprocessor(unfitted)"


def rows_to_frame(rows: Sequence[Mapping[str, Any] | None], where: Any = None) -> pd.DataFrame:
    """Sample ``features`` dicts as one DataFrame; every row must have the same columns."""
    if not rows or any(r is None for r in rows):
        raise DataError(where, "some samples have no table row (features)",
                        "read the data with a table (format 'tabimage' with table=..., id_column=...)")
    first = list(rows[0])
    for i, r in enumerate(rows):
        if list(r) != first:
            raise DataError(where, f"row {i} has columns {list(r)}, row 0 has {first}",
                            "give every sample the same feature columns")
    frame = pd.DataFrame.from_records(list(rows), columns=first)
    return frame

