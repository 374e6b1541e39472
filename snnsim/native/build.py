"""Build and load the native CPU kernels: one compiler rule, one cache, one on/off switch.

The C sources live in ``snnsim/native/csrc/`` (shipped as package data). Each kernel module
(:mod:`.lif`, :mod:`.events`, :mod:`.fastsnn`) compiles its source on first use with the system
C compiler (``cc``, or ``$CC``; no FMA contraction, so the float arithmetic matches torch's
element-wise code), caches the library in ``$SNNSIM_CACHE_DIR`` or ``~/.cache/snnsim`` under a
hash of source and flags, and loads it with ctypes. ``SNNSIM_NATIVE=0`` switches every native
kernel off (read at every call); each module adds its own switch. Without a compiler the
callers fall back to their pure-torch code.
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
    """The text of ``snnsim/native/csrc/<name>``, compiled by :func:`build_library`."""
    return (CSRC / name).read_text(encoding="utf-8")


# csrc/simd.h (the vector width VW and type vf) and PAR_RANGES are prepended by build_library.
# PAR_RANGES(lo, hi, threads, CALL...) (csrc/parallel.h): runs CALL
# with (a, b) = each of ``threads`` contiguous pieces of [lo, hi), in parallel with OpenMP. Built
# with -fopenmp, the library uses the libgomp torch has loaded, i.e. torch's own worker threads (a
# separate thread pool would fight them for the cores while they spin-wait); without OpenMP the
# pieces run one after the other.
_CFLAGS = ["-O3", "-ffp-contract=off", "-fno-fast-math", "-fPIC", "-shared"]
if torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512"):  # what torch itself uses here
    _CFLAGS.append("-mavx2")


def build_library(source: str, name: str, flags: Optional[list[str]] = None) -> ctypes.CDLL:
    """Compile C ``source`` into a shared library (cached by a hash of source and flags) and load it.

    Raises RuntimeError (no compiler, compile error) or OSError (cannot load)."""
    flags = _CFLAGS if flags is None else flags
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("no C compiler (cc/gcc) found")
    source = c_source("parallel.h") + c_source("simd.h") + source  # PAR_RANGES; VW, vf
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
            proc = subprocess.run(
                [cc, *flags, str(src), "-o", str(out), "-lm"], capture_output=True, text=True, timeout=120
            )
            if proc.returncode != 0:
                raise RuntimeError(f"{cc} failed: {proc.stderr.strip()[-300:]}")
            os.replace(out, lib)
    return ctypes.CDLL(str(lib))


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


def threads_for(n: int, grain: int = 4096) -> int:
    """Threads for ``n`` independent columns: torch's thread count, at least ``grain`` columns each."""
    return max(1, min(torch.get_num_threads(), n // max(grain, 1)))


def ptr(x: Optional[torch.Tensor]) -> Optional[int]:
    """The data pointer of ``x`` for a ctypes call (None stays None)."""
    return None if x is None else x.data_ptr()
