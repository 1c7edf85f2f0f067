"""Joint-table files for ``pidjax decompose``: arrays of shape ``(..., m, n, k)`` or a long CSV.

Accepted forms (docs/file-format.md):

* ``.npy``: one array ``(..., m, n, k)``, named after the file;
* ``.npz`` / ``.safetensors``: one array per key, each ``(..., m, n, k)``;
* ``.json``: ``{"name": nested list (..., m, n, k)}`` or a bare nested list;
* ``.csv`` / ``.tsv``: long form with columns ``x1, x2, y`` and ``p`` (or ``count``), and an
  optional ``table`` column naming several tables; states are the integer codes given, so a
  table is ``max code + 1`` wide on each axis.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pidjax.io._formats import InputError, open_arrays


def load_tables(path) -> dict[str, np.ndarray]:
    """Read joint tables from a file; values are not normalised or checked here.

    Args:
      path: a ``.npy``, ``.npz``, ``.safetensors``, ``.json``, ``.csv`` or ``.tsv`` file.

    Returns:
      ``{name: float64 array (..., m, n, k)}``.

    Raises:
      InputError: a missing or unreadable file, an array with fewer than 3 axes, or a CSV
        without the needed columns.

    Example:
      >>> tables = load_tables("tables.npz")  # doctest: +SKIP
      >>> {k: v.shape for k, v in tables.items()}  # doctest: +SKIP
      {'xor': (2, 2, 2)}
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a folder; expected a tables file")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        tables = _read_long(path, "\t" if suffix == ".tsv" else ",")
    elif suffix == ".json":
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{path} is not readable JSON ({exc})") from None
        data = data if isinstance(data, dict) else {path.stem: data}
        tables = {}
        for name, value in data.items():
            try:
                tables[str(name)] = np.asarray(value, dtype=np.float64)
            except (ValueError, TypeError):
                raise InputError(f"{path}: table {name!r} is not a rectangular array of numbers") from None
    else:
        tables = {}
        for name, arr in open_arrays(path).items():
            if not (np.issubdtype(arr.dtype, np.number) or arr.dtype.name == "bfloat16"):
                raise InputError(f"{path}: table {name!r} has non-numeric dtype {arr.dtype}")
            tables[name] = np.asarray(arr, dtype=np.float64)
    if not tables:
        raise InputError(f"{path} holds no tables")
    for name, arr in tables.items():
        if arr.ndim < 3:
            raise InputError(
                f"{path}: table {name!r} has shape {arr.shape}; a joint table needs shape (..., m, n, k)"
            )
    return tables


def _read_long(path: Path, sep: str) -> dict[str, np.ndarray]:
    try:
        lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path} ({exc})") from None
    if not lines:
        raise InputError(f"{path} is empty")
    header = [h.strip().lower() for h in lines[0].split(sep)]
    weight = "p" if "p" in header else "count" if "count" in header else None
    needed = {"x1", "x2", "y"}
    if not needed <= set(header) or weight is None:
        raise InputError(f"{path}: the header must name columns x1, x2, y and p (or count); got {', '.join(header)}")
    col = {h: i for i, h in enumerate(header)}
    groups: dict[str, list[tuple[int, int, int, float]]] = {}
    for lineno, line in enumerate(lines[1:], start=2):
        cells = [c.strip() for c in line.split(sep)]
        if len(cells) != len(header):
            raise InputError(f"{path}:{lineno}: expected {len(header)} columns, got {len(cells)}")
        try:
            x1, x2, y = (int(cells[col[c]]) for c in ("x1", "x2", "y"))
            w = float(cells[col[weight]])
        except ValueError:
            raise InputError(f"{path}:{lineno}: x1, x2, y must be integers and {weight} a number") from None
        if min(x1, x2, y) < 0:
            raise InputError(f"{path}:{lineno}: state codes must be >= 0")
        name = cells[col["table"]] if "table" in col else path.stem
        groups.setdefault(name, []).append((x1, x2, y, w))
    tables = {}
    for name, rows in groups.items():
        codes = np.array([r[:3] for r in rows])
        table = np.zeros(tuple(codes.max(axis=0) + 1))
        np.add.at(table, tuple(codes.T), [r[3] for r in rows])
        tables[name] = table
    return tables
