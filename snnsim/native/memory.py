"""Large output tensors of the native kernels: backed by transparent huge pages (Linux), so that the first write to a
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

Recycling (:class:`BufferPool`): fresh memory is zeroed by the kernel at its first write,
whatever the page size, and glibc hands large freed blocks back to the kernel, so a training
step that allocates the same tens of MB every time pays that zeroing every time (on the AMD
EPYC, the LIF forward of a 784-800 layer took 5.6 ms in a BPTT step against 1.8 ms into reused
buffers, 2 threads). The native kernels' outputs of at least ``POOL_MIN_BYTES`` therefore come
from a pool of buffers that stay mapped: a buffer is handed out again once no tensor (or view)
refers to it. The pool holds at most ``SNNSIM_POOL_MB`` MB (default 1 GB or an eighth of the memory,
whichever is less; 0 switches it off);
:func:`release` drops its free buffers. Like ``torch.empty``, a buffer's contents are undefined;
``SNNSIM_POOL_POISON=1`` fills every buffer handed out with NaN, so that a kernel that reads what
it has not written shows up in the tests.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
import threading
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch

_MADV_HUGEPAGE = 14  # Linux
_HUGE = 2 << 20
MIN_BYTES = 4 << 20  # smaller buffers: a few faults at most, not worth a system call
#: smaller buffers come from glibc's heap, which keeps them mapped; SNNSIM_POOL_MIN_BYTES=0 pools every
#: output (with SNNSIM_POOL_POISON=1, how tests/native/test_memory.py checks the kernels)
POOL_MIN_BYTES = int(os.environ.get("SNNSIM_POOL_MIN_BYTES", 1 << 20))
_ALIGN = 64
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
    """``torch.empty(shape, dtype=dtype, device=device)``, huge-page backed when large and on the CPU,
    from the recycling pool (:class:`BufferPool`) when at least ``POOL_MIN_BYTES``."""
    shape = tuple(int(d) for d in shape)
    if torch.device(device).type == "cpu":
        t = POOL.take(shape, dtype)
        if t is not None:
            return t
    t = torch.empty(shape, dtype=dtype, device=device)
    advise_huge(t)
    return t


def _default_cap() -> int:
    """1 GB, or an eighth of the physical memory where that is less."""
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        ram = 8 << 30
    return min(1 << 30, ram // 8)


def _pool_cap() -> int:
    """The pool's capacity in bytes: ``SNNSIM_POOL_MB`` MB (0: no pool), else :func:`_default_cap`."""
    raw = os.environ.get("SNNSIM_POOL_MB")
    if raw is None:
        return _default_cap()
    try:
        mb = float(raw)
    except ValueError:
        raise ValueError(f"SNNSIM_POOL_MB must be a number of MB, got {raw!r}") from None
    return max(0, int(mb * (1 << 20)))


class BufferPool:
    """Large CPU buffers that are handed out again once nothing refers to them.

    Each buffer is a 64-byte aligned numpy byte array; the tensors made from it
    (``torch.from_numpy``) hold a reference to it, so it is free exactly when the pool's
    own reference is the only one left. Thread-safe; the capacity is read at each call."""

    def __init__(self) -> None:
        self._bufs: list[np.ndarray] = []
        self._lock = threading.Lock()

    def _free(self, i: int) -> bool:
        return sys.getrefcount(self._bufs[i]) == 2  # the list's reference and the argument's

    def take(self, shape: tuple[int, ...], dtype: torch.dtype) -> Optional[torch.Tensor]:
        """An uninitialised contiguous tensor from the pool, or None (too small, pool off or full)."""
        nbytes = torch.Size(shape).numel() * dtype.itemsize
        cap = _pool_cap()
        if nbytes < POOL_MIN_BYTES or nbytes > cap:
            return None
        with self._lock:
            buf = next(
                (self._bufs[i] for i in range(len(self._bufs)) if self._bufs[i].nbytes == nbytes and self._free(i)),
                None,
            )
            if buf is None:
                self._evict(cap - nbytes)
                if self.held() + nbytes > cap:
                    return None  # the buffers in use fill the pool: a plain allocation
                buf = self._new(nbytes)
                self._bufs.append(buf)
        t = torch.from_numpy(buf).view(dtype).view(shape)
        if os.environ.get("SNNSIM_POOL_POISON", "0") == "1":
            t.view(torch.uint8).fill_(0xFF)  # NaN in every float dtype, True in bool
        return t

    @staticmethod
    def _new(nbytes: int) -> np.ndarray:
        raw = np.empty(nbytes + _ALIGN, np.uint8)
        off = (-raw.ctypes.data) % _ALIGN
        buf = raw[off : off + nbytes]
        advise_huge(torch.from_numpy(buf))
        return buf

    def _evict(self, limit: int) -> None:
        """Drop free buffers, oldest first, until the pool holds at most ``limit`` bytes."""
        i = 0
        while self.held() > limit and i < len(self._bufs):
            if self._free(i):
                del self._bufs[i]
            else:
                i += 1

    def held(self) -> int:
        """Bytes of all buffers the pool holds, in use or free."""
        return sum(b.nbytes for b in self._bufs)

    def release(self) -> int:
        """Drop every free buffer (memory goes back to the system); returns the bytes dropped."""
        with self._lock:
            before = self.held()
            self._evict(0)
            return before - self.held()


POOL = BufferPool()


def release() -> int:
    """Hand the pool's free buffers back to the system (:meth:`BufferPool.release`)."""
    return POOL.release()


def empty_like(x: torch.Tensor, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """A contiguous :func:`empty` with ``x``'s shape, device and (default) dtype."""
    return empty(x.shape, dtype or x.dtype, x.device)
