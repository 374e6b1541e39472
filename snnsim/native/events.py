"""Native CPU kernels of the event-driven linear op (a small C library compiled on first use).

For boolean spikes ``x`` ``[N, K]`` and a table ``[K, M]`` (the transposed weight):

- ``bag_fwd``: ``out[r] = sum of table[j] over the j with x[r, j]``, j ascending;
- ``bag_wgrad``: ``d[j] = sum of g[r] over the r with x[r, j]``, r ascending (the
  transposed weight gradient for the output gradient ``g`` ``[N, M]``);
- ``column_counts``: spikes per column (per neuron), for the statistics of a simulation.

Both read the spike bytes directly, eight at a time, and skip silent inputs, so no index
tensors are built (``nonzero`` costs more than the sums themselves at a few % activity).
The additions run in the same order as ``F.embedding_bag`` over ``nonzero`` indices, the
torch fallback, so results are identical. Threads (OpenMP, torch's own) split the output
columns; the GIL is released. ``SNNSIM_NATIVE=0`` switches them off.
"""

from __future__ import annotations

import ctypes
from typing import Any, Optional

import torch

from snnsim.native import memory
from snnsim.native.build import build_library, c_source, library_status, load_once, native_disabled, ptr, threads_for

_I64, _PTR = ctypes.c_int64, ctypes.c_void_p
_native: dict[str, Any] = {"lib": None, "tried": False, "reason": "not loaded yet"}
_GRAIN = 1 << 16  # output elements per thread at least (fewer: one thread does it all)
_CHUNK_ROWS = 1024  # source rows per pass: a 64-column block of them (256 kB) stays in L2
_ONE_PASS_ROWS = 2048  # up to this many source rows (a 512 kB block) go in one pass (docs/benchmarks/notes.md)


def _compile() -> ctypes.CDLL:
    dll = build_library(c_source("events.c"), "events")  # read at the first build, not at import
    dll.row_counts.argtypes = [_PTR, _I64, _I64, _PTR]
    dll.row_index.argtypes = [_PTR, _I64, _I64, _PTR, _PTR]
    dll.gather_sum_par.argtypes = [_PTR, _PTR, _PTR, _PTR, _I64, _I64, _I64, _I64, _I64, _I64, ctypes.c_int]
    dll.transpose_index.argtypes = [_PTR, _PTR, _I64, _PTR, _PTR]
    dll.col_counts_par.argtypes = [_PTR, _I64, _I64, _PTR, ctypes.c_int]
    dll.row_counts.restype = dll.row_index.restype = dll.transpose_index.restype = None
    dll.transpose_par.argtypes = [_PTR, _I64, _I64, _PTR, ctypes.c_int]
    dll.col_counts_par.restype = dll.transpose_par.restype = None
    dll.gather_sum_par.restype = ctypes.c_int
    return dll


def _library() -> Optional[ctypes.CDLL]:
    return load_once(_native, _compile)


def native_status() -> str:
    """``"loaded"`` when the C kernels can be used, else why not (the torch path then)."""
    return library_status(_native, _compile)


def native_usable(active: torch.Tensor, table: torch.Tensor) -> bool:
    """Whether the C kernels can sum ``table`` rows for the bool matrix ``active``."""
    return (
        not native_disabled()
        and active.device.type == "cpu"
        and table.device.type == "cpu"
        and active.dtype == torch.bool
        and table.dtype == torch.float32
        and active.dim() == 2
        and table.dim() == 2
        and active.shape[1] == table.shape[0]
        and _library() is not None
    )


