"""The five methods, one package each, and the manifest of the names they provide.

Each method package holds its nodes, ops, learning rule, mapping and plots:

- :mod:`snnsim.methods.conversion`: ANN-to-SNN conversion by weight/threshold balancing.
- :mod:`snnsim.methods.spikebp`: spike-based backpropagation for LIF networks.
- :mod:`snnsim.methods.stbp`: STBP with threshold-dependent BatchNorm, spiking ResNets.
- :mod:`snnsim.methods.ttfs`: time-to-first-spike networks and the ReLU identity mapping.
- :mod:`snnsim.methods.fastsnn`: single-spike layers computed for all steps at once.

Importing this package imports no method. Which module registers a node type, op, rule or
encoder is declared once in :mod:`snnsim.plugins`, so that a method is imported only when a spec,
a checkpoint or a command names it. A new method adds its package here and one line per name it
registers to :data:`snnsim.plugins.BUILTIN` (see CONTRIBUTING.md).
"""

from snnsim.plugins import methods as _methods

#: kind -> name -> module that registers it when imported: the method packages' part of the
#: declaration in :mod:`snnsim.plugins` (derived from it; kept for code that reads it).
PROVIDERS: dict[str, dict[str, str]] = {kind: names for kind, names in _methods().items() if names}
