"""A data set of (text, image, label) rows for extraction: read, checked up front, images loaded lazily.

A data set is one file of rows, or a folder holding one:

- ``.csv`` / ``.tsv`` with a header row, or ``.jsonl`` with one object per line;
- in a folder: ``rows.csv``, ``rows.tsv``, ``rows.jsonl``, ``metadata.csv`` or
  ``metadata.jsonl`` (the last two as in Hugging Face's image-folder layout).

Columns: ``text``; ``image`` (or ``file_name``), a path relative to the rows file; ``label``
(optional); any ``label.<name>`` column is a further label set. Every image path is checked
before any model runs, so a missing file stops the run before anything is written.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from pidjax.io import InputError

ROW_FILES = ("rows.csv", "rows.tsv", "rows.jsonl", "metadata.csv", "metadata.jsonl")
IMAGE_COLUMNS = ("image", "file_name")


class Rows(NamedTuple):
    """A checked data set of rows.

    Fields:
      texts: ``(N,)`` list of str.
      images: ``(N,)`` list of absolute image paths.
      label_sets: ``{name: (N,) array}``; ``"labels"`` for the ``label`` column, ``<name>`` for
        ``label.<name>``; integers where every value is one, else strings.
      source: the rows file.
    """

    texts: list
    images: list
    label_sets: dict
    source: Path


def _rows_file(path: Path) -> Path:
    if not path.exists():
        raise InputError(f"no such data set: {path}")
    if path.is_file():
        return path
    found = [path / name for name in ROW_FILES if (path / name).is_file()]
    if not found:
        raise InputError(f"data set folder {path} holds none of {', '.join(ROW_FILES)}")
    if len(found) > 1:
        raise InputError(f"data set folder {path} holds {', '.join(f.name for f in found)}; keep one")
    return found[0]


def _records(file: Path) -> list[dict]:
    suffix = file.suffix.lower()
    try:
        text = file.read_text(encoding="utf-8-sig")  # a byte-order mark (spreadsheet exports) is dropped
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read data set {file} ({exc})") from None
    if suffix == ".jsonl":
        records = []
        # only newlines end a record: JSON strings may hold U+2028 and other line separators raw
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{file}: line {number} is not JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise InputError(f"{file}: line {number} must be a JSON object with text, image, label")
            records.append(record)
        return records
    if suffix in (".csv", ".tsv"):
        # a file object with newline="" lets quoted fields hold line breaks
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if suffix == ".tsv" else ",")
        records = list(reader)
        if reader.fieldnames is None:
            raise InputError(f"data set {file} is empty")
        for number, record in enumerate(records, start=1):
            if None in record:  # DictReader keeps surplus fields under the key None
                raise InputError(f"{file}: row {number} has {len(reader.fieldnames) + len(record[None])} fields but "
                                 f"the header has {len(reader.fieldnames)}; quote texts that contain "
                                 f"{'tabs' if suffix == '.tsv' else 'commas'}")
        return records
    raise InputError(f"data set {file}: unsupported type {suffix}; use .csv, .tsv or .jsonl")


def _column(values: list, name: str) -> np.ndarray:
    """Integers where every value is an integer, else strings."""
    strings = [str(v).strip() for v in values]
    try:
        ints = [int(s) for s in strings]
    except ValueError:
        return np.array(strings)
    return np.array(ints, dtype=np.int64)


def read_rows(path, *, check_images: bool = True) -> Rows:
    """Read and check a data set of (text, image, label) rows.

    Args:
      path: a ``.csv``/``.tsv``/``.jsonl`` rows file or a folder holding one (see the module).
      check_images: check that every image file exists before returning.

    Returns:
      :class:`Rows`, image paths resolved against the rows file's folder.

    Raises:
      InputError: a missing or unreadable file, no ``text`` or ``image`` column, an empty data
        set, or a row whose image is missing or whose text is empty. The message names the
        file and the row (1-based, header excluded).

    Example:
      >>> rows = read_rows("my_data/")  # doctest: +SKIP
      >>> len(rows.texts), list(rows.label_sets)  # doctest: +SKIP
      (600, ['labels'])
    """
    file = _rows_file(Path(path))
    records = _records(file)
    if not records:
        raise InputError(f"data set {file} has no rows")
    columns = list(dict.fromkeys(k for r in records for k in r))
    image_col = next((c for c in IMAGE_COLUMNS if c in columns), None)
    if "text" not in columns or image_col is None:
        raise InputError(f"data set {file} needs the columns text and image (or file_name); it has "
                         f"{', '.join(columns) or 'none'}")
    label_cols = [c for c in columns if c == "label" or c.startswith("label.")]
    texts, images = [], []
    base = file.parent
    for number, record in enumerate(records, start=1):
        text, image = record.get("text"), record.get(image_col)
        if text is None or not str(text).strip():
            raise InputError(f"{file}: row {number} has no text")
        if image is None or not str(image).strip():
            raise InputError(f"{file}: row {number} has no {image_col}")
        image_path = (base / str(image).strip()).resolve()
        if check_images and not image_path.is_file():
            raise InputError(f"{file}: row {number}: image {image_path} does not exist")
        for col in label_cols:
            if record.get(col) is None or str(record[col]).strip() == "":
                raise InputError(f"{file}: row {number} has no {col}")
        texts.append(str(text))
        images.append(image_path)
    label_sets = {("labels" if c == "label" else c[len("label."):]): _column([r[c] for r in records], c)
                  for c in label_cols}
    return Rows(texts, images, label_sets, file)


def load_image(path: Path, row: int):
    """The RGB PIL image of one row.

    Raises:
      InputError: the file is missing or not an image PIL can read; names the row (1-based).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise InputError(f"row {row}: cannot read image {path} ({exc})") from None