def column_counts(x: torch.Tensor) -> torch.Tensor:
    """Bool ``x`` ``[N, K]`` -> ``[K]`` int64: the number of set entries in each column
    (``x.sum(0)``, 2-10x faster on the CPU; any device or dtype falls back to torch)."""
    if x.dim() != 2:
        raise ValueError(f"column_counts expects a 2-D tensor, got shape {tuple(x.shape)}")
    n, k = x.shape
    lib = None if (native_disabled() or x.device.type != "cpu" or x.dtype != torch.bool or n >= 2**31) else _library()
    if lib is None:
        return x.sum(0, dtype=torch.int64)
    x = x.contiguous()
    out = torch.empty(k, dtype=torch.int32)
    if k:
        threads = max(1, min(threads_for(n * k, grain=1 << 20), k // 64))  # >= 64 columns a thread
        lib.col_counts_par(ptr(x), n, k, ptr(out), threads)
    return out.to(torch.int64)


def row_counts(x: torch.Tensor) -> torch.Tensor:
    """Bool ``x`` ``[N, K]`` (contiguous, native-usable) -> ``[N]`` int64: set entries per row
    (a popcount of the spike bytes' bit masks: about 0.1 ms for 3200 x 784, so the
    density-adaptive op can count before it chooses a path)."""
    x, (n, k) = x.contiguous(), x.shape
    if max(n, k) >= 2**31:
        raise ValueError(f"event-driven linear: a {n} x {k} spike matrix exceeds the int32 indices")
    counts = torch.empty(n, dtype=torch.int64)
    _library().row_counts(ptr(x), n, k, ptr(counts))
    return counts


def _row_index(
    lib: ctypes.CDLL, x: torch.Tensor, counts: Optional[torch.Tensor] = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Row starts ``[N + 1]`` (int64) and the ascending column indices ``[nnz]`` (int32) of
    the set entries of the bool matrix ``x`` ``[N, K]`` (``counts``: its :func:`row_counts`)."""
    n, k = x.shape
    if counts is None:
        counts = row_counts(x)
    start = torch.zeros(n + 1, dtype=torch.int64)
    torch.cumsum(counts, 0, out=start[1:])
    idx = torch.empty(max(int(start[-1]), 1), dtype=torch.int32)
    lib.row_index(ptr(x), n, k, ptr(start), ptr(idx))
    return start, idx


def row_index(active: torch.Tensor, counts: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The index that :func:`bag_sum_transposed` reads, for bool ``active`` ``[N, K]``."""
    return _row_index(_library(), active.contiguous(), counts)


def _gather(lib: ctypes.CDLL, src: torch.Tensor, start: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    n_out, m = start.shape[0] - 1, src.shape[1]
    out = memory.empty((n_out, m))  # huge pages: a fresh output of tens of MB faults far less
    if m == 0 or n_out == 0:
        return out
    chunk = src.shape[0] if src.shape[0] <= _ONE_PASS_ROWS else _CHUNK_ROWS
    if lib.gather_sum_par(
        ptr(src),
        ptr(start),
        ptr(idx),
        ptr(out),
        n_out,
        m,
        0,
        m,
        src.shape[0],
        chunk,
        threads_for(m, grain=max(8, _GRAIN // max(n_out, 1))),
    ):
        raise MemoryError(f"event-driven linear: could not allocate {n_out} cursors of work space")
    return out


def bag_sum(
    active: torch.Tensor, table: torch.Tensor, counts: Optional[torch.Tensor] = None
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """``active`` bool ``[N, K]``, ``table`` ``[K, M]`` -> (``[N, M]``, index): row r sums
    the ``table`` rows j with ``active[r, j]`` (j ascending). ``index`` = (row starts
    ``[N + 1]``, column indices ``[nnz]``) of the active entries, for :func:`bag_sum_transposed`
    (``counts``: :func:`row_counts` of ``active`` when already known)."""
    lib = _library()
    start, idx = _row_index(lib, active.contiguous(), counts)
    return _gather(lib, table.contiguous(), start, idx), (start, idx)


def bag_sum_transposed(index: tuple[torch.Tensor, torch.Tensor], k: int, grad: torch.Tensor) -> torch.Tensor:
    """``index`` from :func:`bag_sum` for a ``[N, k]`` spike matrix, ``grad`` ``[N, M]`` ->
    ``[k, M]``: row j sums the ``grad`` rows r in which input j was active (r ascending),
    i.e. ``active.T.float() @ grad``."""
    lib = _library()
    rstart, ridx = index
    n, nnz = rstart.shape[0] - 1, int(rstart[-1])
    counts = torch.bincount(ridx[:nnz], minlength=k) if nnz else torch.zeros(k, dtype=torch.int64)
    start = torch.zeros(k + 1, dtype=torch.int64)
    torch.cumsum(counts, 0, out=start[1:])
    cidx = torch.empty(max(nnz, 1), dtype=torch.int32)
    pos = start[:-1].clone()  # a work copy, kept alive for the call
    lib.transpose_index(ptr(rstart), ptr(ridx), n, ptr(pos), ptr(cidx))
    return _gather(lib, grad.contiguous(), start, cidx)


def transpose(x: torch.Tensor) -> torch.Tensor:
    """``x.t().contiguous()`` for a float32 CPU matrix ``[R, C]`` by the tiled C kernel (bit-identical:
    a copy), in parallel; other tensors, or no kernels, go through torch."""
    lib = _library() if not native_disabled() else None
    if lib is None or x.dtype != torch.float32 or x.device.type != "cpu" or x.dim() != 2:
        return x.t().contiguous()
    x = x.detach().contiguous()
    r, c = x.shape
    out = memory.empty((c, r))
    if x.numel():
        lib.transpose_par(ptr(x), r, c, ptr(out), threads_for(x.numel(), grain=1 << 17))
    return out
