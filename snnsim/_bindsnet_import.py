"""Keep the process's warning filters when BindsNET is imported.

``import bindsnet`` runs ``warnings.filterwarnings("ignore")`` (in
``bindsnet/datasets/alov300.py``), which would hide every warning snnsim emits, even
under ``python -W always``. :func:`install` (called by ``import snnsim``) adds a finder that
runs the first import of ``bindsnet`` -- and with it every submodule its ``__init__``
imports, ``alov300`` included -- inside :func:`warnings.catch_warnings`, so the filters are
as before afterwards. It imports nothing itself, so ``import snnsim`` stays cheap.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from typing import Any, Optional, Sequence


class _KeepFilters(importlib.abc.Loader):
    """Wraps BindsNET's loader: executes the package inside ``warnings.catch_warnings()``."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Optional[types.ModuleType]:
        return self._loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        with warnings.catch_warnings():
            self._loader.exec_module(module)

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, ...
        return getattr(self._loader, name)


class _BindsnetFinder(importlib.abc.MetaPathFinder):
    """Finds ``bindsnet`` with the regular path finder and wraps its loader; one use only."""

    def find_spec(
        self, name: str, path: Optional[Sequence[str]], target: Any = None
    ) -> Optional[importlib.machinery.ModuleSpec]:
        if name != "bindsnet":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _KeepFilters(spec.loader)
        return spec


def install() -> None:
    """Guard the first import of BindsNET (nothing to do once it is imported)."""
    if "bindsnet" not in sys.modules and not any(isinstance(f, _BindsnetFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _BindsnetFinder())
