"""Native CPU kernels of FastSNN: a small C library compiled on first use.

The scan and the whole single-spike layer (forward: scan + first crossing in one pass;
backward: the reverse pass of :mod:`snnsim.fastsnn` in one pass) for float32 CPU tensors,
compiled with the system C compiler (``cc``; cached in ``$SNNSIM_CACHE_DIR`` or
``~/.cache/snnsim``) and called through ctypes; column ranges run in parallel on torch's
OpenMP threads (``csrc/parallel.h``). Same float32 operations in the same order as the torch code (no FMA
contraction), so spikes are identical. Without a compiler, or with
``SNNSIM_NATIVE=0`` (all native kernels) or ``SNNSIM_FASTSNN_NATIVE=0`` (these only; both
read at every call, also after the library was loaded), :mod:`snnsim.fastsnn` runs its
pure-torch code instead.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

import torch

#: the C kernels' sources (shipped with the package; see setup.py package_data)
CSRC = Path(__file__).parent / "csrc"


def c_source(name: str) -> str:
    """The text of ``snnsim/csrc/<name>``, compiled by :func:`build_library`."""
    return (CSRC / name).read_text(encoding="utf-8")


# --------------------------------------------------------------------------- native kernels
# Arrays are row-major [T, N] (N = all neurons of all samples); each call handles the
# columns [j0, j1) in blocks, so a block's state stays in cache while t advances. The
# forward pass keeps no potential: the backward pass recomputes it per block.
# PAR_RANGES(lo, hi, threads, CALL...) (csrc/parallel.h, prepended by build_library): runs CALL
# with (a, b) = each of ``threads`` contiguous pieces of [lo, hi), in parallel with OpenMP. Built
# with -fopenmp, the library uses the libgomp torch has loaded, i.e. torch's own worker threads (a
# separate thread pool would fight them for the cores while they spin-wait); without OpenMP the
# pieces run one after the other.
_CFLAGS = ["-O3", "-ffp-contract=off", "-fno-fast-math", "-fPIC", "-shared"]
if torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512"):  # what torch itself uses here
    _CFLAGS.append("-mavx2")
_I64, _F32, _PTR = ctypes.c_int64, ctypes.c_float, ctypes.c_void_p
_native: dict[str, Any] = {"lib": None, "tried": False, "reason": "not loaded yet", "off": False}


def build_library(source: str, name: str, flags: Optional[list[str]] = None) -> ctypes.CDLL:
    """Compile C ``source`` into a shared library (cached by a hash of source and flags) and load it.

    Raises RuntimeError (no compiler, compile error) or OSError (cannot load)."""
    flags = _CFLAGS if flags is None else flags
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("no C compiler (cc/gcc) found")
    source = c_source("parallel.h") + source  # PAR_RANGES
    try:
        return _build(cc, source, name, [*flags, "-fopenmp"])
    except (RuntimeError, OSError):  # no OpenMP: the same kernels, one thread
        return _build(cc, source, name, flags)


def _build(cc: str, source: str, name: str, flags: list[str]) -> ctypes.CDLL:
    key = hashlib.sha256((source + " ".join(flags)).encode()).hexdigest()[:16]
    cache = Path(os.environ.get("SNNSIM_CACHE_DIR") or Path.home() / ".cache" / "snnsim")
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        cache = Path(tempfile.gettempdir()) / "snnsim"
        cache.mkdir(parents=True, exist_ok=True)
    lib = cache / f"{name}_{key}_{platform.machine()}.so"
    if not lib.is_file():
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            src, out = Path(tmp) / f"{name}.c", Path(tmp) / f"{name}.so"
            src.write_text(source)
            proc = subprocess.run([cc, *flags, str(src), "-o", str(out), "-lm"], capture_output=True,
                                  text=True, timeout=120)
            if proc.returncode != 0:
                raise RuntimeError(f"{cc} failed: {proc.stderr.strip()[-300:]}")
            os.replace(out, lib)
    return ctypes.CDLL(str(lib))


def _compile() -> ctypes.CDLL:
    dll = build_library(c_source("fastsnn.c"), "fastsnn")  # read at the first build, not at import
    dims = [_I64, _I64, _I64, _I64]
    dll.decay_par.argtypes = [_PTR, _PTR, *dims, _F32, ctypes.c_int, ctypes.c_int]
    dll.lif1_fwd_par.argtypes = [_PTR, _PTR, _PTR, _PTR, _PTR, *dims, _F32, _F32, ctypes.c_int]
    dll.lif1_bwd_par.argtypes = [_PTR, _PTR, _PTR, _PTR, *dims, _F32, _F32, _F32, ctypes.c_int, ctypes.c_int]
    dll.decay_par.restype = dll.lif1_fwd_par.restype = None
    dll.lif1_bwd_par.restype = ctypes.c_int
    return dll


def load_once(state: dict[str, Any], compile_fn: Callable[[], ctypes.CDLL]) -> Optional[ctypes.CDLL]:
    """Compile/load a native library on the first call only; ``state`` keeps ``lib``,
    ``tried`` and ``reason`` (why it is not loaded). Callers check the switches
    (:func:`native_off`) at every call, before this."""
    if not state["tried"]:
        state["tried"] = True
        try:
            state["lib"], state["reason"] = compile_fn(), "loaded"
        except (OSError, RuntimeError, subprocess.SubprocessError) as err:
            state["reason"] = f"unavailable: {err}"
    return state["lib"]


def native_off(*variables: str) -> Optional[str]:
    """Why the environment switches native kernels off right now (read at every call):
    ``SNNSIM_NATIVE=0`` or one of ``variables`` set to 0; None when it does not."""
    for var in ("SNNSIM_NATIVE", *variables):
        if os.environ.get(var, "1") == "0":
            return f"disabled by {var}=0"
    return None


def native_disabled() -> bool:
    """Whether ``SNNSIM_NATIVE=0`` switches every native kernel off (read at every call)."""
    return native_off() is not None


def library_status(state: dict[str, Any], compile_fn: Callable[[], ctypes.CDLL], off: Optional[str] = None) -> str:
    """``"loaded"`` when the library of ``state`` can be used (compiling it if needed), else why
    not: ``off`` (a reason to stay off), ``SNNSIM_NATIVE=0`` or a failed build."""
    off = off or native_off()
    if off is not None:
        return off
    load_once(state, compile_fn)
    return str(state["reason"])


def _switched_off() -> Optional[str]:
    """Why the FastSNN kernels are off now: ``SNNSIM_NATIVE=0``, ``SNNSIM_FASTSNN_NATIVE=0``
    (both read at every call, and they win over :func:`set_native`) or ``set_native(False)``."""
    return native_off("SNNSIM_FASTSNN_NATIVE") or ("switched off by set_native(False)" if _native["off"] else None)


def _library() -> Optional[ctypes.CDLL]:
    return None if _switched_off() is not None else load_once(_native, _compile)


def native_status() -> str:
    """``"loaded"`` when the C kernels are in use, else why not (pure torch then)."""
    return library_status(_native, _compile, _switched_off())


def set_native(enabled: bool) -> None:
    """Switch the C kernels on (compiling them if needed) or off, e.g. to compare backends.
    ``SNNSIM_NATIVE=0`` / ``SNNSIM_FASTSNN_NATIVE=0`` in the environment keep them off."""
    _native["off"] = not enabled
    if enabled and _native["lib"] is None:  # retry a failed build
        _native.update(tried=False, reason="not loaded yet")
        _library()


def _native_usable(x: torch.Tensor) -> bool:
    return (x.device.type == "cpu" and x.dtype == torch.float32 and x.dim() >= 1
            and x.numel() > 0 and _library() is not None)


def threads_for(n: int, grain: int = 4096) -> int:
    """Threads for ``n`` independent columns: torch's thread count, at least ``grain`` columns each."""
    return max(1, min(torch.get_num_threads(), n // max(grain, 1)))


def _ptr(x: Optional[torch.Tensor]) -> Optional[int]:
    return None if x is None else x.data_ptr()


def _native_decay(x: torch.Tensor, beta: float, reverse: bool) -> torch.Tensor:
    x = x.contiguous()
    out = torch.empty_like(x)
    t, n = x.shape[0], x[0].numel()
    lib = _library()
    lib.decay_par(_ptr(x), _ptr(out), t, n, 0, n, beta, int(reverse), threads_for(n))
    return out


def _native_forward(x: torch.Tensor, beta: float, thresh: float, spike_dtype: torch.dtype,
                    potential: bool) -> tuple[torch.Tensor, Optional[torch.Tensor], torch.Tensor]:
    """(spikes of ``spike_dtype`` (float32 or bool), V or None, first-spike steps int32)."""
    x = x.contiguous()
    s = torch.empty_like(x, dtype=spike_dtype)
    v = torch.empty_like(x) if potential else None
    sf, sb = (s, None) if spike_dtype == torch.float32 else (None, s)
    t_first = torch.empty(x.shape[1:], dtype=torch.int32)
    t, n = x.shape[0], x[0].numel()
    lib = _library()
    lib.lif1_fwd_par(_ptr(x), _ptr(v), _ptr(sf), _ptr(sb), _ptr(t_first), t, n, 0, n, beta, thresh, threads_for(n))
    return s, v, t_first


def _native_backward(gs: torch.Tensor, x: torch.Tensor, t_first: torch.Tensor, beta: float,
                     thresh: float, slope: float, grad: str) -> torch.Tensor:
    gs, x = gs.contiguous(), x.contiguous()
    out = torch.empty_like(gs)
    t, n = gs.shape[0], gs[0].numel()
    tf = t_first.to(torch.int32).contiguous()
    lib = _library()
    seq = int(grad == "sequential")
    if lib.lif1_bwd_par(_ptr(gs), _ptr(x), _ptr(tf), _ptr(out), t, n, 0, n, beta, thresh, slope, seq,
                        threads_for(n)):
        raise MemoryError(f"fastsnn backward: could not allocate {t} x 64 floats of work space")
    return out


