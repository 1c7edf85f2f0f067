"""The notebooks in notebooks/ are jupytext pairs and execute top to bottom with small settings."""

import json
import os
import sys
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9]*.py"))
KERNEL = "pidjax-tests"


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory):
    """A kernelspec that runs this interpreter, found through JUPYTER_PATH (no user install)."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "pidjax tests", "language": "python",
    }))
    return {
        "JUPYTER_PATH": os.pathsep.join([str(root), os.environ.get("JUPYTER_PATH", "")]).rstrip(os.pathsep),
        "PIDJAX_NOTEBOOK_QUICK": "1",
        "JAX_PLATFORMS": "cpu",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "PYTHONPATH": os.pathsep.join([str(NOTEBOOKS.parent), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }


def test_there_are_three_paired_percent_notebooks():
    assert [p.name for p in SOURCES] == ["01_kernel_tour.py", "02_layer_sweep.py", "03_benchmarks.py"]
    for path in SOURCES:
        nb = jupytext.read(path)
        assert nb.metadata["jupytext"]["formats"] == "ipynb,py:percent", path.name
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
        assert sum(c.cell_type == "code" for c in nb.cells) >= 3


@pytest.mark.parametrize("path", SOURCES, ids=[p.stem for p in SOURCES])
def test_notebook_executes(path, kernel_env, monkeypatch):
    for key, value in kernel_env.items():
        monkeypatch.setenv(key, value)
    nb = jupytext.read(path)
    client = nbclient.NotebookClient(nb, kernel_name=KERNEL, timeout=300,
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()  # raises CellExecutionError with the failing cell on any error
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert images >= 1, f"{path.name} shows no plots"
