"""Training methods ("learning rules") with one interface (:class:`LearningRule`)."""
from __future__ import annotations

from typing import Any

from .base import LearningRule
from .spikebp import SpikeBP

RULES: dict[str, type[LearningRule]] = {"spikebp": SpikeBP}


def get_rule(name: str, **params: Any) -> LearningRule:
    """A rule by name with its parameters; unknown names raise ValueError."""
    if name not in RULES:
        raise ValueError(f"unknown method {name!r}; known: {sorted(RULES)}")
    return RULES[name](**params)


__all__ = ["LearningRule", "RULES", "SpikeBP", "get_rule"]
