"""The result of a simulation: spikes (and optionally potentials) of every layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from snnsim.core.nodes import layer_kind
from snnsim.errors import UserError


@dataclass
class Record:
    """Spikes and potentials recorded by an engine.

    Attributes:
        spikes: layer name -> bool ``[T, B, *shape]`` (input layers: the input as given,
            bool spikes or float currents).
        voltages: layer name -> float ``[T, B, *shape]`` (potential after the reset of each
            step), only for the layers asked for.
        dt: simulation step in ms.
        kinds: layer name -> "input", "spiking" or "integrator" (non-spiking), taken from
            the network's node types at simulation time (:func:`snnsim.core.nodes.layer_kind`);
            it decides the default read-out of :meth:`predict`. Empty for a record built
            by hand or loaded from a file that lacks it.
    """

    spikes: dict[str, torch.Tensor]
    voltages: dict[str, torch.Tensor] = field(default_factory=dict)
    dt: float = 1.0
    kinds: dict[str, str] = field(default_factory=dict)

    def _first(self) -> torch.Tensor:
        """Any recorded tensor ``[T, B, ...]`` (spikes first, else potentials)."""
        for data in (self.spikes, self.voltages):
            for x in data.values():
                return x
        raise UserError("the record holds no layers")

    @property
    def timesteps(self) -> int:
        return self._first().shape[0]

    @property
    def batch_size(self) -> int:
        return self._first().shape[1]

    def counts(self, layer: str) -> torch.Tensor:
        """Spike counts over time of ``layer``: ``[B, *shape]`` (int64)."""
        return self.spikes[layer].sum(0)

    def rates(self, layer: str) -> torch.Tensor:
        """Firing rate per neuron in spikes per step: ``[B, *shape]``."""
        return self.spikes[layer].float().mean(0)

    def spikes_per_neuron(self) -> dict[str, float]:
        """Mean number of spikes per neuron and sample over the whole run, per layer."""
        return {name: float(s.float().sum(0).mean()) for name, s in self.spikes.items()}

    def total_spikes(self) -> dict[str, int]:
        """Total spikes per layer, summed over batch, neurons and time."""
        return {name: int(s.sum()) for name, s in self.spikes.items()}

    def default_readout(self, layer: str) -> str:
        """The read-out that ``layer``'s kind calls for: "voltage" for an integrator (it
        never spikes), "spikes" for a spiking or input layer. Raises ValueError when the
        kind is unknown (a record without ``kinds``): pass the read-out explicitly then."""
        kind = self.kinds.get(layer)
        if kind == "integrator":
            return "voltage"
        if kind in ("spiking", "input"):
            return "spikes"
        raise UserError(
            f"the kind of layer {layer!r} is unknown (this record has no kinds, e.g. it was built by "
            "hand or loaded from an older file); pass readout='spikes' or readout='voltage'"
        )

    def predict(self, layer: str, readout: str = "auto") -> torch.Tensor:
        """Class prediction ``[B]`` from ``layer``.

        readout: "spikes" (argmax of spike counts, ties to the lower index), "voltage"
        (argmax of the final potential; needs it recorded) or "auto" (what the layer's
        kind calls for, see :meth:`default_readout`: spike counts for a spiking layer even
        when its potentials were recorded, the final potential for an integrator).
        """
        if readout == "auto":
            readout = self.default_readout(layer)
        if readout == "voltage":
            if layer not in self.voltages:
                raise UserError(f"potential of layer {layer!r} was not recorded; pass record_voltage")
            return self.voltages[layer][-1].reshape(self.batch_size, -1).argmax(1)
        if readout == "spikes":
            return self.counts(layer).reshape(self.batch_size, -1).argmax(1)
        raise UserError(f"readout must be 'spikes', 'voltage' or 'auto', got {readout!r}")

    def to(self, device: Optional[torch.device | str]) -> Record:
        return Record(
            {k: v.to(device) for k, v in self.spikes.items()},
            {k: v.to(device) for k, v in self.voltages.items()},
            self.dt,
            dict(self.kinds),
        )


def layer_kinds(network: Any) -> dict[str, str]:
    """Layer name -> kind (:func:`snnsim.core.nodes.layer_kind`) of every layer of a BindsNET
    ``network``: what each engine stores in :attr:`Record.kinds`."""
    return {name: layer_kind(layer) for name, layer in network.layers.items()}
