"""Lazy, memory-mapped access to the arrays inside ``.npy``, ``.npz`` and ``.safetensors`` files.

Nothing here reads array data on open: only headers. Uncompressed ``.npz`` members and every
``.safetensors`` tensor come back as read-only ``np.memmap`` views, so a file larger than RAM
costs nothing until a slice of it is used; compressed ``.npz`` members come back as
:class:`LazyMember` (shape and dtype known, data read on first use).
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import numpy as np


class InputError(ValueError):
    """A problem with a user's input file or arguments; the message is one readable line."""


class LazyMember:
    """A compressed ``.npz`` member: ``shape``/``dtype`` from its header, data on demand."""

    def __init__(self, path: Path, member: str, shape: tuple, dtype: np.dtype):
        self.path, self.member, self.shape, self.dtype = Path(path), member, tuple(shape), np.dtype(dtype)
        self.ndim = len(self.shape)

    def __array__(self, dtype=None, copy=None):
        with zipfile.ZipFile(self.path) as zf, zf.open(self.member) as f:
            arr = np.lib.format.read_array(f, allow_pickle=False)
        return arr if dtype is None else arr.astype(dtype)

    def __getitem__(self, item):
        return np.asarray(self)[item]

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        return f"LazyMember({self.path.name}:{self.member}, shape={self.shape}, dtype={self.dtype})"


def _npy_header(f):
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    if dtype.hasobject:
        raise InputError("holds Python objects (pickled data), which pidjax does not load")
    return tuple(shape), fortran, dtype


def _memmap(path: Path, dtype, shape, offset: int, fortran: bool = False):
    if int(np.prod(shape, dtype=np.int64)) == 0:
        return np.empty(shape, dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")


def open_npy(path: Path) -> np.ndarray:
    """A read-only memory map of a ``.npy`` file.

    Raises:
      InputError: the file is not a valid ``.npy`` array.
    """
    try:
        with open(path, "rb") as f:
            shape, fortran, dtype = _npy_header(f)
            offset = f.tell()
        return _memmap(path, dtype, shape, offset, fortran)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path} is not a readable .npy file ({_reason(exc)})") from None


def open_npz(path: Path) -> dict[str, object]:
    """Every array of an ``.npz`` file, keyed by name, without reading their data.

    Returns:
      ``{name: array}`` in the archive's order; stored (uncompressed) members are
      ``np.memmap``, compressed ones :class:`LazyMember`.

    Raises:
      InputError: the file is not a valid ``.npz`` archive of ``.npy`` arrays.
    """
    out: dict[str, object] = {}
    try:
        with zipfile.ZipFile(path) as zf, open(path, "rb") as raw:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                name = info.filename[: -len(".npy")]
                if info.compress_type == zipfile.ZIP_STORED:
                    raw.seek(info.header_offset)
                    local = raw.read(30)
                    if len(local) != 30 or local[:4] != b"PK\x03\x04":
                        raise ValueError(f"bad local header for member {name!r}")
                    name_len, extra_len = struct.unpack("<HH", local[26:30])
                    raw.seek(info.header_offset + 30 + name_len + extra_len)
                    shape, fortran, dtype = _npy_header(raw)
                    out[name] = _memmap(path, dtype, shape, raw.tell(), fortran)
                else:
                    with zf.open(info) as f:
                        shape, fortran, dtype = _npy_header(f)
                    out[name] = LazyMember(path, info.filename, shape, dtype)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, struct.error) as exc:
        raise InputError(f"{path} is not a readable .npz file ({_reason(exc)})") from None
    return out


_ST_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?",
}


def _st_dtype(code: str) -> np.dtype:
    if code == "BF16":
        import ml_dtypes  # ships with jax

        return np.dtype(ml_dtypes.bfloat16)
    if code not in _ST_DTYPES:
        raise ValueError(f"unsupported safetensors dtype {code}")
    return np.dtype(_ST_DTYPES[code])


def open_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a ``.safetensors`` file as a read-only ``np.memmap``, keyed by name.

    Raises:
      InputError: the file is not a valid safetensors file.
    """
    try:
        size = Path(path).stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) != 8:
                raise ValueError("file too short")
            (n,) = struct.unpack("<Q", head)
            if n > min(size - 8, 100_000_000):
                raise ValueError("header length out of range")
            header = json.loads(f.read(n))
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
        base, out = 8 + n, {}
        for name, spec in header.items():
            if name == "__metadata__":
                continue
            dtype, shape = _st_dtype(spec["dtype"]), tuple(int(s) for s in spec["shape"])
            start, end = (int(v) for v in spec["data_offsets"])
            if end - start != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize or base + end > size:
                raise ValueError(f"tensor {name!r} does not fit its byte range")
            out[name] = _memmap(path, dtype, shape, base + start)
        return out
    except (ValueError, OSError, KeyError, TypeError, struct.error, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not a readable .safetensors file ({_reason(exc)})") from None


def _st_code(dtype: np.dtype) -> str:
    if dtype.name == "bfloat16":
        return "BF16"
    for code, spec in _ST_DTYPES.items():
        if np.dtype(spec) == dtype.newbyteorder("<") or np.dtype(spec) == dtype:
            return code
    raise InputError(f"safetensors cannot store dtype {dtype}")


def write_safetensors(path: Path, arrays: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> Path:
    """Write ``{name: array}`` as a ``.safetensors`` file (readable by the ``safetensors`` library).

    Raises:
      InputError: an array's dtype has no safetensors code (e.g. strings).
    """
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, arr in arrays.items():
        arr = np.asarray(arr)
        code = _st_code(arr.dtype)
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        blob = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": code, "shape": list(arr.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    return Path(path)


def open_arrays(path: Path) -> dict[str, object]:
    """The arrays of one ``.npz``, ``.safetensors`` or ``.npy`` file (``.npy``: keyed by stem).

    Raises:
      InputError: missing file, unknown extension or unreadable content.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a folder; expected a file")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return open_npz(path)
    if suffix == ".safetensors":
        return open_safetensors(path)
    if suffix == ".npy":
        return {path.stem: open_npy(path)}
    raise InputError(f"{path}: unsupported file type {suffix or '(none)'}; use .npz, .safetensors or .npy")


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
