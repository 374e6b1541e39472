"""Network builders returning BindsNET ``Network`` objects (and their specs).

>>> from networks import diehl_fc, scnn, lenet, fc, build
>>> net = build("scnn", reset="subtract")
"""
from .builders import (
    SPECS,
    build,
    conv_spec,
    diehl_fc,
    diehl_fc_spec,
    fc,
    fc_spec,
    lenet,
    lenet_spec,
    scnn,
    scnn_spec,
)

__all__ = [
    "SPECS", "build", "conv_spec", "diehl_fc", "diehl_fc_spec", "fc", "fc_spec",
    "lenet", "lenet_spec", "scnn", "scnn_spec",
]
