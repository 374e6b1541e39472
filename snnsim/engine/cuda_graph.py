"""Per-batch work replayed from CUDA graphs: one launch per call instead of one per kernel.

At the sizes spiking nets are trained at, a GPU runs each of the fast engine's kernels in a few
microseconds and then waits for Python to launch the next one. :class:`Graphed` wraps a function
of tensors (a forward pass, or a whole training step: forward, loss, backward, optimizer step),
runs its first ``warmup`` calls per input signature as they are (on a side stream, as capture
needs), captures the next one into a CUDA graph and replays the graph from then on: the inputs
are copied into the graph's static buffers, the outputs are cloned out of it.

The signature is the shapes, dtypes and devices of the tensor arguments and the values of the
others; each new signature (a smaller last batch, say) is warmed up and captured on its own, up
to ``max_graphs``, after which it runs eagerly. A function that waits for the host (``.item()``,
``float(loss)``, a data-dependent branch) cannot be captured: the first failure is reported by a
warning and that signature runs eagerly from then on. On other devices, or with
``SNNSIM_CUDA_GRAPHS=0``, the function runs as it is: the same interface everywhere.

Training steps: make the optimizer with ``capturable=True`` (Adam, AdamW, SGD have it), and keep
the tensors the step reads (parameters, optimizer state, batch-norm buffers) where they are: a
graph reads and writes fixed addresses.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Callable, Hashable, Optional, Protocol

import torch

__all__ = ["Graphed", "graphs_enabled"]


def graphs_enabled(device: torch.device) -> bool:
    """Whether work on ``device`` is captured: CUDA, unless ``SNNSIM_CUDA_GRAPHS=0``."""
    return device.type == "cuda" and os.environ.get("SNNSIM_CUDA_GRAPHS", "1") != "0"


class Backend(Protocol):
    """How a signature is warmed up and captured (CUDA below; tests pass a recording one)."""

    def warm(self, fn: Callable[..., Any], args: tuple) -> Any: ...

    def capture(self, fn: Callable[..., Any], static: tuple) -> tuple[Callable[[], None], Any]: ...


class CudaBackend:
    """Warm-up calls on a side stream, capture with ``torch.cuda.graph``, replay with ``graph.replay``."""

    def __init__(self) -> None:
        self.stream = torch.cuda.Stream()
        self.pool = torch.cuda.graph_pool_handle()  # one memory pool shared by this wrapper's graphs

    def warm(self, fn: Callable[..., Any], args: tuple) -> Any:
        self.stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.stream):
            out = fn(*args)
        torch.cuda.current_stream().wait_stream(self.stream)
        return out

    def capture(self, fn: Callable[..., Any], static: tuple) -> tuple[Callable[[], None], Any]:
        graph = torch.cuda.CUDAGraph()
        torch.cuda.synchronize()
        with torch.cuda.graph(graph, pool=self.pool, stream=self.stream):
            out = fn(*static)
        return graph.replay, out


def _signature(args: tuple) -> Optional[Hashable]:
    """Tensor arguments by (shape, dtype, device), the others by value; None if one is unhashable."""
    key = []
    for a in args:
        if isinstance(a, torch.Tensor):
            key.append(("T", tuple(a.shape), a.dtype, str(a.device)))
        else:
            try:
                hash(a)
            except TypeError:
                return None
            key.append(("V", a))
    return tuple(key)


def _clone(out: Any) -> Any:
    if isinstance(out, torch.Tensor):
        return out.clone()
    if isinstance(out, (tuple, list)):
        return type(out)(_clone(o) for o in out)
    if isinstance(out, dict):
        return {k: _clone(v) for k, v in out.items()}
    return out


class _Entry:
    __slots__ = ("calls", "static", "replay", "out", "eager")

    def __init__(self) -> None:
        self.calls, self.static, self.replay, self.out, self.eager = 0, (), None, None, False


class Graphed:
    """``Graphed(fn)(*args)`` returns what ``fn(*args)`` returns, replayed from a CUDA graph once warm.

    Args: ``warmup`` eager calls per signature before its capture (at least 1: the capture itself
    runs nothing, so the warm-up calls are real calls); ``max_graphs`` signatures captured at most;
    ``clone`` the outputs out of the graph's buffers (``False`` returns the buffers themselves, which
    the next replay overwrites); ``device`` whose type decides whether to capture (default: that of
    the first tensor argument); ``backend`` for tests."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        warmup: int = 3,
        max_graphs: int = 4,
        clone: bool = True,
        backend: Optional[Backend] = None,
    ) -> None:
        if warmup < 1:
            raise ValueError(f"warmup must be at least 1 (the capture runs nothing), got {warmup}")
        self.fn, self.warmup, self.max_graphs, self.clone = fn, int(warmup), int(max_graphs), clone
        self._backend = backend
        self._entries: dict[Hashable, _Entry] = {}

    @property
    def graphs(self) -> int:
        """How many signatures are captured and replayed."""
        return sum(e.replay is not None for e in self._entries.values())

    def _use_graphs(self, args: tuple) -> bool:
        if self._backend is not None:
            return True
        dev = next((a.device for a in args if isinstance(a, torch.Tensor)), None)
        return dev is not None and graphs_enabled(dev)

    def __call__(self, *args: Any) -> Any:
        if not self._use_graphs(args):
            return self.fn(*args)
        key = _signature(args)
        entry = self._entries.get(key) if key is not None else None
        if entry is None:
            if key is None or len(self._entries) >= self.max_graphs:
                return self.fn(*args)
            entry = self._entries[key] = _Entry()
        if entry.eager:
            return self.fn(*args)
        if entry.replay is None and entry.calls < self.warmup:
            entry.calls += 1
            return self._backend_().warm(self.fn, args)
        if entry.replay is None:
            self._capture(entry, args)
            if entry.eager:
                return self.fn(*args)
        for s, a in zip(entry.static, args):
            if isinstance(s, torch.Tensor):
                s.copy_(a)
        entry.replay()
        return _clone(entry.out) if self.clone else entry.out

    def _backend_(self) -> Backend:
        if self._backend is None:
            self._backend = CudaBackend()
        return self._backend

    def _capture(self, entry: _Entry, args: tuple) -> None:
        static = tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)
        try:
            entry.replay, entry.out = self._backend_().capture(self.fn, static)
            entry.static = static
        except RuntimeError as err:  # a host sync or an op capture does not allow
            entry.eager = True
            warnings.warn(
                f"snnsim: {getattr(self.fn, '__name__', 'fn')} could not be captured in a CUDA graph "
                f"({str(err).splitlines()[0]}); it runs eagerly",
                RuntimeWarning,
                stacklevel=3,
            )
