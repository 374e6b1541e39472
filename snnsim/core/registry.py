"""Name -> object registries that method packages fill when they are first needed.

Node types, connection ops, learning rules and encoders are looked up by name (in specs,
checkpoints and the command line). The core registers its own at import; a method
(``snnsim.methods.<name>``) registers its names when its module is imported. A lookup of a
name that is not registered yet imports the module that :data:`snnsim.methods.PROVIDERS`
lists for it, so ``import snnsim.core.spec`` or ``import snnsim.engine`` loads no method, and a
checkpoint that names ``"ttfs"`` still loads.

Iterating a registry shows what is registered so far; :meth:`Registry.known` lists every
name, and :meth:`Registry.all` loads every provider first.
"""
from __future__ import annotations

import importlib
from typing import Any, Optional


def provider(kind: str, name: str) -> Optional[str]:
    """The module that registers ``name`` of ``kind`` ("node", "op", "rule", "encoder"), or None."""
    from snnsim.methods import PROVIDERS  # the manifest only; it imports no method

    return PROVIDERS.get(kind, {}).get(name)


def provided(kind: str) -> list[str]:
    """Every name of ``kind`` that some method provides (registered or not)."""
    from snnsim.methods import PROVIDERS

    return list(PROVIDERS.get(kind, {}))


class Registry(dict):
    """A dict of registered names that imports a name's provider on first lookup."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

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
        """Sorted names: those registered and those a method would register when loaded."""
        return sorted(set(self.keys()) | set(provided(self.kind)))

    def all(self) -> dict[str, Any]:
        """A plain dict of every name, after importing every provider of this kind."""
        for name in provided(self.kind):
            self._load(name)
        return dict(self)
