"""Check keyword arguments against a function's type hints: one line per wrong value.

For options that arrive untyped (``snnsim train --set KEY=VALUE``, JSON configs, Python
callers): ``bool``, ``int``, ``float`` (finite), ``str``, ``Optional[...]``, ``Union[...]``,
``Sequence[int]``/``tuple[int, ...]``/``list[...]`` are checked; other annotations are
accepted as they are. Light (no torch), so the command line can use it.
"""

from __future__ import annotations

import collections.abc
import inspect
import math
import numbers
import os
import typing
from pathlib import Path
from typing import Any, Callable

from snnsim.errors import UserTypeError

_SEQUENCES = (list, tuple, collections.abc.Sequence)


def _matches(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        return any(_matches(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    if origin in _SEQUENCES:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            return False
        item = args[0] if args else Any
        return all(_matches(v, item) for v in value)
    return True  # other types: left to the callee


def _describe(hint: Any) -> str:
    text = str(hint).replace("typing.", "").replace("collections.abc.", "")
    return text[len("<class '") : -2] if text.startswith("<class '") else text


def _parameters(fn: Callable[..., Any]) -> tuple[dict[str, Any], bool]:
    """(keyword parameter -> type hint, whether ``fn`` also takes ``**kwargs``)."""
    sig = inspect.signature(fn)
    hints = typing.get_type_hints(fn)
    names = {
        n: hints.get(n, Any)
        for n, p in sig.parameters.items()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and n != "self"
    }
    return names, any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())


def check_call(fn: Callable[..., Any], params: dict[str, Any], what: str) -> None:
    """Raise :class:`UserTypeError` for a key of ``params`` that ``fn`` does not take or whose
    value does not match its type hint (``what`` names the callee in the message). For a
    class, its ``__init__`` and, while they pass ``**kwargs`` on, its bases' ``__init__``."""
    chain = [c.__init__ for c in fn.__mro__ if "__init__" in vars(c)] if inspect.isclass(fn) else [fn]
    accepted: dict[str, Any] = {}
    for init in chain:
        names, more = _parameters(init)
        accepted = {**names, **accepted}
        if not more:
            break
    for key, value in params.items():
        if key not in accepted:
            raise UserTypeError(f"{what}: unknown parameter {key!r}; accepted: {', '.join(accepted)}")
        if not _matches(value, accepted[key]):
            raise UserTypeError(f"{what}: parameter {key!r} must be {_describe(accepted[key])}, got {value!r}")


def as_path(value: Any, name: str = "path") -> Path:
    """``value`` (str or path-like) as a :class:`pathlib.Path`; anything else (None, a number)
    raises :class:`UserTypeError` naming ``name`` instead of pathlib's TypeError."""
    if isinstance(value, bytes) or not isinstance(value, (str, os.PathLike)):
        raise UserTypeError(f"{name} must be a path (str or os.PathLike), got {type(value).__name__}")
    return Path(value)


def regular_file(path: Path, what: str = "file", missing: str = "") -> Path:
    """``path`` if it is a regular file (or a link to one); a directory, a device (``/dev/zero``
    would be read forever), a FIFO or a socket is a one-line :class:`UserError` saying which,
    a missing file a ``FileNotFoundError`` (``missing``: its message, default "{what} PATH is
    missing")."""
    import stat

    from snnsim.errors import UserError

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(missing or f"{what} {path} is missing") from None
    except OSError as err:  # a looping link, a component that is a file, no permission
        raise UserError(f"{what} {path} cannot be read: {err.strerror or err}") from None
    if stat.S_ISDIR(mode):
        raise UserError(f"{what} {path} is a directory, not a file; give the file itself")
    if not stat.S_ISREG(mode):
        raise UserError(f"{what} {path} is not a regular file (a device, FIFO or socket); give a file")
    return path
