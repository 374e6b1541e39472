"""Group a chain of steps into weighted blocks: one block per future spiking layer.

The one grouping of a traced ReLU ANN, used by conversion and by the TTFS mapping
(:mod:`snnsim.methods.ttfs.mapping`). A :class:`Block` is ``pre`` ops (pooling, flatten) ->
a Linear/Conv2d (BatchNorm folded in) -> an optional ReLU. Rules (each violation raises a
:class:`UserError` naming the layer):

- Dropout and Identity are dropped (inference mode).
- BatchNorm right after a Linear/Conv2d (Dropout/Identity in between are fine, and so is
  a second BatchNorm) is folded into it exactly (:mod:`.fold`). BatchNorm after a ReLU is
  (or before the first weighted layer) is refused, unless ``bn_after_relu=True``: then it is
  an affine map ``g x + c`` per channel of the signal entering the *next* weighted layer
  (:attr:`Block.affine`), for the caller to fuse; max-pooling after a BatchNorm with a
  negative scale is refused (they do not commute).
- Every weighted layer but the last must be followed by a ReLU. MaxPool2d between a
  weighted layer and its ReLU is moved after the ReLU (they commute); AvgPool2d there
  is not supported. A ReLU on an already rectified signal is a no-op.
- Pooling and flatten after a ReLU go in front of the next weighted layer (flatten is
  implicit for a Linear); pooling or BatchNorm after the last weighted layer is not supported.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from snnsim.core.bnfold import bn_affine
from snnsim.errors import UserError
from snnsim.methods.conversion.fold import fold_batchnorm
from snnsim.methods.conversion.graph import Step

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
        batchnorm: names of the BatchNorms folded into ``module``.
        in_shape: shape of the signal entering ``module`` (after ``pre``), without the batch.
        affine: ``(g, c)`` per channel of a BatchNorm after the previous ReLU (``bn_after_relu``).
    """

    name: str
    module: Weighted
    pre: list[nn.Module] = field(default_factory=list)
    relu: bool = False
    batchnorm: list[str] = field(default_factory=list)
    in_shape: list[int] = field(default_factory=list)
    affine: Optional[tuple[torch.Tensor, torch.Tensor]] = None

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
            out.append(
                {
                    "op": "conv2d",
                    "out_channels": int(m.out_channels),
                    "kernel_size": _int(m.kernel_size),
                    "stride": _int(m.stride),
                    "padding": _int(m.padding),
                    "bias": bias,
                }
            )
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The ANN computation of this block: ``[B, ...] -> [B, ...]`` (ReLU applied if any)."""
        for m in self.pre:
            x = m(x)
        if isinstance(self.module, nn.Linear):
            x = x.flatten(1)
        x = self.module(x)
        return F.relu(x) if self.relu else x


class _Grouper:
    """The state of :func:`group_blocks` while it walks the chain (one method per step kind)."""

    def __init__(self, input_shape: Optional[list[int]], bn_after_relu: bool, dtype: Optional[torch.dtype]) -> None:
        self.blocks: list[Block] = []
        self.pending: list[Step] = []  # pooling/flatten waiting for the next weighted layer
        self.affine: Optional[tuple[torch.Tensor, torch.Tensor]] = None
        self.flat = False  # the signal is flat (after a flatten or a Linear): no conv/pooling now
        self.probe = None if input_shape is None else torch.zeros(1, *input_shape, dtype=torch.float64)
        self.bn_after_relu, self.dtype = bn_after_relu, dtype

    def _copy(self, m: nn.Module) -> nn.Module:
        return m if self.dtype is None else copy.deepcopy(m).to(self.dtype).eval()

    @property
    def cur(self) -> Optional[Block]:
        return self.blocks[-1] if self.blocks else None

    def weighted(self, step: Step) -> None:
        cur = self.cur
        if cur is not None and not cur.relu:
            raise UserError(
                f"layer {cur.name!r} is followed by {step.name!r} without a ReLU in between; every "
                "weighted layer except the last must be followed by a ReLU"
            )
        if step.kind == "conv2d" and self.flat:
            raise UserError(f"layer {step.name!r}: a Conv2d cannot follow a flatten")
        assert isinstance(step.module, (nn.Linear, nn.Conv2d))
        pre = [p.module for p in self.pending if p.kind != "flatten"]
        block = Block(step.name, self._copy(step.module), pre, affine=self.affine)  # type: ignore[arg-type]
        if self.probe is not None:
            for m in pre:
                self.probe = m(self.probe)
            block.in_shape = list(self.probe.shape[1:])
            m64 = copy.deepcopy(step.module).double()
            self.probe = m64(self.probe.flatten(1) if step.kind == "linear" else self.probe).detach()
        self.blocks.append(block)
        self.pending, self.affine, self.flat = [], None, step.kind == "linear"

    def batchnorm(self, step: Step) -> None:
        cur = self.cur
        if cur is not None and not cur.relu and not self.pending:
            try:
                cur.module = fold_batchnorm(cur.module, self._copy(step.module))  # type: ignore[arg-type]
            except ValueError as err:
                raise UserError(f"cannot fold {step.name!r} into {cur.name!r}: {err}") from None
            cur.batchnorm.append(step.name)
            return
        if not self.bn_after_relu or (cur is not None and not cur.relu):  # TTFS: also before the first layer
            raise UserError(
                f"BatchNorm {step.name!r} must directly follow a Linear/Conv2d (only Dropout/Identity "
                "in between) to be folded into it"
            )
        try:
            g, c = bn_affine(step.module)
        except ValueError as err:
            raise UserError(f"BatchNorm {step.name!r}: {err}") from None
        self.affine = (g, c) if self.affine is None else (self.affine[0] * g, self.affine[1] * g + c)

    def relu(self, step: Step) -> None:
        cur = self.cur
        if cur is None:
            raise UserError(f"ReLU {step.name!r} comes before the first weighted layer; remove it")
        if cur.relu:
            return  # the signal is already non-negative: ReLU is a no-op
        if any(p.kind == "avgpool2d" for p in self.pending):
            raise UserError(
                f"AvgPool2d between {cur.name!r} and its ReLU {step.name!r} is not supported "
                "(put the pooling after the ReLU)"
            )
        cur.relu = True  # max-pool/flatten commute with ReLU: they stay pending
        if self.probe is not None:
            self.probe = F.relu(self.probe)

    def pool_or_flatten(self, step: Step) -> None:
        if step.kind == "maxpool2d" and self.affine is not None and bool((self.affine[0] < 0).any()):
            raise UserError(
                f"max-pooling {step.name!r} after a BatchNorm with negative scale cannot be fused "
                "into the next layer (they do not commute)"
            )
        if step.kind != "flatten" and self.flat:
            raise UserError(f"pooling {step.name!r} after a flatten is not supported")
        self.flat = self.flat or step.kind == "flatten"
        self.pending.append(step)


def group_blocks(
    steps: list[Step],
    *,
    input_shape: Optional[list[int]] = None,
    bn_after_relu: bool = False,
    dtype: Optional[torch.dtype] = None,
) -> list[Block]:
    """Blocks of ``steps`` (see the module docstring for the rules).

    Args:
        steps: the traced chain (:func:`.graph.trace_chain`).
        input_shape: the ANN's input shape without the batch; fills :attr:`Block.in_shape`.
        bn_after_relu: keep BatchNorm after a ReLU as :attr:`Block.affine` instead of refusing it.
        dtype: copy the weighted layers to this dtype before folding (None: fold into copies
            in the layer's own dtype; the ANN is never modified).
    """
    g = _Grouper(input_shape, bn_after_relu, dtype)
    actions = {
        "linear": g.weighted,
        "conv2d": g.weighted,
        "batchnorm": g.batchnorm,
        "relu": g.relu,
        "avgpool2d": g.pool_or_flatten,
        "maxpool2d": g.pool_or_flatten,
        "flatten": g.pool_or_flatten,
    }
    for step in steps:
        if step.kind in ("dropout", "identity"):
            continue
        if step.kind not in actions:  # pragma: no cover - trace_chain only yields KINDS
            raise ValueError(f"unexpected step kind {step.kind!r} ({step.name})")
        actions[step.kind](step)
    if not g.blocks:
        raise UserError("the model has no Linear or Conv2d layer to convert")
    trailing = [p.name for p in g.pending if p.kind != "flatten"]
    if trailing or g.affine is not None:
        raise UserError(f"pooling or BatchNorm after the last weighted layer is not supported: {trailing}")
    return g.blocks


def forward_blocks(blocks: list[Block], x: torch.Tensor) -> list[torch.Tensor]:
    """ANN activations of every block for input ``x [B, *input_shape]`` (outputs of each
    block, ReLU applied where the block has one)."""
    acts = []
    for b in blocks:
        x = b.forward(x)
        acts.append(x)
    return acts
