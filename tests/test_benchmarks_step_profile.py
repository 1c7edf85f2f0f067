"""benchmarks.step_profile runs and prints one timing per part."""

import pytest

from benchmarks import step_profile


@pytest.mark.parametrize("workload", ["dense10", "clustered8"])
def test_step_profile_prints_every_part(capsys, workload):
    step_profile.main(["--batch", "2", "--workloads", workload])
    out = capsys.readouterr().out
    for part in step_profile._parts():
        row = next(line for line in out.splitlines() if line.startswith(f"| {part} |"))
        assert float(row.split("|")[2]) > 0


def test_step_profile_rejects_unknown_workloads():
    with pytest.raises(SystemExit):
        step_profile.main(["--workloads", "clustered99"])
