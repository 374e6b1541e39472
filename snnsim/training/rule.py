"""The interface shared by every training method ("learning rule").

A rule says how a network is built for it, how inputs are encoded, how the network is
run differentiably and read out, and what loss is minimised. The trainer
(:mod:`snnsim.training.trainer`) only talks to this interface, so every rule gets the same
optimisers, schedules, checkpoints and reports. After training, the network is an
ordinary BindsNET ``Network`` that either engine runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Optional, Sequence

import torch
from bindsnet.network import Network

from snnsim.argcheck import check_call
from snnsim.core.registry import Registry
from snnsim.errors import UserError


class LearningRule(ABC):
    """Base class of the training methods."""

    #: name used on the command line (``snnsim train --method NAME``)
    name: str = ""
    #: network names that :meth:`build` accepts
    nets: tuple[str, ...] = ()

    def __init__(self, timesteps: int) -> None:
        if not isinstance(timesteps, int) or isinstance(timesteps, bool) or timesteps < 1:
            raise UserError(f"timesteps must be an int >= 1, got {timesteps!r}")
        self.timesteps = timesteps

    @abstractmethod
    def build(self, net: str, input_shape: Sequence[int], n_classes: int) -> Network:
        """A fresh network ``net`` (one of :attr:`nets`) for this rule."""

    def prepare(self, network: Network) -> None:
        """Configure a network for this rule (surrogates, reset handling). Idempotent."""

    @abstractmethod
    def encode(self, x: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """``x [B, C, H, W]`` in [0, 1] -> network input ``[T, B, C, H, W]``."""

    @abstractmethod
    def outputs(self, network: Network, inputs: torch.Tensor) -> torch.Tensor:
        """Differentiable read-out ``[B, n_classes]`` of ``network`` on ``inputs``."""

    @abstractmethod
    def loss(self, outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Scalar loss of ``outputs [B, C]`` against labels ``y [B]``."""

    def spike_input(self, inputs: Any) -> torch.Tensor:
        """The spike train ``[T, B, ...]`` that the engines simulate, of what :meth:`encode`
        returned (the same tensor unless a rule returns more, e.g. TTFS's exact times)."""
        return inputs

    def take(self, inputs: torch.Tensor, rows: slice) -> torch.Tensor:
        """Samples ``rows`` of an encoded batch ``[T, B, ...]`` (a data-parallel rank's share,
        :func:`snnsim.training.distributed.shard`); a rule whose encoded input carries more than the
        spike train slices that too."""
        return inputs[:, rows]

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        """Class predictions ``[B]``."""
        return outputs.argmax(1)

    #: batch size of the train command's final simulated evaluation
    eval_batch_size: int = 200

    def calibrate(self, network: Network, train: Any) -> None:
        """Called once before training a freshly built network, with the training split
        (``snnsim.data.datasets.Split``), e.g. to set TTFS windows from activations. Default: nothing."""

    def after_step(self, network: Network) -> None:
        """Called by the trainer after every optimiser step (e.g. to grow TTFS windows
        from statistics the rule kept during :meth:`outputs`). Default: nothing."""

    def export(self, network: Network) -> Network:
        """The network to save for inference after (or during) training, e.g. with
        BatchNorm folded into the weights. Default: the trained network itself. When it
        returns another object, the trainer keeps the training network separately so
        that ``--resume`` continues from it."""
        return network

    def informative_spikes(self, network: Network, spikes: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The spikes of a simulated batch (layer -> ``[T, B, *shape]``) that carry
        information, which reports count (spikes per neuron, SynOps). Default: all of
        them; TTFS drops the forced spikes that neurons emit at ``t_max``."""
        return spikes

    def encoder_config(self) -> dict[str, Any]:
        """How to encode inputs for ``snnsim simulate`` (stored with checkpoints)."""
        return {}

    def config(self) -> dict[str, Any]:
        """JSON-ready settings for reports and checkpoints."""
        return {"method": self.name, "timesteps": self.timesteps}

    def check_net(self, net: str) -> None:
        if net not in self.nets:
            raise UserError(f"method {self.name!r} supports nets {list(self.nets)}, got {net!r}")


#: Learning rules by name (the ``--method`` of ``snnsim train``); methods fill it lazily.
RULES: Registry = Registry("rule")


def register_rule(rule: type[LearningRule], *, replace: bool = False) -> type[LearningRule]:
    """Make ``rule`` available under ``rule.name`` (refuses a clash unless ``replace=True``)."""
    if rule.name in RULES.keys() and RULES[rule.name] is not rule and not replace:
        raise ValueError(f"rule {rule.name!r} is already registered to {RULES[rule.name].__name__}; pass replace=True")
    RULES[rule.name] = rule
    return rule


def get_rule(name: str, **params: Any) -> LearningRule:
    """A rule by name with its parameters; unknown names raise :class:`UserError`."""
    if not isinstance(name, str) or name not in RULES:
        raise UserError(f"unknown method {name!r}; known: {RULES.known()}")
    check_call(RULES[name], params, f"method {name}")  # types, before the rule sees them
    return RULES[name](**params)
