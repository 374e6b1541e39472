"""IDX files (the MNIST format): ``read_idx`` and ``write_idx``, gzip-compressed or raw.

A file is checked whole before it is used: magic number, type code, dimensions and length;
anything else is a one-line :class:`~snnsim.errors.UserError` naming the file.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from snnsim.argcheck import as_path, regular_file
from snnsim.errors import UserError, UserTypeError

# IDX type code -> big-endian numpy dtype.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: Path) -> bytes:
    """Whole file content, gunzipped when the file starts with the gzip magic."""
    regular_file(path, "IDX file", missing=f"IDX file not found: {path}")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise UserError(f"corrupt or truncated gzip file {path}: {exc}") from exc
    return raw


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzip-compressed or raw) into a numpy array.

    The returned array has the file's dimensions and a native-endian dtype
    (uint8 for MNIST). Raises ValueError naming the file if the magic number,
    type code or length is wrong, FileNotFoundError if it does not exist.
    """
    path = as_path(path, "path")
    data = _read_bytes(path)
    if len(data) < 4:
        raise UserError(f"{path}: too short for an IDX header ({len(data)} bytes)")
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0 or code not in _IDX_DTYPES or ndim < 1:
        raise UserError(
            f"{path}: bad IDX magic number 0x{data[:4].hex()} (expected 0x0000TTNN with "
            f"type code TT in {sorted(hex(c) for c in _IDX_DTYPES)} and NN >= 1 dimensions)"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise UserError(f"{path}: truncated IDX header ({len(data)} of {header} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        kind = "truncated" if len(data) < expected else "has trailing bytes"
        raise UserError(
            f"{path}: IDX file {kind}: {len(data)} bytes, expected {expected} for dimensions {dims} of {dtype.name}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzip-compressed if ``path`` ends in ``.gz``.

    Intended for uint8 arrays (1-D labels ``[N]`` or 3-D images ``[N, H, W]``);
    the other IDX types (int8/16/32, float32/64) are written too.
    """
    arr = np.asarray(array)
    if arr.ndim < 1 or arr.ndim > 255:
        raise UserError(f"write_idx needs an array with 1..255 dimensions, got {arr.ndim}")
    code = next((c for c, dt in _IDX_DTYPES.items() if dt.newbyteorder("=") == arr.dtype), None)
    if code is None:
        raise UserTypeError(
            f"write_idx cannot store dtype {arr.dtype}; use one of uint8, int8, int16, int32, float32, float64"
        )
    if any(d >= 2**32 for d in arr.shape):
        raise UserError(f"write_idx: dimension too large for IDX in shape {arr.shape}")
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(arr, dtype=_IDX_DTYPES[code]).tobytes()
    path = as_path(path, "path")
    if path.name.endswith(".gz"):
        with gzip.open(path, "wb") as fh:
            fh.write(payload)
    else:
        path.write_bytes(payload)
