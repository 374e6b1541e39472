"""Training methods ("learning rules") with one interface (:class:`LearningRule`).

Every module of this package that defines ``RULE = <LearningRule subclass>`` is
registered under ``RULE.name`` (the ``--method`` of ``snnsim train``).
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from .base import LearningRule
from .spikebp import SpikeBP

RULES: dict[str, type[LearningRule]] = {}
for _mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    _rule = getattr(importlib.import_module(f"{__name__}.{_mod.name}"), "RULE", None)
    if _rule is not None:
        RULES[_rule.name] = _rule


def get_rule(name: str, **params: Any) -> LearningRule:
    """A rule by name with its parameters; unknown names raise ValueError."""
    if name not in RULES:
        raise ValueError(f"unknown method {name!r}; known: {sorted(RULES)}")
    return RULES[name](**params)


__all__ = ["LearningRule", "RULES", "SpikeBP", "get_rule"]
