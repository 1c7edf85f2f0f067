"""benchmarks.chunk_size prints a row per chunk size, auto included, and rejects bad input."""

import numpy as np
import pytest

from benchmarks import chunk_size
from pidjax.placement import auto_batch_size


def test_chunk_size_prints_every_size_and_marks_auto(capsys):
    chunk_size.main(["--workloads", "dense2", "--batch", "6", "--sizes", "2,3,auto", "--rounds", "1"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| dense2 |")]
    assert [row.split("|")[3].strip() for row in rows] == ["2", "3", f"{auto_batch_size((2, 2, 2), np.float64)} (auto)"]
    assert all(float(row.split("|")[4].replace(",", "")) > 0 for row in rows)


def test_chunk_size_rejects_unknown_workloads():
    with pytest.raises(SystemExit):
        chunk_size.main(["--workloads", "dense99"])

