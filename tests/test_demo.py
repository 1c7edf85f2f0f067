"""The demo end to end on a tiny setting: report folder, numbers, model cache, command line."""

import json

import numpy as np
import pytest

import pidjax.demo as demo


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    def settings(quick, seed):
        s = demo._settings.__wrapped__(quick, seed)
        s["model"].update(dim=8, depth=1, heads=2)
        s["train"].update(steps=30)
        s["sweep"].update(n_bootstrap=3, n_permutations=3, n_states=3, n_components=4)
        return s

    settings.__wrapped__ = demo._settings
    monkeypatch.setattr(demo, "_settings", settings)
    monkeypatch.setenv("PIDJAX_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def test_demo_writes_a_complete_report_and_reuses_the_cached_model(tiny):
    said = []
    first = demo.run_demo(tiny / "out", quick=True, progress=False, log=said.append)
    for name in ("results.json", "results.csv", "layer_profile.png", "report.html"):
        assert (tiny / "out" / name).is_file(), name
    table = first["table"]
    assert set(table["layer"]) == {"embed", "block_0"} and set(table["label_set"]) == {"label", "prediction"}
    for col in ("redundancy_lo", "synergy_hi", "synergy_perm_hi", "contribution_1", "ablation_drop_2"):
        assert col in table and np.all(np.isfinite(table[col])), col
    assert 0.0 <= first["accuracy"] <= 1.0 and first["train_seconds"] > 0
    meta = json.loads((tiny / "out" / "results.json").read_text())
    assert "held-out accuracy" in first["summary"] and str(first["report"]) in first["summary"]
    assert json.dumps(meta)  # plain JSON
    second = demo.run_demo(tiny / "out2", quick=True, progress=False, log=said.append)
    assert second["train_seconds"] == 0.0 and second["accuracy"] == first["accuracy"]
    assert any("loaded the trained model" in line for line in said)


def test_demo_command_line_reports_a_bad_output_folder(tiny, capsys):
    target = tiny / "a_file"
    target.write_text("x")
    assert demo.main(["--out", str(target), "--quick"]) == 2
    assert "exists and is a file" in capsys.readouterr().err
