"""Resumable sweeps: one file of results per finished layer, and a manifest that pins the run.

An output folder holds ``manifest.json`` (input file hashes, settings, seed, versions),
``layers/<index>.json`` (the result rows of one layer, written atomically when the layer is
done) and, for a per-sample analysis, ``samples/<index>.json`` (its rows for that layer).
Re-running with the same inputs and settings skips the layers already on disk; with different
ones it refuses, so a folder never mixes two runs. Each layer's randomness is drawn
from ``layer_seed(seed, layer)``, so a resumed sweep gives the same numbers as one that was
never stopped.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import sys
from pathlib import Path

from pidjax.io import InputError

MANIFEST = "manifest.json"
LAYER_DIR = "layers"
SAMPLE_DIR = "samples"
PARTS = (LAYER_DIR, SAMPLE_DIR)  # folders of finished pieces, cleared together when a sweep starts afresh


def file_sha256(path, chunk: int = 1 << 24) -> str:
    """SHA-256 of a file, read in ``chunk``-byte pieces (constant memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def hash_inputs(paths) -> dict[str, str]:
    """``{file name: sha256}`` for each file (a folder contributes each of its files).

    Names are relative to the given path, so the same data under another folder name hashes
    the same.
    """
    out = {}
    for path in paths:
        path = Path(path)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            name = f.name if not path.is_dir() else f"{path.name}/{f.relative_to(path)}"
            out[name] = file_sha256(f)
    return out


def versions() -> dict[str, str]:
    """Versions of Python, pidjax and the numerical libraries in use."""
    import jax
    import numpy as np

    import pidjax

    return {"python": sys.version.split()[0], "pidjax": pidjax.__version__, "jax": jax.__version__,
            "numpy": np.__version__, "platform": platform.platform()}


def layer_seed(seed: int, layer: str) -> int:
    """A 31-bit seed for one layer that depends only on the run seed and the layer name."""
    return int.from_bytes(hashlib.sha256(f"{int(seed)}:{layer}".encode()).digest()[:4], "little") >> 1


def _atomic_write(path: Path, text: str):
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def start_sweep(out_dir, inputs: dict, settings: dict, seed: int, restart: bool = False) -> dict[int, list]:
    """Prepare ``out_dir`` for a sweep; return the rows of layers already done, by index.

    Args:
      out_dir: the output folder (created when missing).
      inputs: ``{file name: sha256}`` of the inputs.
      settings: every setting that changes the numbers (JSON-serialisable).
      seed: the run seed.
      restart: discard earlier results in ``out_dir`` instead of resuming.

    Raises:
      InputError: ``out_dir`` is a file, or holds a sweep with other inputs or settings (the
        message names what changed) and ``restart`` is False.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"output folder {out} exists and is a file; choose another --out")
    (out / LAYER_DIR).mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    pinned = {"inputs": inputs, "settings": settings, "seed": int(seed)}
    if manifest_path.exists() and not restart:
        try:
            old = json.loads(manifest_path.read_text())
        except ValueError:
            raise InputError(f"{manifest_path} is unreadable; use --restart to start this folder afresh") from None
        changed = [k for k in ("inputs", "seed") if old.get(k) != pinned[k]]
        changed += [f"settings.{k}" for k in sorted(set(settings) | set(old.get("settings", {})))
                    if old.get("settings", {}).get(k) != settings.get(k)]
        if changed:
            raise InputError(
                f"{out} holds a sweep with different {', '.join(changed)}; use another --out, or --restart to overwrite it"
            )
    else:
        for part in PARTS:
            for f in (out / part).glob("*.json"):
                f.unlink()
        manifest = {**pinned, "versions": versions(), "created": _now(), "complete": False}
        _atomic_write(manifest_path, json.dumps(manifest, indent=1, default=str) + "\n")
    return read_rows(out, LAYER_DIR)


def read_rows(out_dir, part: str = LAYER_DIR) -> dict[int, list]:
    """The rows already stored under ``out_dir/part/``, by layer index (``{}`` when none).

    Call after :func:`start_sweep`, which clears every part when a sweep starts afresh. A file
    that is not a finished piece is deleted (its layer is then redone).

    Returns:
      ``{layer index: [row dict, ...]}``.

    Example:
      >>> done = start_sweep("runs/a", inputs, settings, seed=0)  # doctest: +SKIP
      >>> samples_done = read_rows("runs/a", SAMPLE_DIR)  # doctest: +SKIP
    """
    done = {}
    for f in (Path(out_dir) / part).glob("*.json"):
        try:
            doc = json.loads(f.read_text())
            done[int(doc["index"])] = doc["rows"]
        except (ValueError, KeyError):
            f.unlink()  # a piece is written atomically, so this is foreign; redo the layer
    return done


def write_layer(out_dir, index: int, layer: str, rows: list[dict], part: str = LAYER_DIR) -> Path:
    """Store the finished rows of one layer (atomic: a kill leaves the old state or the new).

    ``part`` is the folder: ``layers`` for the layer sweep, ``samples`` for per-sample rows.
    """
    folder = Path(out_dir) / part
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{index:05d}.json"
    _atomic_write(path, json.dumps({"index": index, "layer": layer, "rows": rows}, allow_nan=True) + "\n")
    return path


def finish_sweep(out_dir, extra: dict | None = None) -> dict:
    """Mark the sweep complete in its manifest (with versions of this run); return the manifest."""
    path = Path(out_dir) / MANIFEST
    manifest = json.loads(path.read_text())
    manifest.update(extra or {})
    manifest.update(complete=True, finished=_now(), versions_last_run=versions())
    _atomic_write(path, json.dumps(manifest, indent=1, default=str) + "\n")
    return manifest


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
