"""Extension modules that register extra node types and connection ops.

Every module in this package is imported when :mod:`snnsim.spec` is imported, so the
node types (``snnsim.nodes.register_node``) and ops (``snnsim.ops.register_op``) it
registers are available to ``build_network`` and to checkpoints. One concept per module
(e.g. ``tdbn.py`` for threshold-dependent BatchNorm, ``ttfs.py`` for TTFS layers).
"""
from __future__ import annotations

import importlib
import pkgutil

for _mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    importlib.import_module(f"{__name__}.{_mod.name}")
