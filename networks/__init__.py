"""Network builders returning BindsNET ``Network`` objects (and their specs).

>>> from networks import diehl_fc, scnn, lenet, fc, build
>>> net = build("scnn", reset="subtract")
"""

import importlib
from typing import Any

import snnsim  # noqa: F401  (first: its import guard keeps warnings alive when BindsNET loads)
from networks.builders import (
    SPECS,
    build,
    conv_spec,
    diehl_fc,
    diehl_fc_spec,
    fc,
    fc_spec,
    lenet,
    lenet_spec,
    resnet19_spec,
    scnn,
    scnn_spec,
)
from snnsim import plugins

#: ResNet parts, which live with STBP (:mod:`snnsim.methods.stbp.resnet`) and load on first use.
_RESNET = ("add_block", "add_stage", "basic_block", "conv_bn", "lif", "resnet19")


def __getattr__(name: str) -> Any:
    if name in _RESNET:
        resnet = importlib.import_module(plugins.module_of("network", "resnet19") or "")  # declared in snnsim.plugins
        return getattr(resnet, name)
    raise AttributeError(f"module 'networks' has no attribute {name!r}")


__all__ = [
    "resnet19",
    "resnet19_spec",
    "basic_block",
    "add_block",
    "add_stage",
    "conv_bn",
    "lif",
    "SPECS",
    "build",
    "conv_spec",
    "diehl_fc",
    "diehl_fc_spec",
    "fc",
    "fc_spec",
    "lenet",
    "lenet_spec",
    "scnn",
    "scnn_spec",
]
