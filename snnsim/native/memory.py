"""Large output tensors backed by transparent huge pages (Linux), so that the first write to a
fresh buffer of tens of MB costs a few dozen page faults instead of thousands.

``torch.empty`` of a large tensor gets fresh memory from glibc (mmap above its threshold), and the
first write to each 4 kB page faults and has the kernel zero it. For the 48 MB output of a
converted layer's event-driven sum (10000 x 1200 float32) that was about half of the op's time
(docs/benchmarks/notes.md). :func:`empty` asks
for 2 MB pages (``madvise(MADV_HUGEPAGE)`` on the buffer's aligned interior, before anything is
written), which the kernel grants where ``/sys/kernel/mm/transparent_hugepage/enabled`` is
``madvise`` or ``always``; elsewhere, and with ``SNNSIM_HUGEPAGES=0``, it is ``torch.empty``.
Only the native kernels' own outputs use it; torch's ``THP_MEM_ALLOC_ENABLE=1`` does the same for
every large allocation but must be set before torch starts.
"""

from __future__ import annotations

import ctypes
import os
import platform
from typing import Any, Optional, Sequence, Union

import torch

_MADV_HUGEPAGE = 14  # Linux
_HUGE = 2 << 20
MIN_BYTES = 4 << 20  # smaller buffers: a few faults at most, not worth a system call
_state: dict[str, Any] = {"madvise": None, "tried": False}


def _madvise() -> Optional[Any]:
    if not _state["tried"]:
        _state["tried"] = True
        if platform.system() == "Linux":
            try:
                fn = ctypes.CDLL(None, use_errno=True).madvise
                fn.argtypes, fn.restype = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int], ctypes.c_int
                _state["madvise"] = fn
            except (OSError, AttributeError):
                pass
    return _state["madvise"]


def advise_huge(t: torch.Tensor) -> bool:
    """Ask for huge pages under CPU tensor ``t``'s storage (before it is first written). Returns
    whether the advice was given (large enough, Linux, not switched off)."""
    nbytes = t.numel() * t.element_size()
    if nbytes < MIN_BYTES or t.device.type != "cpu" or os.environ.get("SNNSIM_HUGEPAGES", "1") == "0":
        return False
    fn = _madvise()
    if fn is None:
        return False
    start = (t.data_ptr() + _HUGE - 1) & ~(_HUGE - 1)
    end = (t.data_ptr() + nbytes) & ~(_HUGE - 1)
    return end > start and fn(start, end - start, _MADV_HUGEPAGE) == 0


def empty(
    shape: Sequence[int], dtype: torch.dtype = torch.float32, device: Union[str, torch.device] = "cpu"
) -> torch.Tensor:
    """``torch.empty(shape, dtype=dtype, device=device)``, huge-page backed when large and on the CPU."""
    t = torch.empty(tuple(shape), dtype=dtype, device=device)
    advise_huge(t)
    return t


def empty_like(x: torch.Tensor, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """A contiguous :func:`empty` with ``x``'s shape, device and (default) dtype."""
    return empty(x.shape, dtype or x.dtype, x.device)
