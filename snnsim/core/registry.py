"""Name -> object registries that fill when a name is first needed.

Node types, connection ops, learning rules and encoders are looked up by name (in specs,
checkpoints and the command line). Every name is declared once, with the module that registers
it, in :mod:`snnsim.plugins` (which also reads third-party entry points). The core registers its
own at import; a method (``snnsim.methods.<name>``) registers its names when its module is
imported. A lookup of a name that is not registered yet imports the module that the declaration
gives, so ``import snnsim.core.spec`` or ``import snnsim.engine`` loads no method, and a checkpoint
that names ``"ttfs"`` still loads. The core imports no method package: it only receives module
names from :mod:`snnsim.plugins`.

Iterating a registry shows what is registered so far; :meth:`Registry.known` lists every
name, and :meth:`Registry.all` loads every provider first.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Optional

from snnsim import plugins


def provider(kind: str, name: str) -> Optional[str]:
    """The module that registers ``name`` of ``kind`` ("node", "op", "rule", "encoder"), or None."""
    return plugins.module_of(kind, name)


def provided(kind: str) -> list[str]:
    """Every declared name of ``kind`` (registered or not)."""
    return list(plugins.names(kind))


def _registering_module() -> str:
    """The module whose top-level code is running the registration (the nearest ``<module>`` frame)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_name != "<module>":
        frame = frame.f_back
    return "" if frame is None else str(frame.f_globals.get("__name__", ""))


class Registry(dict):
    """A dict of registered names that imports a name's provider on first lookup. ``origin`` maps
    each name to the module that first registered it (``tests/test_layout.py`` checks it against
    the declaration)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.origin: dict[str, str] = {}

    def __setitem__(self, key: Any, value: Any) -> None:
        if key not in self.origin:
            self.origin[key] = _registering_module()
        super().__setitem__(key, value)

    def _load(self, key: Any) -> bool:
        module = provider(self.kind, key) if isinstance(key, str) else None
        if module is None:
            return False
        importlib.import_module(module)
        return dict.__contains__(self, key)

    def __missing__(self, key: Any) -> Any:
        if self._load(key):
            return dict.__getitem__(self, key)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or self._load(key)

    def get(self, key: Any, default: Any = None) -> Any:
        return self[key] if key in self else default

    def known(self) -> list[str]:
        """Sorted names: those registered and those declared (registered when their module loads)."""
        return sorted(set(self.keys()) | set(provided(self.kind)))

    def all(self) -> dict[str, Any]:
        """A plain dict of every name, after importing every provider of this kind."""
        for name in provided(self.kind):
            self._load(name)
        return dict(self)
