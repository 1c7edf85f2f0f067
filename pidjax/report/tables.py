"""Tidy result tables (``{column: array}``) to JSON, CSV and pandas, with every number kept."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

TERMS = ("redundancy", "unique_1", "unique_2", "synergy")
TERM_SYMBOLS = {"redundancy": "R", "unique_1": "U1", "unique_2": "U2", "synergy": "S"}


def as_columns(table) -> dict[str, np.ndarray]:
    """A table as ``{column: 1-D array}`` of equal lengths; accepts dicts or DataFrames.

    Raises:
      ValueError: columns of different lengths, or a column that is not one-dimensional.
    """
    if hasattr(table, "to_dict") and hasattr(table, "columns"):
        table = {c: table[c].to_numpy() for c in table.columns}
    cols = {str(k): np.atleast_1d(np.asarray(v)) for k, v in dict(table).items()}
    lengths = {k: v.shape for k, v in cols.items()}
    if any(len(s) != 1 for s in lengths.values()) or len({s[0] for s in lengths.values()}) > 1:
        raise ValueError(f"a table needs 1-D columns of equal length; got shapes {lengths}")
    return cols


def n_rows(table) -> int:
    """Number of rows of a column table."""
    cols = as_columns(table)
    return len(next(iter(cols.values()))) if cols else 0


def _py(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def records(table) -> list[dict]:
    """The rows of a table as JSON-ready dicts (NaN and inf become ``None``)."""
    cols = as_columns(table)
    return [{k: _py(v[i]) for k, v in cols.items()} for i in range(n_rows(cols))]


def to_dataframe(table):
    """A pandas DataFrame with one row per (layer, label set) and one column per number.

    Example:
      >>> df = to_dataframe({"layer": ["0", "1"], "redundancy": [0.1, 0.2]})
      >>> list(df.columns)
      ['layer', 'redundancy']
    """
    import pandas as pd

    return pd.DataFrame(as_columns(table))


def write_json(table, path, meta: dict | None = None) -> Path:
    """Write ``{"meta": ..., "columns": [...], "rows": [...]}`` with every number of ``table``."""
    cols = as_columns(table)
    doc = {"meta": meta or {}, "columns": list(cols), "rows": records(cols)}
    path = Path(path)
    path.write_text(json.dumps(doc, indent=1, default=_py, allow_nan=False) + "\n")
    return path


def read_json(path) -> dict[str, np.ndarray]:
    """Read a table written by :func:`write_json` back into ``{column: array}``."""
    doc = json.loads(Path(path).read_text())
    return {c: np.array([_nan(r.get(c)) for r in doc["rows"]]) for c in doc["columns"]}


def _nan(v):
    return float("nan") if v is None else v


def write_csv(table, path) -> Path:
    """Write the table as CSV, one row per (layer, label set), full float precision."""
    cols = as_columns(table)
    path = Path(path)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(list(cols))
        for row in records(cols):
            writer.writerow(["" if v is None else repr(v) if isinstance(v, float) else v for v in row.values()])
    return path
