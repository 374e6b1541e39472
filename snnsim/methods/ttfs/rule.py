"""Learning rule "ttfs": TTFS networks with the exact ReLU identity mapping
(Stanojevic et al. 2024), trained through their closed-form spike times.

``snnsim train --method ttfs --net fc2|fc|vgg [--from-relu DIR] [--set key=value]``

- From scratch: ``fc2`` (784-340-10; ``fc`` with ``--hidden``) or ``vgg`` (see
  :mod:`snnsim.methods.ttfs.build`), Glorot weights, zero biases.
- From a ReLU net: ``--from-relu DIR`` (or ``--set from_relu=DIR``), an ``snnsim
  train-ann`` checkpoint, is mapped with :func:`snnsim.methods.ttfs.from_relu` and fine-tuned
  (use a small ``--lr``, e.g. 1e-5).
- Windows: set by the explicit :meth:`TTFSRule.calibrate` (up to 2,000 training images;
  ``fit`` calls it; ``outputs`` refuses an uncalibrated network) to ``(1 + margin) x`` the
  largest activation (``margin`` 0.5),
  then grown after every optimiser step by the growth rule (``growth`` 10;
  :func:`snnsim.methods.ttfs.grow_windows`) through ``after_step``.
- Forward/backward: :func:`snnsim.methods.ttfs.ttfs_forward` in ``dtype`` (float64 by default,
  as in the paper, so that TTFS and ReLU training follow the same trajectory);
  cross-entropy on the logits, plus ``spike_reg`` (default 0) x the mean hidden
  activation (:func:`snnsim.methods.ttfs.spike_penalty`), which trains towards fewer
  informative spikes (``--set spike_reg=0.3``). ``domain="relu"`` trains the ReLU twin instead (the
  same network, plain ReLU, no window clip; a control for comparisons).
- Encoding: :meth:`TTFSRule.encode` returns a :class:`TTFSInput`: the latency-coded spike
  train at the simulation step (``spikes``, what the train command simulates in the engines)
  and the exact input times (``times``), which :meth:`TTFSRule.outputs` uses (exact training)
  and :meth:`TTFSRule.take` slices with the spikes for data-parallel ranks; given a plain spike
  train, :meth:`TTFSRule.outputs` reads the times from the (quantised) spikes.
  The step is a power of two with at least ``steps_per_window`` steps per unit
  time, coarsened until ``T <= timesteps`` (default 1000 steps) and until the train
  command's simulation of a batch fits ``sim_memory_mb`` (3 GB: conv nets get few steps).
- Data parallel: the window growth uses the earliest spike of the global batch (the
  minimum over the ranks), so every rank grows its windows as one process would.
- Metrics: every held-out pass accumulates :class:`snnsim.methods.ttfs.SpikeStats`
  (informative spikes per neuron, latency per layer); :meth:`config` reports the last.
  :meth:`TTFSRule.informative_spikes` makes the train command's simulated spike counts
  and SynOps skip the forced spikes at ``t_max`` too.
"""

from __future__ import annotations

import copy
import math
from typing import Any, NamedTuple, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from bindsnet.network import Network

from snnsim.errors import UserError
from snnsim.methods.ttfs import (
    DEFAULT_GROWTH,
    DEFAULT_MARGIN,
    SpikeStats,
    batch_min_times,
    build_fc,
    build_vgg,
    calibrate_windows,
    encode_spikes,
    encoder_config,
    from_relu,
    grow_windows,
    informative_spikes,
    input_times,
    readout_time,
    set_dt,
    sim_dt,
    spike_penalty,
    times_from_spikes,
    ttfs_forward,
    windows,
)
from snnsim.training.ann import load_ann
from snnsim.training.distributed import all_min
from snnsim.training.rule import LearningRule, register_rule

DTYPES = {"float32": torch.float32, "float64": torch.float64}
#: Batch size of the train command's simulated evaluation (for the memory cap).
EVAL_BATCH = 200
CALIBRATION_SAMPLES = 2000


class TTFSInput(NamedTuple):
    """What :meth:`TTFSRule.encode` returns: the latency-coded spike train ``[T, B, ...]`` (bool)
    and the exact input spike times ``[B, ...]`` in the rule's dtype."""

    spikes: torch.Tensor
    times: torch.Tensor


