"""Time-to-first-spike networks with the exact ReLU identity mapping (Stanojevic et al. 2024).

>>> net = from_relu(ann, train_x)                 # TTFS net equal to the ReLU net
>>> res = ttfs_forward(net, x)                    # exact spike times, differentiable
>>> res.logits, res.times["l1"]
>>> sim = simulate_ttfs(net, x, engine="bindsnet")  # discrete time, dt = window/1000
>>> spike_metrics(res, net)["spikes_per_neuron"]

Modules: :mod:`.chain` (layout, windows), :mod:`.exact` (closed-form forward),
:mod:`.windowing` (calibration, growth rule), :mod:`.mapping` (``from_relu``),
:mod:`.build` (FC / VGG builders), :mod:`.simulate` (discrete time in the engines),
:mod:`.metrics` (spikes per neuron, latency). The node classes and the
``ttfs_maxpool2d`` op are in :mod:`snnsim.methods.ttfs.nodes`; the learning rule "ttfs"
in :mod:`snnsim.methods.ttfs.rule`.
"""

from snnsim.methods.ttfs.build import VGG_FEATURES, VGG_HIDDEN, build_fc, build_vgg, fc_spec, init_glorot, vgg_spec
from snnsim.methods.ttfs.chain import (
    INPUT_T_MAX,
    TTFSLayer,
    hidden_layers,
    readout_time,
    set_windows,
    ttfs_layers,
    windows,
)
from snnsim.methods.ttfs.exact import DOMAINS, TTFSResult, input_times, times_from_spikes, ttfs_forward
from snnsim.methods.ttfs.mapping import from_relu
from snnsim.methods.ttfs.metrics import SpikeStats, informative_spikes, spike_metrics, spike_penalty
from snnsim.methods.ttfs.nodes import EarliestMaxPool2d, TTFSNodes, TTFSReadout, readout_step, ttfs_step
from snnsim.methods.ttfs.simulate import (
    Simulation,
    dyadic_dt,
    encode_spikes,
    encoder_config,
    set_dt,
    sim_dt,
    sim_timesteps,
    simulate_ttfs,
)
from snnsim.methods.ttfs.windowing import (
    DEFAULT_GROWTH,
    DEFAULT_MARGIN,
    batch_min_times,
    calibrate_windows,
    grow_windows,
    max_activations,
)

__all__ = [
    "DEFAULT_GROWTH",
    "DEFAULT_MARGIN",
    "DOMAINS",
    "EarliestMaxPool2d",
    "INPUT_T_MAX",
    "Simulation",
    "SpikeStats",
    "TTFSLayer",
    "TTFSNodes",
    "TTFSReadout",
    "TTFSResult",
    "VGG_FEATURES",
    "VGG_HIDDEN",
    "batch_min_times",
    "build_fc",
    "build_vgg",
    "calibrate_windows",
    "dyadic_dt",
    "encode_spikes",
    "encoder_config",
    "fc_spec",
    "from_relu",
    "grow_windows",
    "hidden_layers",
    "informative_spikes",
    "init_glorot",
    "input_times",
    "max_activations",
    "readout_step",
    "readout_time",
    "set_dt",
    "set_windows",
    "sim_dt",
    "sim_timesteps",
    "simulate_ttfs",
    "spike_metrics",
    "spike_penalty",
    "times_from_spikes",
    "ttfs_forward",
    "ttfs_layers",
    "ttfs_step",
    "vgg_spec",
    "windows",
]
