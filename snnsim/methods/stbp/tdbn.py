"""Threshold-dependent BatchNorm (tdBN, Zheng et al. 2021) and folding it into the weights.

tdBN normalises a pre-synaptic current per channel with statistics over time, batch
and space, and scales it to the firing threshold::

    y = lambda * alpha * V_th * (x - mean) / sqrt(var + eps) + beta

``lambda`` (``weight``, init 1) and ``beta`` (``bias``, init 0) are learned; ``alpha``
is 1, or ``1/sqrt(2)`` for the BNs whose outputs are summed in a residual block.
``V_th`` is the threshold of the neurons that receive the current.

Shapes: the fast engine hands a connection's ops ``[T * B, C, H, W]`` (``[T * B, C]``
after a linear op), so ordinary batch statistics over dim 0 (and H, W) *are* the
(T, B, H, W) statistics of the paper. The modules also accept ``[T, B, C, H, W]`` /
``[T, B, C]`` and flatten the first two dims themselves. In eval mode the running
statistics are used, so a tdBN is an affine map per channel and the BindsNET engine
(one step ``[B, ...]`` at a time) gives the same result.

Folding: in eval mode ``tdBN(W x + b) = W' x + b'`` with ``g = lambda * alpha * V_th /
sqrt(running_var + eps)``, ``W' = g * W`` (per output channel), ``b' = g * (b - mean) +
beta``. :func:`fold_into` does it for one layer, :func:`fold_network` for every
``linear``/``conv2d`` op followed by a ``tdbn`` (or plain ``batchnorm``) op of a network.
"""

from __future__ import annotations

import math
from typing import Any, Union

import torch
import torch.nn.functional as F
from bindsnet.network import Network
from torch import nn

from snnsim.core.bnfold import bn_affine as _bn_affine
from snnsim.core.bnfold import fold_bn
from snnsim.core.connections import ModuleConnection
from snnsim.core.spec import build_network, network_spec

Weighted = Union[nn.Linear, nn.Conv2d]
#: op names that :func:`fold_network` folds into the weighted op before them
FOLDABLE_OPS = ("tdbn", "batchnorm")
RESIDUAL_ALPHA = 1.0 / math.sqrt(2.0)


class _TDBatchNorm:
    """Mixin holding the tdBN scale ``alpha * V_th``; the statistics come from ``nn.BatchNorm``."""

    #: dims of a per-sample tensor (C,) or (C, H, W)
    sample_dims = 1

    def _init_td(self, alpha: float, v_th: float) -> None:
        for name, value in (("alpha", alpha), ("v_th", v_th)):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not (math.isfinite(value) and value > 0)
            ):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        self.alpha = float(alpha)
        self.v_th = float(v_th)

    @property
    def scale(self) -> float:
        """``alpha * V_th``: the std of the output per channel when ``lambda = 1``."""
        return self.alpha * self.v_th

    def _td_forward(self, x: torch.Tensor) -> torch.Tensor:
        bn: nn.modules.batchnorm._BatchNorm = self  # type: ignore[assignment]
        want = self.sample_dims + 1
        lead = None
        if x.dim() == want + 1:  # [T, B, C, ...]: statistics over T and B together
            lead = x.shape[:2]
            x = x.flatten(0, 1)
        if x.dim() != want:
            raise ValueError(
                f"{type(self).__name__} expects [N, C{', H, W' if self.sample_dims == 3 else ''}] "
                f"(N = T*B) or [T, B, ...], got shape {list(x.shape)}"
            )
        if x.shape[1] != bn.num_features:
            raise ValueError(f"{type(self).__name__} has {bn.num_features} channels, input has {x.shape[1]}")
        training = bn.training or bn.running_mean is None
        momentum = 0.0 if bn.momentum is None else bn.momentum
        if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
            bn.num_batches_tracked.add_(1)
            if bn.momentum is None:  # cumulative moving average, as in nn.BatchNorm
                momentum = 1.0 / float(bn.num_batches_tracked)
        weight = (
            bn.weight * self.scale
            if bn.weight is not None
            else torch.full((bn.num_features,), self.scale, dtype=x.dtype, device=x.device)
        )
        y = F.batch_norm(
            x,
            bn.running_mean if not bn.training or bn.track_running_stats else None,
            bn.running_var if not bn.training or bn.track_running_stats else None,
            weight,
            bn.bias,
            training,
            momentum,
            bn.eps,
        )
        return y.unflatten(0, lead) if lead is not None else y

    def extra_repr(self) -> str:  # type: ignore[override]
        return f"{super().extra_repr()}, alpha={self.alpha:.4g}, v_th={self.v_th:g}"  # type: ignore[misc]


