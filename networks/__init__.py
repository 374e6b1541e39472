"""Network builders returning BindsNET ``Network`` objects (and their specs).

>>> from networks import diehl_fc, scnn, lenet, fc, build
>>> net = build("scnn", reset="subtract")
"""
import snnsim  # noqa: F401  (first: its import guard keeps warnings alive when BindsNET loads)

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
from .resnet import add_block, add_stage, basic_block, conv_bn, lif, resnet19, resnet19_spec

__all__ = [
    "resnet19", "resnet19_spec", "basic_block", "add_block", "add_stage", "conv_bn", "lif",
    "SPECS", "build", "conv_spec", "diehl_fc", "diehl_fc_spec", "fc", "fc_spec",
    "lenet", "lenet_spec", "scnn", "scnn_spec",
]
