"""ANN-to-SNN conversion by weight or threshold balancing (Diehl et al. 2015).

>>> from snnsim.methods.conversion import convert
>>> conv = convert(ann, norm="data", data=train_x[:2000], reset="subtract")
>>> conv.network, conv.factors      # BindsNET Network, {layer: lambda_l}

Modules: :mod:`.graph` (trace an ANN into a chain of layers), :mod:`.fold`
(BatchNorm folding), :mod:`.blocks` (weighted blocks and their ops),
:mod:`.normalize` (the factors), :mod:`.convert` (the ``convert`` function),
:mod:`.baseline` (the unnormalised net at its best threshold and input rate, the paper's
baseline: ``tune_unnormalised``).
"""

from snnsim.methods.conversion.baseline import BaselineSearch, GridPoint, tune_unnormalised
from snnsim.methods.conversion.blocks import Block, forward_blocks, group_blocks
from snnsim.methods.conversion.convert import OUTPUTS, RESETS, Conversion, convert, layer_names
from snnsim.methods.conversion.fold import fold_batchnorm
from snnsim.methods.conversion.graph import SUPPORTED, Step, trace_chain
from snnsim.methods.conversion.normalize import (
    NORMS,
    activation_stats,
    cumulative_scales,
    data_factors,
    max_positive_weight,
    model_factor,
    percentile,
    percentile_factors,
)

__all__ = [
    "BaselineSearch",
    "Block",
    "Conversion",
    "GridPoint",
    "NORMS",
    "OUTPUTS",
    "RESETS",
    "SUPPORTED",
    "Step",
    "activation_stats",
    "convert",
    "cumulative_scales",
    "data_factors",
    "fold_batchnorm",
    "forward_blocks",
    "group_blocks",
    "layer_names",
    "max_positive_weight",
    "model_factor",
    "percentile",
    "percentile_factors",
    "trace_chain",
    "tune_unnormalised",
]
