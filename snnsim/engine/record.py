"""The result of a simulation: spikes (and optionally potentials) of every layer."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch


@dataclass
class Record:
    """Spikes and potentials recorded by an engine.

    Attributes:
        spikes: layer name -> bool ``[T, B, *shape]`` (input layers: the input as given,
            bool spikes or float currents).
        voltages: layer name -> float ``[T, B, *shape]`` (potential after the reset of each
            step), only for the layers asked for.
        dt: simulation step in ms.
    """

    spikes: dict[str, torch.Tensor]
    voltages: dict[str, torch.Tensor] = field(default_factory=dict)
    dt: float = 1.0

    @property
    def timesteps(self) -> int:
        return next(iter(self.spikes.values())).shape[0]

    @property
    def batch_size(self) -> int:
        return next(iter(self.spikes.values())).shape[1]

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

    def predict(self, layer: str, readout: str = "auto") -> torch.Tensor:
        """Class prediction ``[B]`` from ``layer``.

        readout: "spikes" (argmax of spike counts, ties to the lower index), "voltage"
        (argmax of the final potential; needs it recorded) or "auto" (voltage if
        recorded, else spikes).
        """
        if readout == "auto":
            readout = "voltage" if layer in self.voltages else "spikes"
        if readout == "voltage":
            if layer not in self.voltages:
                raise ValueError(f"potential of layer {layer!r} was not recorded; pass record_voltage")
            return self.voltages[layer][-1].reshape(self.batch_size, -1).argmax(1)
        if readout == "spikes":
            return self.counts(layer).reshape(self.batch_size, -1).argmax(1)
        raise ValueError(f"readout must be 'spikes', 'voltage' or 'auto', got {readout!r}")

    def to(self, device: Optional[torch.device | str]) -> "Record":
        return Record(
            {k: v.to(device) for k, v in self.spikes.items()},
            {k: v.to(device) for k, v in self.voltages.items()},
            self.dt,
        )
