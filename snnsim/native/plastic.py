"""Native step loop of plastic Diehl & Cook-like networks (see :mod:`snnsim.engine.plastic`)."""
from __future__ import annotations

from typing import Any, Optional


def kernel_for(network: Any, plastic: list, inputs: dict) -> Optional[Any]:
    """A kernel that runs this plastic network's whole step loop in C, or None (the torch loop)."""
    return None
