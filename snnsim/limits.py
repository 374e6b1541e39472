"""Memory limit: sizes are checked before large tensors are allocated.

Anything whose size comes from the user (a layer of a spec, ``--timesteps``, ``--hidden``,
the input shape of an ``ann.json``) is estimated first with :func:`check_allocation`, which
raises a one-line :class:`~snnsim.errors.UserError` when the estimate exceeds the limit,
instead of letting the allocator fail with a traceback (or the machine swap).

The limit, in bytes, is the first of:

1. :func:`set_max_memory` (the CLI's ``--max-memory``) or the ``limit=`` argument of
   :func:`check_allocation`;
2. the environment variable ``SNNSIM_MAX_MEMORY`` (e.g. ``64G``, ``512M``, ``1.5e9``);
3. the machine's physical memory,

and never more than the address space this process may still map (``RLIMIT_AS``, as set by
``ulimit -v``, less what is mapped already): a process limited below physical memory is
refused up front instead of failing in the allocator.

Sizes are written as a number of bytes with an optional suffix K, M, G, T (powers of 1024;
``KiB``/``GB``... are read the same way).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from typing import Callable, Iterable, Iterator, Optional, Sequence, Union

import torch
from torch import nn

from snnsim.errors import UserError

ENV_VAR = "SNNSIM_MAX_MEMORY"
OPTION = "--max-memory"
_FALLBACK = 16 * 1024**3  # when the physical memory cannot be read
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}
_override: Optional[int] = None

Size = Union[int, float, str]


def parse_size(value: Size, what: str = "memory size") -> int:
    """``"64G"``, ``"512MiB"``, ``1.5e9`` or ``1000`` -> bytes (int > 0); UserError otherwise."""
    if isinstance(value, bool):
        raise UserError(f"{what} must be a size such as 8G or 512M, got {value!r}")
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    else:
        m = re.fullmatch(r"\s*([0-9.]+(?:e[+-]?[0-9]+)?)\s*([KMGTP]?)(?:i?B)?\s*", str(value), re.IGNORECASE)
        if m is None:
            raise UserError(f"{what} must be a size such as 8G or 512M, got {value!r}")
        number, unit = float(m.group(1)), m.group(2).upper()
    nbytes = number * _UNITS[unit]
    if not math.isfinite(nbytes) or nbytes < 1:
        raise UserError(f"{what} must be a positive finite size such as 8G or 512M, got {value!r}")
    return int(nbytes)


def format_size(nbytes: float) -> str:
    """``6270000000`` -> ``"5.84 GiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(nbytes) < 1024 or unit == "PiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.3g} {unit}"
        nbytes /= 1024
    return f"{nbytes:.3g} EiB"  # unreachable


def physical_memory() -> int:
    """Total physical memory in bytes (16 GiB where it cannot be read)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return _FALLBACK


def address_space_left() -> Optional[int]:
    """Bytes this process may still map under ``RLIMIT_AS`` (None: no limit, or unknown)."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft == resource.RLIM_INFINITY:
            return None
        with open("/proc/self/statm") as fh:
            mapped = int(fh.read().split()[0]) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ImportError, OSError, ValueError, AttributeError):
        return None
    return max(1, soft - mapped)


def max_memory() -> int:
    """The limit in bytes (see the module docstring for where it comes from)."""
    if _override is not None:
        limit = _override
    elif os.environ.get(ENV_VAR):
        limit = parse_size(os.environ[ENV_VAR], f"${ENV_VAR}")
    else:
        limit = physical_memory()
    left = address_space_left()
    return limit if left is None else min(limit, left)


def set_max_memory(limit: Optional[Size]) -> None:
    """Set the limit for this process (``None``: back to ``$SNNSIM_MAX_MEMORY`` / physical memory)."""
    global _override
    _override = None if limit is None else parse_size(limit, OPTION)


@contextlib.contextmanager
def memory_limit(limit: Optional[Size]) -> Iterator[None]:
    """``with memory_limit("64G"): ...`` sets the limit inside the block only."""
    global _override
    old = _override
    set_max_memory(limit)
    try:
        yield
    finally:
        _override = old


def check_allocation(nbytes: float, what: str, *, limit: Optional[Size] = None) -> None:
    """Raise a one-line UserError if ``nbytes`` (an estimate of what ``what`` allocates)
    exceeds the limit (``limit`` or :func:`max_memory`)."""
    cap = parse_size(limit, "limit") if limit is not None else max_memory()
    left = address_space_left() if limit is None else None
    if nbytes > cap and left is not None and cap == left:
        raise UserError(
            f"{what} would allocate {format_size(nbytes)}, more than the {format_size(left)} of address space this "
            "process may still map (RLIMIT_AS, set by ulimit -v); raise that limit or make the network smaller"
        )
    if nbytes > cap:
        raise UserError(
            f"{what} would allocate {format_size(nbytes)}, more than the memory limit of "
            f"{format_size(cap)}; raise the limit with {OPTION} or ${ENV_VAR} (e.g. {OPTION} 64G) "
            "if this machine has the memory"
        )


def dense_bytes(shape: Iterable[int], dtype: torch.dtype = torch.float32) -> int:
    """Bytes of a dense tensor of ``shape`` and ``dtype`` (Python ints: no overflow)."""
    itemsize = torch.empty((), dtype=dtype).element_size()
    return math.prod(int(d) for d in shape) * itemsize


def simulation_bytes(shapes: Iterable[Sequence[int]], timesteps: int, batch: int) -> int:
    """Lower bound of the memory of simulating layers of ``shapes`` for ``timesteps`` steps
    of ``batch`` samples at once: bool spikes ``[T, B, *shape]`` of every layer plus the
    float32 input current of the largest layer."""
    sizes = [math.prod(int(d) for d in s) for s in shapes] or [0]
    return int(timesteps) * int(batch) * (sum(sizes) + 4 * max(sizes))


def module_bytes(build: Callable[[], Union[nn.Module, Iterable[nn.Module]]]) -> int:
    """Bytes of the parameters and buffers that ``build()`` would allocate, found by
    building it on torch's ``meta`` device (no memory is allocated for tensor data)."""
    with torch.device("meta"):
        built = build()
    modules = [built] if isinstance(built, nn.Module) else list(built)
    seen: set[int] = set()
    total = 0
    for mod in modules:
        for t in [*mod.parameters(), *mod.buffers()]:
            if id(t) not in seen:
                seen.add(id(t))
                total += t.numel() * t.element_size()
    return total
