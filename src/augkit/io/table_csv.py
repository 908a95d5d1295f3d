"""The ``table.csv`` files augkit writes (the image + table format, ``augkit generate`` shards):
rows appended one line at a time, cells written as they were read."""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from augkit.errors import UsageError
from augkit.io.base import atomic_write_bytes


def csv_cell(value: Any) -> str:
    """Missing → empty; a whole float → its integer text: pandas reads an integer column with
    gaps as floats, and an integer code (grade 2) must go out as ``2``, as it came in."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        return str(int(value))
    return str(value)


class TableAppender:
    """Appends rows (one ``write`` each) to a CSV keyed by its first column.

    The header is fixed by the first row. A row whose id is already in the file replaces the
    earlier one (a sample re-written after an interrupted run), by rewriting the file
    atomically. The file's size and inode are remembered; a file changed by someone else (or
    moved away by a staging rename) is re-read before the next append.
    """

    _instances: dict[Path, "TableAppender"] = {}

    def __init__(self, path: Path):
        self.path = path
        self.columns: list[str] | None = None
        self.ids: set[str] = set()
        self._stamp: tuple[int, int] | None = None

    @classmethod
    def shared(cls, path: Path) -> "TableAppender":
        key = Path(os.path.abspath(path))
        if key not in cls._instances:
            cls._instances[key] = cls(key)
        return cls._instances[key]

    def _current_stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return st.st_size, st.st_ino

    def _reload(self) -> None:
        self.columns, self.ids = None, set()
        if self.path.exists():
            rows = self._read_rows()
            if rows:
                self.columns = rows[0]
                self.ids = {r[0] for r in rows[1:]}
        self._stamp = self._current_stamp()

    def _read_rows(self) -> list[list[str]]:
        with open(self.path, newline="") as fh:
            return [r for r in csv.reader(fh) if r]

    def current_columns(self) -> list[str]:
        self._refresh()
        return list(self.columns or [])

    def _refresh(self) -> None:
        if self._stamp != self._current_stamp() or self._stamp is None:
            self._reload()

    def append(self, row: dict[str, Any]) -> None:
        self._refresh()
        names = [str(k) for k in row]
        if self.columns is None:
            self.columns = names
            atomic_write_bytes(self.path, _csv_line(names))
        elif names != self.columns:
            raise UsageError(f"{self.path}: row {row.get(names[0])!r} has columns {names}, the table "
                             f"has {self.columns}. Fix: give every sample the same feature columns.")
        values = [csv_cell(v) for v in row.values()]
        if values[0] in self.ids:
            kept = [r for r in self._read_rows()[1:] if r[0] != values[0]]
            atomic_write_bytes(self.path, b"".join(_csv_line(r) for r in [self.columns, *kept, values]))
        else:
            with open(self.path, "ab") as fh:  # one write of one line: all or nothing in practice
                fh.write(_csv_line(values))
            self.ids.add(values[0])
        self._stamp = self._current_stamp()


def _csv_line(values: list[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue().encode()
