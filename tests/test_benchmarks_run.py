"""The benchmark runner completes a tiny suite and writes its JSON, Markdown and plots."""

import json

from benchmarks.run import main


def test_smoke_suite_writes_json_markdown_and_plots(tmp_path):
    main(["--suite", "smoke", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["suite"] == "smoke"
    assert data["machine"]["cpu_count"] >= 1 and "numpy" in data["versions"]
    solvers = {r["solver"] for r in data["summary"]}
    assert any(s.startswith("pidjax-") for s in solvers)
    assert {"cvxpy-clarabel", "dit-auto", "am-paper"} <= solvers
    for row in data["summary"]:
        assert row["max_err_redundancy"] is None or row["max_err_redundancy"] >= 0
    assert {r["batch"] for r in data["throughput"]} >= {1, 10}
    for r in data["throughput"]:
        if r["solver"].startswith("pidjax-") and r["batch"] <= 100:  # always timed for real
            assert r["extrapolated"] is None and r["seconds"] > 0 and r["iterations_max"] >= 0
    for name in ("throughput_vs_batch.png", "throughput_vs_support.png", "error_vs_time.png"):
        assert (tmp_path / name).stat().st_size > 1000
    md = (tmp_path / "results.md").read_text()
    assert "| family | solver |" in md
