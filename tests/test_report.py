"""Reports: every number in JSON/CSV/DataFrame, PNG plots, and an HTML page a real browser renders."""

import base64
import csv
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from pidjax.report import read_json, render_html, to_dataframe, write_report

TERMS = ("redundancy", "unique_1", "unique_2", "synergy")
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)


def sweep_table(n_layers=5, label_sets=("labels", "predictions"), seed=0):
    """A table in the analysis schema with made-up numbers."""
    rng = np.random.default_rng(seed)
    rows = []
    for label_set in label_sets:
        for layer in range(n_layers):
            row = {"layer": f"block{layer}", "label_set": label_set}
            for t in TERMS:
                v = float(rng.uniform(0, 0.6))
                row |= {t: v, f"{t}_lo": v - 0.05, f"{t}_hi": v + 0.04, f"{t}_perm": 0.01, f"{t}_perm_hi": 0.02}
            row |= {"mutual_info_1": row["redundancy"] + row["unique_1"], "mutual_info_2": row["redundancy"] + row["unique_2"],
                    "mutual_info_joint": sum(row[t] for t in TERMS), "bound": 1e-7, "converged": layer != 3,
                    "n_samples": 200, "states_1": 8, "states_2": 8, "n_labels": 3,
                    "contribution_1": rng.uniform(), "contribution_2": rng.uniform(),
                    "ablation_drop_1": rng.uniform(0, 0.2), "ablation_drop_2": float("nan")}
            rows.append(row)
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}


def test_write_report_keeps_every_number_in_json_csv_and_dataframe(tmp_path):
    table = sweep_table()
    paths = write_report(table, tmp_path / "out", title="t", meta={"seed": 3}, modalities=("text", "image"))
    assert {"json", "csv", "layer_profile", "contribution", "heatmap", "html"} <= set(paths)
    doc = json.loads(paths["json"].read_text())
    assert doc["meta"] == {"seed": 3} and doc["columns"] == list(table)
    assert doc["rows"][0]["ablation_drop_2"] is None  # NaN stays valid JSON
    back = read_json(paths["json"])
    for col, values in table.items():
        if values.dtype.kind == "f":
            np.testing.assert_array_equal(back[col], values)  # bit-exact round trip
        else:
            assert back[col].tolist() == values.tolist()
    with open(paths["csv"]) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10 and float(rows[4]["synergy"]) == table["synergy"][4]
    df = to_dataframe(table)
    assert df.shape == (10, len(table)) and df["layer"].iloc[0] == "block0"


def test_plots_are_png_images(tmp_path):
    paths = write_report(sweep_table(n_layers=12), tmp_path)
    for name in ("layer_profile", "contribution", "heatmap"):
        data = paths[name].read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_report_works_with_only_the_core_columns(tmp_path):
    table = {"layer": np.array(["0", "1"]), **{t: np.array([0.1, 0.2]) for t in TERMS}}
    paths = write_report(table, tmp_path)
    assert paths["html"].exists()


def test_html_is_self_contained(tmp_path):
    paths = write_report(sweep_table(), tmp_path)
    page = paths["html"].read_text()
    assert not re.search(r"""(src|href)=['"]?(https?:|//|file:)""", page)
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == 3
    assert all(base64.b64decode(i)[:4] == b"\x89PNG" for i in images)
    assert "did not reach" in page  # the unconverged row is flagged


def test_bad_tables_and_output_paths_raise_value_errors(tmp_path):
    with pytest.raises(ValueError, match="lacks column"):
        write_report({"layer": np.array(["0"])}, tmp_path)
    with pytest.raises(ValueError, match="equal length"):
        write_report({"layer": np.array(["0", "1"]), **{t: np.array([0.1]) for t in TERMS}}, tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        write_report(sweep_table(), tmp_path / "file")


def _chromium(args, tmp_path, timeout=90):
    profile = tmp_path / "chromium-profile"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)")
def test_html_report_shows_its_plots_in_headless_chromium(tmp_path):
    paths = write_report(sweep_table(), tmp_path / "r", title="browser check", modalities=("text", "image"))
    url = paths["html"].resolve().as_uri()
    dom = _chromium(["--virtual-time-budget=10000", "--dump-dom", url], tmp_path)
    assert dom.returncode == 0, dom.stderr[-1500:]
    body = re.search(r"<body[^>]*>", dom.stdout).group(0)
    assert 'data-images-total="3"' in body and 'data-images-loaded="3"' in body, body
    assert "browser check" in dom.stdout and dom.stdout.count("<tr>") == 11
    shot = tmp_path / "shot.png"
    res = _chromium(["--window-size=1200,1400", f"--screenshot={shot}", url], tmp_path)
    assert res.returncode == 0 and shot.exists(), res.stderr[-1500:]
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)[..., :3]
    # the figures (colored lines, heat maps) make a varied page, not a blank one
    assert pixels.std() > 0.05 and len(np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 200


def test_render_html_escapes_user_text(tmp_path):
    table = {"layer": np.array(["<script>x</script>"]), **{t: np.array([0.1]) for t in TERMS}}
    page = render_html(table, {}, title="<b>t</b>")
    assert "<script>x</script>" not in page and "&lt;b&gt;t&lt;/b&gt;" in page
