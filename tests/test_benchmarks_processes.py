"""benchmarks.processes runs one and two joined processes and prints a row for each."""

import pytest

from benchmarks import processes


def test_processes_prints_a_row_per_process_count(capsys):
    processes.main(["--processes", "1,2", "--workloads", "dense2", "--batch", "6", "--rounds", "1", "--timeout", "300"])
    rows = [line.split("|") for line in capsys.readouterr().out.splitlines() if line.startswith("| dense2 |")]
    assert [row[3].strip() for row in rows] == ["1", "2"]
    assert all(float(row[4].replace(",", "")) > 0 and row[5].strip() == "True" for row in rows)


def test_processes_rejects_bad_arguments():
    with pytest.raises(SystemExit):
        processes.main(["--workloads", "dense99"])
    with pytest.raises(SystemExit):
        processes.main(["--processes", "0"])
