"""The five methods, one package each, and the manifest of the names they provide.

Each method package holds its nodes, ops, learning rule, mapping and plots:

- :mod:`snnsim.methods.conversion`: ANN-to-SNN conversion by weight/threshold balancing.
- :mod:`snnsim.methods.spikebp`: spike-based backpropagation for LIF networks.
- :mod:`snnsim.methods.stbp`: STBP with threshold-dependent BatchNorm, spiking ResNets.
- :mod:`snnsim.methods.ttfs`: time-to-first-spike networks and the ReLU identity mapping.
- :mod:`snnsim.methods.fastsnn`: single-spike layers computed for all steps at once.

Importing this package imports no method. :data:`PROVIDERS` tells the core registries
(:mod:`snnsim.core.registry`) which module registers a node type, op, rule or encoder, so
that a method is imported only when a spec, a checkpoint or a command names it. A new method
adds its package here and one line per name it registers (see CONTRIBUTING.md).
"""

#: kind -> name -> module that registers it when imported.
PROVIDERS: dict[str, dict[str, str]] = {
    "node": {
        "ttfs": "snnsim.methods.ttfs.nodes",
        "ttfs_readout": "snnsim.methods.ttfs.nodes",
        "fastlif": "snnsim.methods.fastsnn.nodes",
        "peak_integrator": "snnsim.methods.fastsnn.nodes",
    },
    "op": {
        "ttfs_maxpool2d": "snnsim.methods.ttfs.nodes",
        "tdbn": "snnsim.methods.stbp.ops",
        "identity": "snnsim.methods.stbp.ops",
    },
    "rule": {
        "spikebp": "snnsim.methods.spikebp.rule",
        "stbp-tdbn": "snnsim.methods.stbp.rule",
        "ttfs": "snnsim.methods.ttfs.rule",
        "fastsnn": "snnsim.methods.fastsnn.rule",
        "lif": "snnsim.methods.fastsnn.rule",
    },
    "encoder": {
        "log_latency": "snnsim.methods.fastsnn.encoding",
    },
}
