"""Group a chain of steps into weighted blocks: one block per future spiking layer.

A :class:`Block` is ``pre`` ops (pooling, flatten) -> a Linear/Conv2d (BatchNorm
folded in) -> an optional ReLU. Rules (each violation raises a ValueError naming the
layer):

- Dropout and Identity are dropped (inference mode).
- BatchNorm must follow a Linear/Conv2d directly (Dropout/Identity in between are
  fine); it is folded into it exactly (:mod:`.fold`).
- Every weighted layer but the last must be followed by a ReLU. MaxPool2d between a
  weighted layer and its ReLU is moved after the ReLU (they commute); AvgPool2d there
  is not supported. A ReLU on an already rectified signal is a no-op.
- Pooling and flatten after a ReLU go in front of the next weighted layer (flatten is
  implicit for a Linear); pooling after the last weighted layer is not supported.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from snnsim.methods.conversion.fold import fold_batchnorm
from snnsim.methods.conversion.graph import Step
from snnsim.errors import UserError

Weighted = Union[nn.Linear, nn.Conv2d]


def _int(v: Any) -> int:
    return int(v[0]) if isinstance(v, (tuple, list)) else int(v)


@dataclass
class Block:
    """One weighted layer of the ANN with the ops in front of it.

    Attributes:
        name: the weighted layer's name in the model.
        module: the Linear/Conv2d (a folded copy when a BatchNorm followed it).
        pre: pooling modules applied before ``module`` (flatten is implicit for Linear).
        relu: whether a ReLU follows.
        batchnorm: name of the folded BatchNorm, if any.
    """

    name: str
    module: Weighted
    pre: list[nn.Module] = field(default_factory=list)
    relu: bool = False
    batchnorm: Optional[str] = None

    @property
    def kind(self) -> str:
        return "linear" if isinstance(self.module, nn.Linear) else "conv2d"

    def ops(self) -> list[dict[str, Any]]:
        """Op specs (see :mod:`snnsim.core.ops`) of this block's connection."""
        out: list[dict[str, Any]] = []
        for m in self.pre:
            kernel = _int(m.kernel_size)
            stride = _int(m.stride) if m.stride is not None else kernel
            name = "avgpool2d" if isinstance(m, nn.AvgPool2d) else "maxpool2d"
            out.append({"op": name, "kernel_size": kernel, "stride": stride})
        m = self.module
        bias = m.bias is not None
        if isinstance(m, nn.Linear):
            out.append({"op": "linear", "out_features": int(m.out_features), "bias": bias})
        else:
            out.append({"op": "conv2d", "out_channels": int(m.out_channels), "kernel_size": _int(m.kernel_size),
                        "stride": _int(m.stride), "padding": _int(m.padding), "bias": bias})
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The ANN computation of this block: ``[B, ...] -> [B, ...]`` (ReLU applied if any)."""
        for m in self.pre:
            x = m(x)
        if isinstance(self.module, nn.Linear):
            x = x.flatten(1)
        x = self.module(x)
        return F.relu(x) if self.relu else x


def group_blocks(steps: list[Step]) -> list[Block]:
    """Blocks of ``steps`` (see the module docstring for the rules)."""
    blocks: list[Block] = []
    pending: list[Step] = []  # pooling/flatten steps waiting for the next weighted layer
    cur: Optional[Block] = None
    for step in steps:
        kind = step.kind
        if kind in ("dropout", "identity"):
            continue
        if kind in ("linear", "conv2d"):
            if cur is not None and not cur.relu:
                raise UserError(
                    f"layer {cur.name!r} is followed by {step.name!r} without a ReLU in between; every "
                    "weighted layer except the last must be followed by a ReLU"
                )
            if kind == "conv2d" and any(p.kind == "flatten" for p in pending):
                raise UserError(f"layer {step.name!r}: a Conv2d cannot follow a flatten")
            assert isinstance(step.module, (nn.Linear, nn.Conv2d))
            cur = Block(step.name, step.module, [p.module for p in pending if p.kind != "flatten"])
            blocks.append(cur)
            pending = []
        elif kind == "batchnorm":
            if cur is None or cur.relu or pending or cur.batchnorm is not None:
                raise UserError(
                    f"BatchNorm {step.name!r} must directly follow a Linear/Conv2d (only Dropout/Identity "
                    "in between) to be folded into it"
                )
            try:
                cur.module = fold_batchnorm(cur.module, step.module)  # type: ignore[arg-type]
            except ValueError as err:
                raise UserError(f"cannot fold {step.name!r} into {cur.name!r}: {err}") from None
            cur.batchnorm = step.name
        elif kind == "relu":
            if cur is None:
                raise UserError(f"ReLU {step.name!r} comes before the first weighted layer; remove it")
            if cur.relu:
                continue  # the signal is already non-negative: ReLU is a no-op
            if any(p.kind == "avgpool2d" for p in pending):
                raise UserError(
                    f"AvgPool2d between {cur.name!r} and its ReLU {step.name!r} is not supported "
                    "(put the pooling after the ReLU)"
                )
            cur.relu = True  # max-pool/flatten commute with ReLU: they stay pending
        elif kind in ("avgpool2d", "maxpool2d", "flatten"):
            if kind != "flatten" and any(p.kind == "flatten" for p in pending):
                raise UserError(f"pooling {step.name!r} after a flatten is not supported")
            pending.append(step)
        else:  # pragma: no cover - trace_chain only yields KINDS
            raise ValueError(f"unexpected step kind {kind!r} ({step.name})")
    if not blocks:
        raise UserError("the model has no Linear or Conv2d layer to convert")
    trailing = [p.name for p in pending if p.kind != "flatten"]
    if trailing:
        raise UserError(f"pooling after the last weighted layer is not supported: {trailing}")
    return blocks


def forward_blocks(blocks: list[Block], x: torch.Tensor) -> list[torch.Tensor]:
    """ANN activations of every block for input ``x [B, *input_shape]`` (outputs of each
    block, ReLU applied where the block has one)."""
    acts = []
    for b in blocks:
        x = b.forward(x)
        acts.append(x)
    return acts
