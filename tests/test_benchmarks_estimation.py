"""The estimation study runs end to end on its smallest grid and its defaults check can fail."""

import json

import pytest

from benchmarks import estimation

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("estimation")
    assert estimation.main(["--smoke", "--out", str(out)]) == 0
    return out, json.loads((out / "results.json").read_text())


def test_smoke_grid_writes_every_study_table_and_figure(smoke):
    out, res = smoke
    assert res["grid"] == "smoke"
    for key in ("corrections", "discretisation", "coverage", "guidance"):
        assert res[key], key
    assert {r["bias"] for r in res["corrections"]} == set(estimation.BIASES)
    refit = [r for r in res["coverage"] if "synergy_width" in r]
    assert [r["interval"] for r in refit] == ["fixed discretisation", "refitted per resample"]
    md = (out / "results.md").read_text()
    assert "## Defaults check" in md and md.count("- PASS") + md.count("- FAIL") == len(res["defaults_check"]) >= 4
    assert (out / "bias_vs_n.png").stat().st_size > 10_000


def test_smoke_grid_shows_the_plugin_bias_that_the_default_correction_removes(smoke):
    _, res = smoke
    noise = {r["bias"]: r for r in res["corrections"] if r["case"] == "noise 10x10x10" and r["n"] == 450}
    assert noise["none"]["synergy_bias"] > 0.8  # the plug-in synergy of labels that carry nothing
    assert abs(noise["shuffle-extrapolation"]["synergy_bias"]) < 0.15


def test_defaults_check_reports_fail_when_a_target_is_missed():
    row = {"case": "noise 10x10x10", "n": 450, "bias": "shuffle-extrapolation"}
    for t in estimation.ALL:
        row[f"{t}_bias"] = 0.3 if t == "synergy" else 0.0
        row[f"{t}_reject_5pc"] = 0.5
    cov = [{"case": "c", "n": 2000, "interval": "centered", "seeds": 10,
            **{f"{t}_coverage": 0.5 for t in estimation.TERMS}}]
    lines = estimation._defaults_check([row], [], cov)
    assert len(lines) == 2 and all(line.startswith("FAIL") for line in lines)
