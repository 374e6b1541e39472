"""Training methods ("learning rules") with one interface (:class:`LearningRule`).

Every module of this package that defines ``RULE = <LearningRule subclass>`` (or
``RULES = (A, B, ...)``) is registered under each rule's ``name`` (the ``--method`` of
``snnsim train``).
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from .base import LearningRule
from .spikebp import SpikeBP
from ..errors import UserError

RULES: dict[str, type[LearningRule]] = {}
for _mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    _module = importlib.import_module(f"{__name__}.{_mod.name}")
    _rule = getattr(_module, "RULE", None)
    for _r in getattr(_module, "RULES", ()) + ((_rule,) if _rule is not None else ()):
        RULES[_r.name] = _r


def get_rule(name: str, **params: Any) -> LearningRule:
    """A rule by name with its parameters; unknown names raise ValueError."""
    if name not in RULES:
        raise UserError(f"unknown method {name!r}; known: {sorted(RULES)}")
    return RULES[name](**params)


__all__ = ["LearningRule", "RULES", "SpikeBP", "get_rule"]
