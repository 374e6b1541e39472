"""The one declaration of every registered name: kind -> name -> the module that registers it.

Learning rules, encoders, node types, ops, networks and ANNs are looked up by name (specs,
checkpoints, the command line). Each name is declared here once, with the module that registers
it when imported; everything else is derived from this table: the registries' lazy loading
(:mod:`snnsim.core.registry`), the tuples of :mod:`snnsim.names` (the CLI's ``choices``, without
importing torch), :data:`snnsim.methods.PROVIDERS` and ``tests/test_layout.py``'s check that each
module registers exactly the names declared for it.

A third-party package adds a method, node type, op, encoder or network with an entry point in
the group ``snnsim.plugins`` named ``KIND.NAME`` whose value is the module that registers it, e.g.
in its ``setup.py``::

    entry_points={"snnsim.plugins": ["rule.mymethod = mypackage.rule"]}

This module imports nothing from snnsim, and no torch (``snnsim --help`` reads it).
"""

from __future__ import annotations

import functools
import importlib
from importlib import metadata
from typing import Any, Optional

#: Entry-point group read by :func:`table`.
GROUP = "snnsim.plugins"
#: The kinds of registered names; ``viewer`` maps a method (a run's ``report["method"]``) to
#: ``module:function``, ``function(run_dir) -> tuple`` of extra plotly figures for the HTML viewer.
KINDS: tuple[str, ...] = ("rule", "encoder", "node", "op", "network", "ann", "viewer")

_NODES = "snnsim.core.nodes"
_STOCK = "snnsim.core.stock_spec"
_OPS = "snnsim.core.ops"
_ENC = "encoders"
_NETS = "networks.builders"
_ANNS = "snnsim.training.ann_nets"

#: snnsim's own names: kind -> name -> module that registers it when imported (a network or viewer
#: declared outside ``networks.builders`` / the viewer: ``module:function``).
BUILTIN: dict[str, dict[str, str]] = {
    "rule": {
        "fastsnn": "snnsim.methods.fastsnn.rule",
        "lif": "snnsim.training.lif",
        "spikebp": "snnsim.methods.spikebp.rule",
        "stbp-tdbn": "snnsim.methods.stbp.rule",
        "ttfs": "snnsim.methods.ttfs.rule",
    },
    "encoder": {
        "bernoulli": _ENC,
        "current": _ENC,
        "latency": _ENC,
        "poisson": _ENC,
        "rank_order": _ENC,
        "rows": _ENC,
        "events": _ENC,
        "log_latency": "snnsim.methods.fastsnn.encoding",
    },
    "node": {
        "input": _NODES,
        "if": _NODES,
        "lif": _NODES,
        "integrator": _NODES,
        "cuba_lif": _NODES,
        "cuba_li": _NODES,
        "threshold": _NODES,
        "bindsnet.IFNodes": _STOCK,
        "bindsnet.LIFNodes": _STOCK,
        "bindsnet.AdaptiveLIFNodes": _STOCK,
        "bindsnet.DiehlAndCookNodes": _STOCK,
        "ttfs": "snnsim.methods.ttfs.nodes",
        "ttfs_readout": "snnsim.methods.ttfs.nodes",
        "fastlif": "snnsim.methods.fastsnn.nodes",
        "peak_integrator": "snnsim.methods.fastsnn.nodes",
    },
    "op": {
        "linear": _OPS,
        "conv2d": _OPS,
        "avgpool2d": _OPS,
        "maxpool2d": _OPS,
        "sumpool2d": _OPS,
        "scale": _OPS,
        "flatten": _OPS,
        "dropout": _OPS,
        "batchnorm": _OPS,
        "ttfs_maxpool2d": "snnsim.methods.ttfs.nodes",
        "tdbn": "snnsim.methods.stbp.ops",
        "identity": "snnsim.methods.stbp.ops",
    },
    "network": {"fc": _NETS, "lenet": _NETS, "scnn": _NETS, "resnet19": "snnsim.methods.stbp.resnet:resnet19_spec"},
    "ann": {"fc": _ANNS, "lenet": _ANNS, "scnn": _ANNS, "vgg": _ANNS},
    "viewer": {"stdp": "snnsim.methods.stdp.plots:weights_heatmap"},
}


def _entry_points() -> list[tuple[str, str, str]]:
    """(kind, name, module) of each installed ``snnsim.plugins`` entry point."""
    found = []
    for ep in metadata.entry_points(group=GROUP):
        kind, _, name = ep.name.partition(".")
        if kind not in KINDS or not name:
            raise ValueError(
                f"entry point {ep.name!r} of group {GROUP} must be named KIND.NAME with KIND one of {', '.join(KINDS)}"
            )
        found.append((kind, name, ep.value.strip()))
    return found


@functools.cache
def table() -> dict[str, dict[str, str]]:
    """Every declared name: :data:`BUILTIN` plus the installed entry points (read once per process).
    An entry point may not take a name snnsim declares (ValueError)."""
    out = {kind: dict(names) for kind, names in BUILTIN.items()}
    for kind, name, module in _entry_points():
        if name in out[kind] and out[kind][name] != module:
            raise ValueError(f"entry point {kind}.{name} = {module} of group {GROUP} clashes with {out[kind][name]}")
        out[kind][name] = module
    return out


def names(kind: str) -> tuple[str, ...]:
    """The sorted names of ``kind`` (one of :data:`KINDS`)."""
    return tuple(sorted(table()[kind]))


def module_of(kind: str, name: object) -> Optional[str]:
    """The module that registers ``name`` of ``kind``, or None for an undeclared name."""
    value = table().get(kind, {}).get(name) if isinstance(name, str) else None
    return None if value is None else value.partition(":")[0].strip()


def load(kind: str, name: str) -> Any:
    """Import what ``name`` of ``kind`` is declared as: the module, or its attribute for a
    ``module:attribute`` value. KeyError for an undeclared name."""
    value = table()[kind][name]
    module, _, attr = value.partition(":")
    loaded = importlib.import_module(module.strip())
    return getattr(loaded, attr.strip()) if attr else loaded


def methods() -> dict[str, dict[str, str]]:
    """The names that method packages (``snnsim.methods.*``) provide, by kind."""
    return {
        kind: {n: m.partition(":")[0] for n, m in names_.items() if m.startswith("snnsim.methods.")}
        for kind, names_ in table().items()
        if kind != "viewer"
    }