class TTFSRule(LearningRule):
    """Exact TTFS training (module docstring). Parameters: ``timesteps`` (most simulation
    steps), ``from_relu`` (ANN checkpoint dir), ``hidden`` (fc sizes), ``margin``,
    ``growth`` (0 disables growth), ``dtype``, ``domain`` ("time"/"relu"),
    ``steps_per_window``, ``vgg_features``, ``vgg_hidden``, ``sim_memory_mb``, ``spike_reg``
    (weight of the spike regulariser, >= 0)."""

    name = "ttfs"
    nets = ("fc2", "fc", "vgg")

    def __init__(
        self,
        timesteps: Optional[int] = None,
        *,
        from_relu: Optional[str] = None,
        hidden: Sequence[int] = (340,),
        margin: float = DEFAULT_MARGIN,
        growth: float = DEFAULT_GROWTH,
        dtype: str = "float64",
        domain: str = "time",
        steps_per_window: int = 16,
        vgg_features: Optional[Sequence[Any]] = None,
        vgg_hidden: Sequence[int] = (128,),
        sim_memory_mb: float = 3072.0,
        spike_reg: float = 0.0,
    ) -> None:
        max_steps = 1000 if timesteps is None else timesteps
        super().__init__(max_steps)
        if max_steps < 2:
            raise UserError(f"timesteps must be >= 2 for a TTFS simulation, got {max_steps}")
        if dtype not in DTYPES:
            raise UserError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        if domain not in ("time", "relu"):
            raise UserError(f"domain must be 'time' or 'relu', got {domain!r}")
        if not (math.isfinite(margin) and margin >= 0) or not (math.isfinite(growth) and growth >= 0):
            raise UserError(f"margin and growth must be finite numbers >= 0, got {margin!r}, {growth!r}")
        if not isinstance(steps_per_window, int) or steps_per_window < 1:
            raise UserError(f"steps_per_window must be an int >= 1, got {steps_per_window!r}")
        self.max_steps, self.from_relu = max_steps, from_relu
        self.hidden = tuple(int(h) for h in hidden)
        self.margin, self.growth, self.dtype, self.domain = float(margin), float(growth), dtype, domain
        self.steps_per_window = steps_per_window
        if not (math.isfinite(sim_memory_mb) and sim_memory_mb > 0):
            raise UserError(f"sim_memory_mb must be a finite number > 0, got {sim_memory_mb!r}")
        self.sim_memory_mb = float(sim_memory_mb)
        if (
            isinstance(spike_reg, bool)
            or not isinstance(spike_reg, (int, float))
            or not (math.isfinite(spike_reg) and spike_reg >= 0)
        ):
            raise UserError(f"spike_reg must be a finite number >= 0, got {spike_reg!r}")
        self.spike_reg = float(spike_reg)
        self._penalty: Optional[torch.Tensor] = None  # spike_reg x penalty of the last training batch
        self.vgg_features = tuple(vgg_features) if vgg_features is not None else None
        self.vgg_hidden = tuple(int(h) for h in vgg_hidden)
        self.dt = 1.0
        self.ann_net: Optional[str] = None
        self._network: Optional[Network] = None
        self._pending = False  # windows still to be calibrated on the first batch
        self._min_times: Optional[list[float]] = None
        self._stats: Optional[SpikeStats] = None
        self._fresh = True

    # --- network -------------------------------------------------------------------
    def build(self, net: str, input_shape: Sequence[int], n_classes: int) -> Network:
        if self.from_relu is not None:
            network = self._map_ann(input_shape, n_classes)
        else:
            self.check_net(net)
            if net == "vgg":
                kw = {"features": self.vgg_features} if self.vgg_features is not None else {}
                network = build_vgg(input_shape, n_classes, hidden=self.vgg_hidden, **kw)
            else:
                hidden = (340,) if net == "fc2" else self.hidden
                network = build_fc([math.prod(input_shape), *hidden, n_classes], input_shape=input_shape)
        self._pending = True
        self.prepare(network)
        return network

    def _map_ann(self, input_shape: Sequence[int], n_classes: int) -> Network:
        ann = load_ann(self.from_relu)
        if list(ann.input_shape) != [int(d) for d in input_shape] or ann.n_classes != n_classes:
            raise UserError(
                f"the ReLU net in {self.from_relu} takes {list(ann.input_shape)} -> {ann.n_classes} "
                f"classes, the dataset gives {list(input_shape)} -> {n_classes}"
            )
        self.ann_net = ann.net
        return from_relu(ann, None, input_shape=list(input_shape), dtype=DTYPES[self.dtype])

    def prepare(self, network: Network) -> None:
        network.to(DTYPES[self.dtype])
        self._network = network
        self._refresh_sim(network)

    def sim_step_cap(self, network: Network) -> int:
        """Most steps for the train command's simulated evaluation: ``timesteps``, and at
        most what fits ``sim_memory_mb`` for a batch of :data:`EVAL_BATCH` in the fast
        engine: per step and sample about 10 B per neuron of the largest layer (its
        currents and spikes being made) and 9 B per neuron of every layer (spikes, and the
        potentials the train command records for its first batch)."""
        sizes = [layer.n for layer in network.layers.values()]
        per_step = EVAL_BATCH * (10 * max(sizes) + 9 * sum(sizes))
        return max(2, min(self.max_steps, int(self.sim_memory_mb * 2**20 // per_step)))

    def _refresh_sim(self, network: Network) -> None:
        self.dt = sim_dt(network, self.steps_per_window, self.sim_step_cap(network))
        self.timesteps = set_dt(network, self.dt)

    def calibrate(self, network: Network, train: Any) -> None:
        """Set the windows from up to :data:`CALIBRATION_SAMPLES` training images (the
        trainer calls this before training a freshly built or mapped network)."""
        if not self._pending:
            return
        x = train.x[:CALIBRATION_SAMPLES].to(DTYPES[self.dtype])
        with torch.no_grad():
            calibrate_windows(network, x, self.margin)
        self._pending = False
        self._refresh_sim(network)

    # --- encode / forward / loss -------------------------------------------------------
    def encode(self, x: torch.Tensor, generator: Optional[torch.Generator] = None) -> TTFSInput:  # type: ignore[override]
        """:class:`TTFSInput`: the spike train ``[T, B, ...]`` at step :attr:`dt` and the exact
        input times ``1 - x`` ``[B, ...]`` (used by :meth:`outputs`)."""
        return TTFSInput(encode_spikes(x, self.dt, self.timesteps), input_times(x.to(DTYPES[self.dtype])))

    def spike_input(self, inputs: Union[TTFSInput, torch.Tensor]) -> torch.Tensor:
        """The spike train ``[T, B, ...]`` of what :meth:`encode` returned (for the engines)."""
        return inputs.spikes if isinstance(inputs, TTFSInput) else inputs

    def take(self, inputs: Union[TTFSInput, torch.Tensor], rows: slice) -> Union[TTFSInput, torch.Tensor]:  # type: ignore[override]
        """Samples ``rows`` of the spike train ``[T, B, ...]`` and of its exact times ``[B, ...]``."""
        if isinstance(inputs, TTFSInput):
            return TTFSInput(inputs.spikes[:, rows], inputs.times[rows])
        return inputs[:, rows]

    def outputs(self, network: Network, inputs: Union[TTFSInput, torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        """Logits ``[B, C]`` of the exact forward pass on a :class:`TTFSInput` (or a spike train
        ``[T, B, ...]``). Also records each layer's earliest spike in training mode (for
        :meth:`after_step`) and accumulates spike metrics in eval mode (one held-out pass at a
        time). The windows of a freshly built network
        must be set first by the explicit :meth:`calibrate` (``fit`` calls it)."""
        if self._pending:
            raise UserError(
                "the TTFS windows of a freshly built network are not calibrated: call "
                "rule.calibrate(network, train_split) first (fit() does)"
            )
        if isinstance(inputs, TTFSInput):
            times = inputs.times
        else:
            times = times_from_spikes(inputs, float(network.dt))
        res = ttfs_forward(network, times=times, domain=self.domain)
        if network.training:
            self._min_times = batch_min_times(network, res)
            self._fresh = True
            self._penalty = self.spike_reg * spike_penalty(res) if self.spike_reg > 0 else None
        else:
            self._penalty = None
            if self._fresh or self._stats is None:
                self._stats, self._fresh = SpikeStats(), False
            self._stats.add_result(res)
        return res.logits

    def loss(self, outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the logits ``[B, C]``, plus ``spike_reg`` x the mean hidden
        activation of the training batch that gave them (when ``spike_reg`` > 0)."""
        loss = F.cross_entropy(outputs, y)
        penalty, self._penalty = self._penalty, None
        return loss if penalty is None else loss + penalty

    def after_step(self, network: Network) -> None:
        """The window growth rule after every optimiser step."""
        if self.growth > 0 and self._min_times is not None:
            grow_windows(network, all_min(self._min_times), self.growth)  # over all ranks' samples
            self._min_times = None
            self._refresh_sim(network)

    def export(self, network: Network) -> Network:
        """A float32 copy for simulation and checkpoints (the engines' conv ops run in
        float32); the network itself when it already is float32."""
        if DTYPES[self.dtype] == torch.float32:
            return network
        out = copy.deepcopy(network).float()
        set_dt(out, self.dt)
        return out

    # --- reports -------------------------------------------------------------------------
    def encoder_config(self) -> dict[str, Any]:
        return encoder_config(self.dt, self.timesteps)

    def informative_spikes(self, network: Network, spikes: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Only spikes strictly before their layer's ``t_max`` (input: before 1): the forced
        spikes of neurons that never reached threshold carry x = 0 and are dropped
        (:func:`snnsim.methods.ttfs.informative_spikes`)."""
        return informative_spikes(network, spikes)

    def metrics(self) -> Optional[dict[str, Any]]:
        """Spike metrics of the last held-out pass (None before one)."""
        return self._stats.summary(self._network) if self._stats is not None else None

    def config(self) -> dict[str, Any]:
        net = self._network
        cfg = {
            **super().config(),
            "max_steps": self.max_steps,
            "dt": self.dt,
            "from_relu": self.from_relu,
            "ann_net": self.ann_net,
            "hidden": list(self.hidden),
            "margin": self.margin,
            "growth": self.growth,
            "dtype": self.dtype,
            "domain": self.domain,
            "steps_per_window": self.steps_per_window,
            "vgg_features": list(self.vgg_features) if self.vgg_features else None,
            "vgg_hidden": list(self.vgg_hidden),
            "sim_memory_mb": self.sim_memory_mb,
            "spike_reg": self.spike_reg,
        }
        if net is not None:
            cfg["windows"] = windows(net)
            cfg["readout_time"] = readout_time(net)
        cfg["held_out"] = self.metrics()
        return cfg


register_rule(TTFSRule)
