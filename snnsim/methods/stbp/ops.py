"""Ops ``tdbn`` (threshold-dependent BatchNorm) and ``identity`` (residual shortcuts).

- ``tdbn``: [alpha=1, v_th=0.4, eps=1e-5, momentum=0.1]; :class:`snnsim.methods.stbp.tdbn.TDBatchNorm1d`
  after a linear op (input ``(C,)``), :class:`snnsim.methods.stbp.tdbn.TDBatchNorm2d` after a conv
  (input ``(C, H, W)``). In the fast engine it sees ``[T * B, ...]``, so its statistics
  are per channel over (T, B, H, W).
- ``identity``: no parameters; passes the source's spikes on as a float current (the
  identity shortcut of a residual block: ``{"source": block_in, "target": block_out,
  "ops": [{"op": "identity"}]}``).
"""

from __future__ import annotations

from typing import Sequence

from torch import nn

from snnsim.core import schema
from snnsim.core.ops import register_op
from snnsim.methods.stbp.tdbn import TDBatchNorm1d, TDBatchNorm2d


def tdbn_op(
    shape: Sequence[int], alpha: float = 1.0, v_th: float = 0.4, eps: float = 1e-5, momentum: float = 0.1
) -> tuple[nn.Module, list[int]]:
    """Builder of the ``tdbn`` op for an input of shape ``(C,)`` or ``(C, H, W)``."""
    out = [int(d) for d in shape]
    if len(out) == 3:
        return TDBatchNorm2d(out[0], alpha=alpha, v_th=v_th, eps=eps, momentum=momentum), out
    if len(out) == 1:
        return TDBatchNorm1d(out[0], alpha=alpha, v_th=v_th, eps=eps, momentum=momentum), out
    raise ValueError(f"tdbn needs a (C,) or (C, H, W) input, got shape {tuple(out)}")


def identity_op(shape: Sequence[int]) -> tuple[nn.Module, list[int]]:
    """Builder of the ``identity`` op (output shape = input shape)."""
    return nn.Identity(), [int(d) for d in shape]


register_op(
    "tdbn",
    tdbn_op,
    {
        "alpha": schema.number(),
        "v_th": schema.number(exclusive_minimum=0),
        "eps": schema.number(exclusive_minimum=0),
        "momentum": schema.optional(schema.number(minimum=0, maximum=1)),
    },
)
register_op("identity", identity_op, {})