class TDBatchNorm1d(_TDBatchNorm, nn.BatchNorm1d):
    """tdBN over ``[N, C]`` (N = T*B) or ``[T, B, C]``; statistics per channel over (T, B)."""

    sample_dims = 1

    def __init__(
        self, num_features: int, *, alpha: float = 1.0, v_th: float = 0.4, eps: float = 1e-5, momentum: float = 0.1
    ) -> None:
        nn.BatchNorm1d.__init__(self, int(num_features), eps=eps, momentum=momentum)
        self._init_td(alpha, v_th)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._td_forward(x)


class TDBatchNorm2d(_TDBatchNorm, nn.BatchNorm2d):
    """tdBN over ``[N, C, H, W]`` (N = T*B) or ``[T, B, C, H, W]``; statistics per channel
    over (T, B, H, W)."""

    sample_dims = 3

    def __init__(
        self, num_features: int, *, alpha: float = 1.0, v_th: float = 0.4, eps: float = 1e-5, momentum: float = 0.1
    ) -> None:
        nn.BatchNorm2d.__init__(self, int(num_features), eps=eps, momentum=momentum)
        self._init_td(alpha, v_th)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._td_forward(x)


def bn_affine(bn: nn.modules.batchnorm._BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode ``bn(x) = g * x + c`` per channel (tdBN scale included): (g, c) in float64."""
    return _bn_affine(bn, bn.scale if isinstance(bn, _TDBatchNorm) else 1.0)


def fold_into(layer: Weighted, bn: nn.modules.batchnorm._BatchNorm) -> Weighted:
    """A copy of ``layer`` (Linear/Conv2d, now with a bias) equal to ``bn(layer(x))`` in eval mode.

    Computed in float64 and stored in the layer's dtype (:func:`snnsim.core.bnfold.fold_bn`).
    Raises TypeError for other layer kinds and ValueError when the channel counts differ.
    """
    return fold_bn(layer, bn, bn.scale if isinstance(bn, _TDBatchNorm) else 1.0)


def _fold_plan(ops: list[dict[str, Any]], where: str) -> list[tuple[int, int]]:
    """Pairs (weighted op index, BN op index) to fold in one connection's op list."""
    pairs = []
    for i, op in enumerate(ops):
        if op.get("op") in FOLDABLE_OPS:
            j = i - 1
            if j < 0 or ops[j].get("op") not in ("linear", "conv2d"):
                before = ops[j]["op"] if j >= 0 else "nothing"
                raise ValueError(
                    f"{where}: op #{i} ({op['op']}) follows {before}, not a linear/conv2d op, so it cannot be folded"
                )
            pairs.append((j, i))
    return pairs


def fold_network(network: Network) -> Network:
    """A new Network equal to ``network`` in eval mode with every ``tdbn``/``batchnorm`` op
    folded into the ``linear``/``conv2d`` op before it (which gains a bias).

    Layers (and their neuron parameters) and all other ops and weights are copied. The
    result is in eval mode and contains no BatchNorm, so both engines run it the same
    way. Raises ValueError if a BN op does not directly follow a weighted op.
    """
    spec = network_spec(network)
    plans: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for c in spec["connections"]:
        key = (c["source"], c["target"])
        plan = _fold_plan(c["ops"], f"connection {key[0]}->{key[1]}")
        plans[key] = plan
        drop = {i for _, i in plan}
        for j, _ in plan:
            c["ops"][j] = {**c["ops"][j], "bias": True}
        c["ops"] = [op for i, op in enumerate(c["ops"]) if i not in drop]
    folded = build_network(spec)
    for key, conn in network.connections.items():
        if not isinstance(conn, ModuleConnection):  # pragma: no cover - network_spec already refused it
            raise TypeError(f"connection {key} is not a ModuleConnection")
        plan = dict(plans[key])
        drop = set(plan.values())
        new_modules = iter(folded.connections[key].layers)
        for i, mod in enumerate(conn.layers):
            if i in drop:
                continue
            target = next(new_modules)
            src = fold_into(mod, conn.layers[plan[i]]) if i in plan else mod
            target.load_state_dict(src.state_dict())
    device = next((p.device for p in network.parameters()), torch.device("cpu"))
    folded.to(device)
    folded.train(False)
    return folded


def has_batchnorm(network: Network) -> bool:
    """Whether any connection of ``network`` still holds a BatchNorm/tdBN module."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in network.modules())


__all__ = [
    "FOLDABLE_OPS",
    "RESIDUAL_ALPHA",
    "TDBatchNorm1d",
    "TDBatchNorm2d",
    "bn_affine",
    "fold_into",
    "fold_network",
    "has_batchnorm",
]
